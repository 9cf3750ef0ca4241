"""Signals the write side sends; other apps (analytics) listen, so `transactions` imports none of them.

``transaction_written`` is sent *inside* the write's database transaction, so a receiver's database
work commits or rolls back with the write. Receivers get plain facts, never the name:
``before`` and ``after`` are ``TxnFacts`` or ``None`` (None before a create, after a delete).

``transactions_bulk_written`` is sent inside a bulk insert's transaction with ``facts``, a list of
``TxnFacts`` for every inserted row.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.dispatch import Signal

transaction_written = Signal()
transactions_bulk_written = Signal()


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
