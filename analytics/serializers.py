"""Shapes of the analytics endpoints (SPEC §6): the period parameters and the responses (for the schema)."""

import datetime as dt
import re

from rest_framework import serializers

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StrictDateField(serializers.Field):
    """A calendar date written exactly as YYYY-MM-DD."""

    default_error_messages = {"invalid": "Use a date written as YYYY-MM-DD."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not ISO_DATE.match(data):
            self.fail("invalid")
        try:
            return dt.date.fromisoformat(data)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value):
        return value.isoformat()


class PeriodSerializer(serializers.Serializer):
    """An optional inclusive period of calendar days in TIME_ZONE."""

    date_from = StrictDateField(required=False, help_text="First day of the period (YYYY-MM-DD), inclusive.")
    date_to = StrictDateField(required=False, help_text="Last day of the period (YYYY-MM-DD), inclusive.")

    def validate(self, attrs):
        date_from, date_to = attrs.get("date_from"), attrs.get("date_to")
        if date_from and date_to and date_from > date_to:
            raise serializers.ValidationError({"date_from": ["Must not be after date_to."]})
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
