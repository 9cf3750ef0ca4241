"""Shapes of the analytics endpoints (docs/api.md): the period parameters and the responses."""

from rest_framework import serializers

from .models import ALERT_SUMMARY_FIELDS, Alert, CreditProfile
from .periods import INVALID_DAY, check_period, parse_day


class StrictDateField(serializers.Field):
    """A calendar date written exactly as YYYY-MM-DD."""

    default_error_messages = {"invalid": INVALID_DAY}

    def to_internal_value(self, data):
        try:
            return parse_day(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return value.isoformat()


class PeriodSerializer(serializers.Serializer):
    """An optional inclusive period of calendar days in TIME_ZONE."""

    date_from = StrictDateField(required=False, help_text="First day of the period (YYYY-MM-DD), inclusive.")
    date_to = StrictDateField(required=False, help_text="Last day of the period (YYYY-MM-DD), inclusive.")

    def validate(self, attrs):
        check_period(attrs.get("date_from"), attrs.get("date_to"))
        return attrs


class CountTotalSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    total = serializers.CharField(help_text="Money, 2 decimal places.")


class BusiestDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    transaction_count = serializers.IntegerField()


class PeriodFiguresSerializer(serializers.Serializer):
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    transaction_count = serializers.IntegerField()
    credit = CountTotalSerializer()
    debit = CountTotalSerializer()
    net = serializers.CharField(help_text="Credit total minus debit total, 2 decimal places.")
    busiest_day = BusiestDaySerializer(allow_null=True, help_text="Most transactions; the earliest on a tie.")


class UserAnalyticsSerializer(PeriodFiguresSerializer):
    user_id = serializers.IntegerField()
    average_transaction_value = serializers.CharField(
        allow_null=True, help_text="Mean amount, rounded half-up to 2 places; null without transactions."
    )


class DailyRowSerializer(serializers.Serializer):
    date = serializers.DateField()
    transaction_count = serializers.IntegerField()
    credit_total = serializers.CharField()
    debit_total = serializers.CharField()


class OverviewSerializer(PeriodFiguresSerializer):
    user_count = serializers.IntegerField(help_text="Distinct users with a transaction in the period.")


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [*ALERT_SUMMARY_FIELDS, "acknowledged_at"]
        read_only_fields = fields


class CreditComponentsSerializer(serializers.Serializer):
    """Each component of the score in [0, 1], as a decimal string with 4 places."""

    net_flow = serializers.CharField()
    debit_credit_ratio = serializers.CharField()
    regularity = serializers.CharField()
    history_length = serializers.CharField()
    activity = serializers.CharField()


class CreditInputsSerializer(serializers.Serializer):
    """The user's history as the formula saw it."""

    transaction_count = serializers.IntegerField()
    credit_total = serializers.CharField()
    debit_total = serializers.CharField()
    net_flow = serializers.CharField(help_text="credit_total - debit_total")
    debit_credit_ratio = serializers.CharField(allow_null=True, help_text="debit_total / credit_total; null: no credit")
    history_days = serializers.IntegerField(help_text="Whole days from the first to the last transaction")
    active_months = serializers.IntegerField(help_text="Calendar months with at least one transaction")
    span_months = serializers.IntegerField(help_text="Calendar months from the first to the last transaction")
    components = CreditComponentsSerializer()


class CreditProfileSerializer(serializers.ModelSerializer):
    inputs = CreditInputsSerializer(read_only=True)

    class Meta:
        model = CreditProfile
        fields = ["user_id", "score", "inputs", "computed_at"]
        read_only_fields = fields
