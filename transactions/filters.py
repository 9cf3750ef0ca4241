"""List filters: all optional, combinable; a malformed value or a reversed range is a 400.

Each value is read by the rule of transactions/rules.py that the body and the admin use, with its words.
"""

import datetime as dt

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from fido.dates import start_of_day

from . import rules
from .models import Transaction, TransactionType

# No transaction is older (the serializer refuses earlier dates), so an earlier lower bound filters
# nothing; skipping it keeps year-1 dates in time zones east of UTC from overflowing in conversion.
EARLIEST_DAY = dt.date(1900, 1, 1)


def _rule_filter(parse, codes=(), invalid=None, schema=OpenApiTypes.STR):
    """A django-filter class whose value is read by `parse` (one rule, one definition)."""

    @extend_schema_field(schema)
    class RuleFilter(django_filters.Filter):
        field_class = rules.RuleFormField

        def __init__(self, *args, **kwargs):
            super().__init__(*args, parse=parse, codes=codes, invalid=invalid, **kwargs)

    return RuleFilter


UserIdFilter = _rule_filter(rules.parse_user_id, ("range",), "integer", OpenApiTypes.INT64)
AmountFilter = _rule_filter(
    rules.parse_amount_bound,
    ("negative", "max_value", "max_decimal_places"),
    "decimal",
    {"type": "string", "format": "decimal", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$"},
)
DayFilter = _rule_filter(rules.parse_day, (), "day", OpenApiTypes.DATE)


class RangesForm(forms.Form):
    """A filter form that refuses a reversed range (date_from after date_to, amount_min above amount_max)."""

    def clean(self):
        cleaned = super().clean()
        for lower, message in rules.reversed_ranges(cleaned).items():
            self.add_error(lower, forms.ValidationError(message, code="invalid"))
        return cleaned


class TransactionFilter(django_filters.FilterSet):
    """Filters of the transaction list; dates are calendar days in TIME_ZONE, bounds inclusive."""

    user_id = UserIdFilter(label="User id", help_text="Only this user's transactions.")
    transaction_type = django_filters.ChoiceFilter(choices=TransactionType.choices, label="credit or debit")
    date_from = DayFilter(
        method="filter_date_from", label="From", help_text="On or after this day (YYYY-MM-DD, in TIME_ZONE)."
    )
    date_to = DayFilter(
        method="filter_date_to", label="To", help_text="On or before this day (YYYY-MM-DD, in TIME_ZONE)."
    )
    amount_min = AmountFilter(
        field_name="transaction_amount", lookup_expr="gte", label="Amount at least", help_text="This amount or more."
    )
    amount_max = AmountFilter(
        field_name="transaction_amount", lookup_expr="lte", label="Amount at most", help_text="This amount or less."
    )

    class Meta:
        model = Transaction
        fields = ["user_id", "transaction_type", "date_from", "date_to", "amount_min", "amount_max"]
        form = RangesForm

    def filter_date_from(self, queryset, name, value):
        if value < EARLIEST_DAY:
            return queryset
        return queryset.filter(transaction_date__gte=start_of_day(value))

    def filter_date_to(self, queryset, name, value):
        if value == dt.date.max:
            return queryset
        return queryset.filter(transaction_date__lt=start_of_day(value + dt.timedelta(days=1)))
