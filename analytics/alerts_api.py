"""Alerts and credit profiles over the API (SPEC §7): serializers, filters and read-only views."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination

from transactions.filters import UserIdFilter
from transactions.rules import MAX_USER_ID
from transactions.views import USER_ID_PARAMETER

from .models import Alert, CreditProfile


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "user_id",
            "transaction_id",
            "transaction_amount",
            "created_at",
            "acknowledged",
            "acknowledged_at",
        ]
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


class AlertFilter(django_filters.FilterSet):
    """Filters of the alert list; a malformed value is a 400."""

    user_id = UserIdFilter(min_value=1, max_value=MAX_USER_ID, label="Only this user's alerts")
    acknowledged = django_filters.TypedChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        coerce=lambda value: value == "true",
        label="true or false",
    )
    rule = django_filters.ChoiceFilter(choices=Alert.Rule.choices, label="Only alerts of this rule")

    class Meta:
        model = Alert
        fields = ["user_id", "acknowledged", "rule"]


class AlertPagination(CursorPagination):
    """Newest first by id: ids only grow, so a cursor on it never skips or repeats an alert."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class AlertListView(generics.ListAPIView):
    """Alerts raised by large or unusual transactions, newest first."""

    queryset = Alert.objects.all()
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    pagination_class = AlertPagination


@extend_schema(parameters=[USER_ID_PARAMETER])
class CreditProfileView(generics.RetrieveAPIView):
    """A user's credit score (300-850) with its inputs; 404 until it has been computed once."""

    queryset = CreditProfile.objects.all()
    serializer_class = CreditProfileSerializer
    lookup_field = "user_id"
