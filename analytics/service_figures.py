"""Upkeep of the service-wide per-day figures behind the overview (docs/api.md, "Analytics"): ``ServiceDayFigures``.

Writes never touch a service-wide row (every write would queue on it): they append the days they
changed to OverviewChange. ``apply_changes`` recomputes those days from UserDayFigures, one day's
active users at a time, including a bitmap of the users active that day. It runs where writes are
processed: after each outbox event, after a bulk load or a reconciliation, and in the periodic refresh,
so the overview (a read only) lags writes by little. Refreshes are serialised (an advisory lock on
PostgreSQL; SQLite serialises writers), and only the change rows a refresh has read are deleted, so a
change committed meanwhile is kept for the next one.
"""

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction

from fido.dates import as_date

from .figures import all_days
from .models import OverviewChange, ServiceDayFigures, UserDayFigures, UserOrdinal

DAYS_PER_BATCH = 100
CHANGES_PER_BATCH = 10_000
LOCK_ID = 0x46_49_44_4F  # "FIDO": the advisory lock of overview refreshes


def _lock(*, wait: bool) -> bool:
    """Take the lock of refreshes until the transaction ends; without `wait`, False if another run holds it."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_ID])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_ID])
        return cursor.fetchone()[0]


def _refresh_days(days: list[dt.date]) -> None:
    figures = connection.ops.quote_name(UserDayFigures._meta.db_table)
    ordinals = connection.ops.quote_name(UserOrdinal._meta.db_table)
    placeholders = ", ".join(["%s"] * len(days))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ordinals} (user_id) SELECT DISTINCT f.user_id FROM {figures} f "  # noqa: S608
            f"WHERE f.day IN ({placeholders}) "
            f"AND NOT EXISTS (SELECT 1 FROM {ordinals} o WHERE o.user_id = f.user_id) ORDER BY f.user_id",
            days,
        )
        cursor.execute(
            f"SELECT f.day, o.id, f.credit_count, f.credit_cents, f.debit_count, f.debit_cents "  # noqa: S608
            f"FROM {figures} f JOIN {ordinals} o ON o.user_id = f.user_id WHERE f.day IN ({placeholders})",
            days,
        )
        totals: dict[str, list[int]] = {}
        bitmaps: dict[str, bytearray] = {}
        for day, ordinal, credit_count, credit_cents, debit_count, debit_cents in cursor.fetchall():
            key = str(day)
            figures_of_day = totals.setdefault(key, [0, 0, 0, 0, 0])
            figures_of_day[0] += credit_count
            figures_of_day[1] += credit_cents
            figures_of_day[2] += debit_count
            figures_of_day[3] += debit_cents
            figures_of_day[4] += 1
            bitmap = bitmaps.setdefault(key, bytearray())
            if len(bitmap) <= ordinal >> 3:
                bitmap.extend(bytes((ordinal >> 3) + 1 - len(bitmap)))
            bitmap[ordinal >> 3] |= 1 << (ordinal & 7)
    ServiceDayFigures.objects.filter(day__in=days).delete()
    ServiceDayFigures.objects.bulk_create(
        [
            ServiceDayFigures(
                day=as_date(key),
                credit_count=values[0],
                credit_cents=values[1],
                debit_count=values[2],
                debit_cents=values[3],
                user_count=values[4],
                users=bytes(bitmaps[key]),
            )
            for key, values in totals.items()
        ]
    )


def _refresh_in_batches(days: Iterable[dt.date]) -> None:
    days = sorted(set(days))
    for start in range(0, len(days), DAYS_PER_BATCH):
        _refresh_days(days[start : start + DAYS_PER_BATCH])


def apply_changes() -> int:
    """Recompute the days writes have changed since the last refresh; returns how many changes it consumed.

    A run that finds another one under way leaves the changes to it (which goes on until none is left),
    rather than queueing every worker behind one lock.
    """
    consumed = 0
    while OverviewChange.objects.exists():
        with transaction.atomic():
            if not _lock(wait=False):
                break
            changes = list(OverviewChange.objects.order_by("id").values_list("id", "day")[:CHANGES_PER_BATCH])
            if not changes:
                break
            _refresh_in_batches(day for _, day in changes)
            OverviewChange.objects.filter(id__in=[pk for pk, _ in changes]).delete()
            consumed += len(changes)
    return consumed


@transaction.atomic
def rebuild() -> int:
    """Recompute every day's service-wide figures from the user figures; returns the number of days."""
    _lock(wait=True)
    OverviewChange.objects.all().delete()
    ServiceDayFigures.objects.all().delete()
    days = list(all_days())
    _refresh_in_batches(days)
    return len(days)
