"""Upkeep of the per-user, per-day figures: deltas applied with atomic upserts, or a rebuild from raw rows.

Every statement is an ``INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x`` (PostgreSQL and
SQLite alike): the increment happens in the database under the row's lock, so concurrent writes for
the same user and day never lose one. Keys are applied in sorted order so that two writes touching
the same two rows (a move between users) take their locks in the same order and cannot deadlock.
A single write's deltas are handed back to it as statements (``delta_statements``) that it runs with its
outbox event; a row a delta leaves empty is deleted afterwards, only when that happens.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Count, F, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce, Round, TruncDate
from django.utils import timezone

from fido.dates import as_date, local_day
from transactions.models import Transaction, TransactionType
from transactions.rules import BIGINT_MAX
from transactions.signals import Statement, TxnFacts

from .models import USER_DAY_CENTS_FIT, OverviewChange, UserDayFigures

BATCH = 500
FIELDS = ("credit_count", "credit_cents", "debit_count", "debit_cents")

# (user_id, day) -> [credit_count, credit_cents, debit_count, debit_cents]
Deltas = dict[tuple[int, dt.date], list[int]]


def cents(amount: Decimal) -> int:
    """An amount (at most 2 places) as whole cents, exactly."""
    return int(amount.scaleb(2))


def new_deltas() -> Deltas:
    return defaultdict(lambda: [0, 0, 0, 0])


def add_facts(deltas: Deltas, facts: TxnFacts | None, sign: int) -> None:
    """Count one transaction into `deltas`, positively (it now exists) or negatively (it no longer does)."""
    if facts is None:
        return
    delta = deltas[(facts.user_id, local_day(facts.transaction_date))]
    offset = 0 if facts.transaction_type == TransactionType.CREDIT else 2
    delta[offset] += sign
    delta[offset + 1] += sign * cents(facts.transaction_amount)


def _upsert(table: str, batch: list) -> Statement:
    """Add a batch of sorted deltas; returns (user_id, day, transaction_count) of each row it touched."""
    return Statement(
        f"INSERT INTO {table} (user_id, day, {', '.join(FIELDS)}) "  # noqa: S608  (no user text)
        f"VALUES {', '.join(['(%s, %s, %s, %s, %s, %s)'] * len(batch))} "
        f"ON CONFLICT (user_id, day) DO UPDATE SET "
        + ", ".join(f"{field} = {table}.{field} + excluded.{field}" for field in FIELDS)
        + " RETURNING user_id, day, credit_count + debit_count AS transaction_count",
        [value for (user_id, day), delta in batch for value in (user_id, day, *delta)],
        then=_delete_emptied,
        errors=day_limit_error_for,
    )


def _delete_emptied(rows: list[tuple]) -> None:
    """Delete the rows an upsert left at zero (still zero under their lock: a concurrent add keeps them)."""
    emptied = sorted((user_id, as_date(day)) for user_id, day, count in rows if count == 0)
    if emptied:
        table = connection.ops.quote_name(UserDayFigures._meta.db_table)
        keys = " OR ".join(["(user_id = %s AND day = %s)"] * len(emptied))
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE credit_count = 0 AND debit_count = 0 AND ({keys})",  # noqa: S608
                [value for key in emptied for value in key],
            )


def _note_days(days: Iterable[dt.date]) -> Statement:
    """Append the days to OverviewChange, for the overview's refresh."""
    days = sorted(set(days))
    table = connection.ops.quote_name(OverviewChange._meta.db_table)
    return Statement(f"INSERT INTO {table} (day) VALUES {', '.join(['(%s)'] * len(days))}", days)  # noqa: S608


def delta_statements(deltas: Deltas) -> list[Statement]:
    """The statements that add the deltas to the figures and note the days changed (none when nothing changes)."""
    changed = sorted((key, delta) for key, delta in deltas.items() if any(delta))
    if not changed:
        return []
    table = connection.ops.quote_name(UserDayFigures._meta.db_table)
    upserts = [_upsert(table, changed[start : start + BATCH]) for start in range(0, len(changed), BATCH)]
    return [*upserts, _note_days(day for (_, day), _ in changed)]


def apply_deltas(deltas: Deltas) -> None:
    """Add the deltas to the figures now (atomically per row), drop rows left empty, note the days changed."""
    with connection.cursor() as cursor:
        for statement in delta_statements(deltas):
            cursor.execute(statement.sql, statement.params)
            if statement.then:
                statement.then(cursor.fetchall())


def amount_cents(field: str = "transaction_amount"):
    """An amount column as whole cents (an exact integer sum on every backend)."""
    return Cast(Round(F(field) * 100), BigIntegerField())


DAY_TOTAL_LIMIT = Decimal(BIGINT_MAX).scaleb(-2)
DAY_TOTAL_LIMIT_MESSAGE = (
    f"This would take the user's credits or debits on one day past {DAY_TOTAL_LIMIT:,}, the most one user's "
    "day can hold."
)
NUMERIC_VALUE_OUT_OF_RANGE = "22003"  # PostgreSQL's SQLSTATE for "bigint out of range"


def day_total_limit_error() -> ValidationError:
    return ValidationError({"transaction_amount": ValidationError(DAY_TOTAL_LIMIT_MESSAGE, code="day_total_limit")})


def check_deltas_fit(deltas: Deltas) -> None:
    """Refuse before any SQL a delta too large to bind at all (a bulk load of huge amounts)."""
    if any(abs(value) > BIGINT_MAX for delta in deltas.values() for value in delta):
        raise day_total_limit_error()


def day_limit_error_for(exc: Exception) -> ValidationError | None:
    """The 400 of a figures upsert that would take a user's day total past a bigint, else None.

    PostgreSQL refuses the overflowing upsert by itself; SQLite through the figures' check constraint (it
    would otherwise store a float). The write's transaction then rolls back whole.
    """
    if not isinstance(exc, DataError | IntegrityError):
        return None
    overflow = getattr(exc.__cause__, "sqlstate", None) == NUMERIC_VALUE_OUT_OF_RANGE
    return day_total_limit_error() if overflow or USER_DAY_CENTS_FIT in str(exc) else None


@contextmanager
def within_day_limits(deltas: Deltas) -> Iterator[None]:
    """Run figures upserts (a bulk load's) refusing, as a 400 of the amount, any that would overflow a day."""
    check_deltas_fit(deltas)
    try:
        yield
    except (DataError, IntegrityError) as exc:
        error = day_limit_error_for(exc)
        if error is not None:
            raise error from exc
        raise


def figures_from_raw_rows():
    """The figures recomputed from the transactions themselves: (user_id, day, counts, cents) rows."""
    credit = Q(transaction_type=TransactionType.CREDIT)
    debit = Q(transaction_type=TransactionType.DEBIT)
    cents_of = amount_cents()
    return (
        Transaction.objects.annotate(day=TruncDate("transaction_date", tzinfo=timezone.get_default_timezone()))
        .values("user_id", "day")
        .annotate(
            credit_count=Count("id", filter=credit),
            credit_cents=Coalesce(Sum(cents_of, filter=credit), Value(0), output_field=BigIntegerField()),
            debit_count=Count("id", filter=debit),
            debit_cents=Coalesce(Sum(cents_of, filter=debit), Value(0), output_field=BigIntegerField()),
        )
        .values_list("user_id", "day", *FIELDS)
        .order_by()
    )


@transaction.atomic
def rebuild_user_figures() -> int:
    """Replace every user's figures with a recomputation from raw rows, in SQL; returns the row count.

    On PostgreSQL writes to transactions wait until it commits, so none
    slips between the delete and the recomputation (SQLite serialises writers anyway).
    """
    table = connection.ops.quote_name(UserDayFigures._meta.db_table)
    select_sql, params = figures_from_raw_rows().query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {connection.ops.quote_name(Transaction._meta.db_table)} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608
        cursor.execute(f"INSERT INTO {table} (user_id, day, {', '.join(FIELDS)}) {select_sql}", params)
    return UserDayFigures.objects.count()


RECONCILE_LOCK_ID = 0x46_49_44_52  # "FIDR": the advisory lock of reconciliations


def reconciliation_sql() -> tuple[str, list]:
    """One statement: upsert (raw aggregate - figures) wherever they differ; returns the changed rows.

    The difference is read from one snapshot, in which every write's raw row and its figure delta are
    both visible or both not (one database transaction); so the difference does not depend on writes
    in flight, and adding it (the writes' own upsert) composes with theirs.
    """
    table = connection.ops.quote_name(UserDayFigures._meta.db_table)
    raw_sql, params = figures_from_raw_rows().query.sql_with_params()
    differences = ", ".join(f"COALESCE(r.{field}, 0) - COALESCE(f.{field}, 0) AS {field}" for field in FIELDS)
    sql = (
        f"WITH raw AS ({raw_sql}), diff AS ("  # noqa: S608  (no user text)
        f"SELECT COALESCE(r.user_id, f.user_id) AS user_id, COALESCE(r.day, f.day) AS day, {differences} "
        f"FROM raw r FULL OUTER JOIN {table} f ON f.user_id = r.user_id AND f.day = r.day) "
        f"INSERT INTO {table} (user_id, day, {', '.join(FIELDS)}) "
        f"SELECT user_id, day, {', '.join(FIELDS)} FROM diff "
        f"WHERE {' OR '.join(f'{field} <> 0' for field in FIELDS)} ORDER BY user_id, day "
        f"ON CONFLICT (user_id, day) DO UPDATE SET "
        + ", ".join(f"{field} = {table}.{field} + excluded.{field}" for field in FIELDS)
        + " RETURNING user_id, day, credit_count + debit_count"
    )
    return sql, list(params)


@transaction.atomic
def reconcile() -> set[int]:
    """Correct the figures wherever they differ from the raw rows (a change made in SQL); returns the users.

    Writers are not locked out: the correction is computed and added in one statement (see
    ``reconciliation_sql``), rows left empty are deleted and the corrected days noted for the
    overview, as after a write's deltas. Runs are serialised (an advisory lock on PostgreSQL: a run
    that finds another one under way does nothing; SQLite serialises writers) so no correction is
    applied twice. Costs one scan of the transactions. The caller replaces the users' cache
    generations once this has committed.
    """
    table = connection.ops.quote_name(UserDayFigures._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [RECONCILE_LOCK_ID])
            if not cursor.fetchone()[0]:
                return set()
        cursor.execute(*reconciliation_sql())
        changed = [(user_id, as_date(day), count) for user_id, day, count in cursor.fetchall()]
        emptied = sorted((user_id, day) for user_id, day, count in changed if count == 0)
        if emptied:
            cursor.executemany(
                f"DELETE FROM {table} WHERE user_id = %s AND day = %s AND credit_count = 0 AND debit_count = 0",  # noqa: S608
                emptied,
            )
    OverviewChange.objects.bulk_create([OverviewChange(day=day) for day in sorted({day for _, day, _ in changed})])
    return {user_id for user_id, _, _ in changed}


def all_days() -> Iterable[dt.date]:
    return UserDayFigures.objects.values_list("day", flat=True).distinct().order_by("day")
