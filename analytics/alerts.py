"""The alert rules (docs/api.md, "Alerts") and the alerts they raise: at most one per transaction and rule."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum, Value
from django.utils import timezone

from fido.dates import local_day
from transactions.models import Transaction

from .figures import amount_cents, cents
from .models import Alert, UserDayFigures

UNUSUAL_FACTOR = 10


# The parts of the one statement `previous_figures` reads: sums of day figures, sums of raw rows to add or to
# subtract.
FIGURES, ADD, SUBTRACT = 0, 1, 2
PART_COLUMNS = ("part", "count", "cents")


def _midnight(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """When `day` begins in TIME_ZONE: its first instant, and the last instant after which no earlier day comes back.

    They differ only where clocks went back across that midnight (America/St_Johns until 2011: at 00:01 back to
    23:01), so that the end of the day before repeats after `day` has begun.
    """
    midnight = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())
    return midnight.astimezone(dt.UTC), midnight.replace(fold=1).astimezone(dt.UTC)


def _figures_part(user_id: int, days: Q):
    return (
        UserDayFigures.objects.filter(days, user_id=user_id)
        .values("user_id")
        .annotate(
            part=Value(FIGURES),
            count=Sum("credit_count") + Sum("debit_count"),
            cents=Sum("credit_cents") + Sum("debit_cents"),
        )
        .values_list(*PART_COLUMNS)
        .order_by()
    )


def _rows_sum_part(user_id: int, part: int, rows: Q):
    return (
        Transaction.objects.filter(rows, user_id=user_id)
        .values("user_id")
        .annotate(
            part=Value(part),
            count=Count("id"),
            cents=Sum(amount_cents()),
        )
        .values_list(*PART_COLUMNS)
        .order_by()
    )


def previous_figures(txn: dict) -> tuple[int, int]:
    """The count and total (in cents) of the user's transactions before `txn`, exactly, in one statement.

    "Before" follows the history order: an earlier ``transaction_date``, or the same date and a smaller id.
    The per-day figures (calendar days in TIME_ZONE) give every day but the transaction's own, read in time
    proportional to active days; its own day is completed from the history index, from the nearer end of
    the day: the figures up to its day less its rows from it on (none for a transaction recorded as it
    happens), or the figures before its day plus its rows before it. So the raw rows read are at most half
    a day's. One statement, so that a write committing meanwhile is seen by both parts or by neither.
    """
    user_id, moment, txn_id = txn["user_id"], txn["transaction_date"], txn["id"]
    day = local_day(moment)
    start, start_repeats_until = _midnight(day)
    end, end_repeats_until = _midnight(day + dt.timedelta(days=1))
    before = Q(transaction_date__lt=moment) | Q(transaction_date=moment, id__lt=txn_id)
    from_it_on = Q(transaction_date__gt=moment) | Q(transaction_date=moment, id__gte=txn_id)
    # A clean midnight splits time in two: every instant before it is on an earlier day, every one after on a later.
    clean_start, clean_end = start_repeats_until <= start, end_repeats_until <= end
    if clean_end and (not clean_start or end - moment < moment - start):
        parts = [
            _figures_part(user_id, Q(day__lte=day)),
            _rows_sum_part(user_id, SUBTRACT, from_it_on & Q(transaction_date__lt=end)),
        ]
    elif clean_start:
        parts = [
            _figures_part(user_id, Q(day__lt=day)),
            _rows_sum_part(user_id, ADD, before & Q(transaction_date__gte=start)),
        ]
    else:
        # Clocks went back across both midnights of its day (no zone does that): every row before it.
        parts = [_rows_sum_part(user_id, ADD, before)]
    count = total = 0
    for part, part_count, part_cents in parts[0].union(*parts[1:], all=True) if parts[1:] else parts[0]:
        sign = -1 if part == SUBTRACT else 1
        count += sign * int(part_count)
        total += sign * int(part_cents or 0)
    return count, total


def rules_tripped(txn: dict) -> list[str]:
    """The rules a transaction trips, judged against the user's transactions *before* it (``previous_figures``).

    The user's previous average is the exact mean of those amounts (credits and debits alike); with no
    previous transaction there is no average and the 10x rule cannot trip.
    """
    amount = txn["transaction_amount"]
    rules = []
    if amount >= Decimal(settings.LARGE_TRANSACTION_THRESHOLD):
        rules.append(Alert.Rule.LARGE_AMOUNT)
    count, total = previous_figures(txn)
    # amount >= 10 * total / count, in whole cents, without rounding the average.
    if count and cents(amount) * count >= UNUSUAL_FACTOR * total:
        rules.append(Alert.Rule.UNUSUAL_AMOUNT)
    return rules


def evaluate(*, txn_id: int) -> list[Alert]:
    """Raise the alerts a transaction deserves and return those created now (never a duplicate)."""
    txn = (
        Transaction.objects.filter(pk=txn_id).values("id", "user_id", "transaction_date", "transaction_amount").first()
    )
    if txn is None:  # deleted since: nothing to judge
        return []
    webhook = bool(settings.ALERT_WEBHOOK_URL)
    created_alerts = []
    for rule in rules_tripped(txn):
        alert, created = Alert.objects.get_or_create(
            transaction_id=txn["id"],
            rule=rule,
            defaults={
                "user_id": txn["user_id"],
                "transaction_amount": txn["transaction_amount"],
                "delivery_status": Alert.Delivery.PENDING if webhook else Alert.Delivery.NOT_CONFIGURED,
                # If the on-commit publish is lost, the relay pushes it once this has passed.
                "delivery_next_attempt_at": (
                    timezone.now() + dt.timedelta(seconds=settings.OUTBOX_RELAY_LEASE) if webhook else None
                ),
            },
        )
        if created:
            created_alerts.append(alert)
    return created_alerts
