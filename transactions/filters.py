"""List filters (SPEC §5): all optional, combinable; a malformed value is a 400."""

import datetime as dt
from decimal import Decimal

import django_filters
from django import forms

from fido.dates import start_of_day

from .models import Transaction, TransactionType
from .rules import MAX_AMOUNT, MAX_USER_ID

# No transaction is older (the serializer refuses earlier dates), so an earlier lower bound filters
# nothing; skipping it keeps year-1 dates in time zones east of UTC from overflowing in conversion.
EARLIEST_DAY = dt.date(1900, 1, 1)
ISO_DATE = ["%Y-%m-%d"]


class UserIdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


def amount_filter(lookup_expr: str, label: str) -> django_filters.NumberFilter:
    """An inclusive bound on the amount: a decimal with at most 2 places, from 0 to MAX_AMOUNT."""
    return django_filters.NumberFilter(
        field_name="transaction_amount",
        lookup_expr=lookup_expr,
        min_value=Decimal("0"),
        max_value=MAX_AMOUNT,
        max_digits=14,
        decimal_places=2,
        label=label,
    )


class TransactionFilter(django_filters.FilterSet):
    """Filters of the transaction list; dates are calendar days in TIME_ZONE, bounds inclusive."""

    user_id = UserIdFilter(min_value=1, max_value=MAX_USER_ID, label="Only this user's transactions")
    transaction_type = django_filters.ChoiceFilter(choices=TransactionType.choices, label="credit or debit")
    date_from = django_filters.DateFilter(
        method="filter_date_from", input_formats=ISO_DATE, label="On or after this date (YYYY-MM-DD)"
    )
    date_to = django_filters.DateFilter(
        method="filter_date_to", input_formats=ISO_DATE, label="On or before this date (YYYY-MM-DD)"
    )
    amount_min = amount_filter("gte", "Amount at least")
    amount_max = amount_filter("lte", "Amount at most")

    class Meta:
        model = Transaction
        fields = ["user_id", "transaction_type", "date_from", "date_to", "amount_min", "amount_max"]

    def filter_date_from(self, queryset, name, value):
        if value < EARLIEST_DAY:
            return queryset
        return queryset.filter(transaction_date__gte=start_of_day(value))

    def filter_date_to(self, queryset, name, value):
        if value == dt.date.max:
            return queryset
        return queryset.filter(transaction_date__lt=start_of_day(value + dt.timedelta(days=1)))
