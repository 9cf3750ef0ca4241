"""Signals the write side sends; other apps (analytics) listen, so `transactions` imports none of them.

``transaction_written`` is sent *inside* the write's database transaction. Receivers get plain facts,
never the name: ``before`` and ``after`` are ``TxnFacts`` or ``None`` (None before a create, after a
delete). A receiver returns the database work it owes the write as ``Statement``s (or None); the write
runs them with its outbox event, in one SQL statement on PostgreSQL, so they commit or roll back with it.

``transactions_bulk_written`` is sent inside a bulk insert's transaction with ``facts``, a list of
``TxnFacts`` for every inserted row.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.dispatch import Signal

transaction_written = Signal()
transactions_bulk_written = Signal()


@dataclass(frozen=True, slots=True)
class Statement:
    """One data-modifying SQL statement (INSERT, UPDATE or DELETE, optionally with RETURNING) a write owes.

    On PostgreSQL it runs as a member of the write's one ``WITH`` statement, so it cannot see the other
    members' changes. ``then``, when given, is called in the write's transaction with the rows its
    RETURNING clause gave, as tuples; their columns need distinct names, and on PostgreSQL they arrive
    as JSON values (a date as ``YYYY-MM-DD`` text). ``errors``, when given, turns a database error of the
    write's statement into the exception the client should get (a 400 for a limit, say), or returns None.
    """

    sql: str
    params: Sequence
    then: Callable[[list[tuple]], None] | None = None
    errors: Callable[[Exception], Exception | None] | None = None


@dataclass(frozen=True, slots=True)
class TxnFacts:
    """What derived data needs to know about one transaction: everything but the name."""

    id: int
    user_id: int
    transaction_date: datetime
    transaction_amount: Decimal
    transaction_type: str

    @classmethod
    def of(cls, txn) -> "TxnFacts":
        return cls(
            id=txn.pk,
            user_id=txn.user_id,
            transaction_date=txn.transaction_date,
            transaction_amount=txn.transaction_amount,
            transaction_type=txn.transaction_type,
        )
