"""The analytics math (docs/api.md, "Analytics"), read from the maintained per-day figures.

A user's answer reads that user's active days (one index range), never their transactions; the
overview reads one row per day of the service. Money stays exact: whole cents in the database,
Decimal here; averages round half-up to 2 places.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet

from fido.dates import as_date, iso

from .models import ServiceDayFigures, UserDayFigures

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DAY_FIELDS = ("day", "credit_count", "credit_cents", "debit_count", "debit_cents")


def money(value: Decimal | None) -> str:
    """Money as a string with 2 decimal places."""
    return str((value or ZERO).quantize(CENT, rounding=ROUND_HALF_UP))


def money_from_cents(total_cents: int) -> str:
    return money(Decimal(total_cents).scaleb(-2))


def _in_period(queryset: QuerySet, date_from: dt.date | None, date_to: dt.date | None) -> QuerySet:
    if date_from is not None:
        queryset = queryset.filter(day__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(day__lte=date_to)
    return queryset


def summarize(days: list[tuple]) -> dict:
    """Period figures from (day, credit_count, credit_cents, debit_count, debit_cents) rows, oldest first."""
    credit_count = debit_count = credit_cents = debit_cents = 0
    busiest_day, busiest_count = None, 0
    for day, day_credit_count, day_credit_cents, day_debit_count, day_debit_cents in days:
        credit_count += day_credit_count
        credit_cents += day_credit_cents
        debit_count += day_debit_count
        debit_cents += day_debit_cents
        if day_credit_count + day_debit_count > busiest_count:  # strict: the earliest of tied days stays
            busiest_day, busiest_count = day, day_credit_count + day_debit_count
    count = credit_count + debit_count
    average = (Decimal(credit_cents + debit_cents).scaleb(-2) / count) if count else None
    return {
        "transaction_count": count,
        "average_transaction_value": money(average) if count else None,
        "busiest_day": (
            {"date": iso(as_date(busiest_day)), "transaction_count": busiest_count} if busiest_day else None
        ),
        "credit": {"count": credit_count, "total": money_from_cents(credit_cents)},
        "debit": {"count": debit_count, "total": money_from_cents(debit_cents)},
        "net": money_from_cents(credit_cents - debit_cents),
    }


def _user_days(user_id: int, date_from: dt.date | None, date_to: dt.date | None) -> list[tuple]:
    queryset = _in_period(UserDayFigures.objects.filter(user_id=user_id), date_from, date_to)
    return list(queryset.order_by("day").values_list(*DAY_FIELDS))


def user_has_transactions(*, user_id: int) -> bool:
    """Whether the user has at least one transaction (a user without any is a 404 in analytics)."""
    return UserDayFigures.objects.filter(user_id=user_id).exists()


def user_analytics(*, user_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """The figures of one user over an optional inclusive period."""
    return {
        "user_id": user_id,
        "date_from": iso(date_from),
        "date_to": iso(date_to),
        **summarize(_user_days(user_id, date_from, date_to)),
    }


def user_daily(*, user_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None) -> list[dict]:
    """The daily rows, for charts: date, transaction_count, credit_total, debit_total; oldest first."""
    return [
        {
            "date": iso(as_date(day)),
            "transaction_count": credit_count + debit_count,
            "credit_total": money_from_cents(credit_cents),
            "debit_total": money_from_cents(debit_cents),
        }
        for day, credit_count, credit_cents, debit_count, debit_cents in _user_days(user_id, date_from, date_to)
    ]


def overview(*, date_from: dt.date | None = None, date_to: dt.date | None = None) -> dict:
    """The service-wide figures over an optional inclusive period, with the exact distinct user count."""
    rows = _in_period(ServiceDayFigures.objects.all(), date_from, date_to).order_by("day")
    days, active = [], 0
    for *figures, users in rows.values_list(*DAY_FIELDS, "users"):
        days.append(figures)
        active |= int.from_bytes(users, "little")
    summary = summarize(days)
    return {
        "date_from": iso(date_from),
        "date_to": iso(date_to),
        "transaction_count": summary["transaction_count"],
        "user_count": active.bit_count(),
        "credit": summary["credit"],
        "debit": summary["debit"],
        "net": summary["net"],
        "busiest_day": summary["busiest_day"],
    }
