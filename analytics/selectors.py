"""The analytics math (SPEC §6). Money stays Decimal; averages round half-up to 2 places."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from transactions.filters import start_of_day
from transactions.models import Transaction, TransactionType

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal | None) -> str:
    """Money as a string with 2 decimal places."""
    return str((value or ZERO).quantize(CENT, rounding=ROUND_HALF_UP))


def _in_period(queryset: QuerySet, date_from: dt.date | None, date_to: dt.date | None) -> QuerySet:
    if date_from is not None:
        queryset = queryset.filter(transaction_date__gte=start_of_day(date_from))
    if date_to is not None and date_to != dt.date.max:
        queryset = queryset.filter(transaction_date__lt=start_of_day(date_to + dt.timedelta(days=1)))
    return queryset


def daily_rows(*, user_id: int | None, date_from: dt.date | None, date_to: dt.date | None) -> list[dict]:
    """One row per active calendar day (in TIME_ZONE), oldest first: count and credit/debit totals."""
    queryset = Transaction.objects.all() if user_id is None else Transaction.objects.filter(user_id=user_id)
    rows = (
        _in_period(queryset, date_from, date_to)
        .annotate(day=TruncDate("transaction_date", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(
            transaction_count=Count("id"),
            credit_count=Count("id", filter=Q(transaction_type=TransactionType.CREDIT)),
            credit_total=Sum("transaction_amount", filter=Q(transaction_type=TransactionType.CREDIT)),
            debit_count=Count("id", filter=Q(transaction_type=TransactionType.DEBIT)),
            debit_total=Sum("transaction_amount", filter=Q(transaction_type=TransactionType.DEBIT)),
        )
        .order_by("day")
    )
    return [
        {
            "date": row["day"],
            "transaction_count": row["transaction_count"],
            "credit_count": row["credit_count"],
            "credit_total": row["credit_total"] or ZERO,
            "debit_count": row["debit_count"],
            "debit_total": row["debit_total"] or ZERO,
        }
        for row in rows
    ]


def summarize(days: list[dict]) -> dict:
    """Period figures from per-day rows: counts, totals, net, average, busiest day (earliest on a tie)."""
    credit_count = sum(day["credit_count"] for day in days)
    debit_count = sum(day["debit_count"] for day in days)
    credit_total = sum((day["credit_total"] for day in days), ZERO)
    debit_total = sum((day["debit_total"] for day in days), ZERO)
    count = credit_count + debit_count
    busiest = None
    for day in days:  # oldest first, so a strict ">" keeps the earliest of tied days
        if busiest is None or day["transaction_count"] > busiest["transaction_count"]:
            busiest = day
    return {
        "transaction_count": count,
        "average_transaction_value": money((credit_total + debit_total) / count) if count else None,
        "busiest_day": (
            {"date": busiest["date"].isoformat(), "transaction_count": busiest["transaction_count"]}
            if busiest
            else None
        ),
        "credit": {"count": credit_count, "total": money(credit_total)},
        "debit": {"count": debit_count, "total": money(debit_total)},
        "net": money(credit_total - debit_total),
    }


def user_has_transactions(*, user_id: int) -> bool:
    return Transaction.objects.filter(user_id=user_id).exists()


def user_analytics(*, user_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """SPEC §6 figures of one user over an optional inclusive period."""
    days = daily_rows(user_id=user_id, date_from=date_from, date_to=date_to)
    return {
        "user_id": user_id,
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        **summarize(days),
    }


def user_daily(*, user_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None) -> list[dict]:
    """SPEC §6 chart rows: date, transaction_count, credit_total, debit_total; oldest first."""
    return [
        {
            "date": day["date"].isoformat(),
            "transaction_count": day["transaction_count"],
            "credit_total": money(day["credit_total"]),
            "debit_total": money(day["debit_total"]),
        }
        for day in daily_rows(user_id=user_id, date_from=date_from, date_to=date_to)
    ]


def overview(*, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """SPEC §6 service-wide figures over an optional inclusive period, with distinct active users."""
    days = daily_rows(user_id=None, date_from=date_from, date_to=date_to)
    user_count = _in_period(Transaction.objects.all(), date_from, date_to).values("user_id").distinct().count()
    figures = summarize(days)
    return {
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        "transaction_count": figures["transaction_count"],
        "user_count": user_count,
        "credit": figures["credit"],
        "debit": figures["debit"],
        "net": figures["net"],
        "busiest_day": figures["busiest_day"],
    }
