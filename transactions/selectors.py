"""Reads of transactions."""

from django.db.models import QuerySet

from .models import Transaction


def transaction_list() -> QuerySet[Transaction]:
    """Every transaction, newest first."""
    return Transaction.objects.order_by("-transaction_date", "-id")


def user_transaction_history(*, user_id: int) -> QuerySet[Transaction]:
    """One user's transactions, newest first (served by the user-history index)."""
    return transaction_list().filter(user_id=user_id)
