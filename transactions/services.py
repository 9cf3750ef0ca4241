"""Writes to transactions. Every write is one database transaction holding the row, the derived
figures (the ``Statement``s that ``transaction_written`` receivers return) and an outbox event
(``outbox.py``), which on PostgreSQL go to the database as one statement; the processing of the event
follows the commit (``outbox.py``: the relay, or in-process in the embedded mode).

The users' cache generations are replaced only after the commit (fido/cache.py), so no reader can cache
a pre-write answer under the new generation.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from fido import cache

from . import audit, outbox
from .fields import name_hash
from .models import IdempotencyRecord, OutboxEvent, Transaction
from .rules import WRITABLE_FIELDS
from .signals import Statement, TxnFacts, transaction_written, transactions_bulk_written


def _invalidate_on_commit(user_ids: set[int]) -> None:
    # Robust: a cache outage at that moment must not fail the write that has committed.
    transaction.on_commit(partial(cache.bump_generations, user_ids), robust=True)


def _owed(*, before: TxnFacts | None, after: TxnFacts | None) -> list[Statement]:
    """The statements the receivers of ``transaction_written`` return for this write, in receiver order."""
    responses = transaction_written.send(sender=Transaction, before=before, after=after)
    return [statement for _, owed in responses for statement in owed or ()]


def _follow_up(*, kind: str, before: TxnFacts | None, after: TxnFacts | None) -> None:
    """What a write owes besides its row, in its transaction: the derived figures and its outbox event (one
    statement on PostgreSQL); after the commit, its users' cached answers invalidated (both on a move)."""
    latest = after or before
    moved_from = before.user_id if before and after and before.user_id != after.user_id else None
    _invalidate_on_commit({facts.user_id for facts in (before, after) if facts is not None})
    outbox.record(
        kind=kind,
        txn_id=latest.id,
        user_id=latest.user_id,
        previous_user_id=moved_from,
        statements=_owed(before=before, after=after),
    )


def _delete_row(txn_id: int) -> Transaction:
    """Delete a transaction's row and return it as it was (the row lock included), with the idempotent responses
    stored for it (they hold its name, and must not outlive it): one statement on PostgreSQL, two elsewhere.

    Raw SQL bypasses Django's emulated ON DELETE CASCADE, so the idempotency records are deleted here."""
    table = connection.ops.quote_name(Transaction._meta.db_table)
    stored = connection.ops.quote_name(IdempotencyRecord._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"WITH stored AS (DELETE FROM {stored} WHERE transaction_id = %s) "  # noqa: S608  (no user text)
            f"DELETE FROM {table} WHERE id = %s RETURNING *"
        )
        params = [txn_id, txn_id]
    else:
        IdempotencyRecord.objects.filter(transaction_id=txn_id).delete()
        sql, params = f"DELETE FROM {table} WHERE id = %s RETURNING *", [txn_id]  # noqa: S608
    deleted = list(Transaction.objects.raw(sql, params, using=connection.alias))
    if not deleted:
        raise Transaction.DoesNotExist(f"Transaction {txn_id} does not exist.")
    return deleted[0]


@transaction.atomic
def transaction_create(
    *,
    user_id: int,
    full_name: str,
    transaction_date: datetime,
    transaction_amount: Decimal,
    transaction_type: str,
) -> Transaction:
    """Record a new transaction with its derived figures and outbox event, atomically."""
    txn = Transaction(
        user_id=user_id,
        full_name=full_name,
        transaction_date=transaction_date,
        transaction_amount=transaction_amount,
        transaction_type=transaction_type,
    )
    txn.full_clean(exclude=["full_name_hash"], validate_constraints=False)
    txn.save()
    audit.record_created(txn)
    _follow_up(kind=OutboxEvent.Kind.CREATED, before=None, after=TxnFacts.of(txn))
    return txn


@transaction.atomic
def transaction_update(*, txn_id: int, **changes) -> Transaction:
    """Change some fields of a transaction (row locked), keeping derived figures exact."""
    unknown = set(changes) - set(WRITABLE_FIELDS)
    if unknown:
        raise TypeError(f"transaction_update() got fields it cannot change: {sorted(unknown)}")
    txn = Transaction.objects.select_for_update().get(pk=txn_id)
    before = TxnFacts.of(txn)
    audit.record_update(txn, changes)
    for field, value in changes.items():
        setattr(txn, field, value)
    txn.full_clean(exclude=["full_name_hash"], validate_constraints=False)
    txn.save()
    _follow_up(kind=OutboxEvent.Kind.UPDATED, before=before, after=TxnFacts.of(txn))
    return txn


@transaction.atomic
def transaction_delete(*, txn_id: int) -> None:
    """Delete a transaction, keeping derived figures exact."""
    txn = _delete_row(txn_id)
    audit.record_deleted(txn)
    _follow_up(kind=OutboxEvent.Kind.DELETED, before=TxnFacts.of(txn), after=None)


@transaction.atomic
def transactions_bulk_create(*, rows: Iterable[dict], batch_size: int = 5000) -> list[TxnFacts]:
    """Insert many already-validated transactions in one database transaction (seeding, imports).

    Derived figures are kept exact through ``transactions_bulk_written``. No per-row outbox event:
    bulk loads are not individual money movements to alert on; processing for the users touched is
    up to the caller.
    """
    now = timezone.now()
    objs = []
    for row in rows:
        objs.append(
            Transaction(
                user_id=row["user_id"],
                full_name=row["full_name"],
                full_name_hash=name_hash(row["full_name"]),
                transaction_date=row["transaction_date"],
                transaction_amount=Decimal(row["transaction_amount"]),
                transaction_type=row["transaction_type"],
                created_at=now,
                updated_at=now,
            )
        )
    created = Transaction.objects.bulk_create(objs, batch_size=batch_size)
    audit.record_bulk_created(created)
    facts = [TxnFacts.of(txn) for txn in created]
    _invalidate_on_commit({one.user_id for one in facts})
    transactions_bulk_written.send(sender=Transaction, facts=facts)
    return facts
