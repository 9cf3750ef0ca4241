"""One user's history through the response cache (fido/cache.py): how a page is computed and stored,
and the paginator that serves it.

A page is cached per user under the user's generation, so a read after a write reflects it. It is stored as
its rows' fields, encrypted (it holds names), and turned back into transactions for the view's serializer.
"""

import datetime as dt
from decimal import Decimal

from fido import cache

from .models import Transaction
from .pagination import KeysetPage, TransactionKeysetPagination, keyset_page
from .selectors import user_transaction_history

KIND = "history"
STORED_FIELDS = ("id", "user_id", "full_name", "transaction_type")
STORED_MOMENTS = ("transaction_date", "created_at", "updated_at")


def _stored(txn: Transaction) -> dict:
    row = {field: getattr(txn, field) for field in STORED_FIELDS}
    row.update({field: getattr(txn, field).isoformat() for field in STORED_MOMENTS})
    row["transaction_amount"] = str(txn.transaction_amount)
    return row


def _restored(row: dict) -> Transaction:
    return Transaction(
        **{field: row[field] for field in STORED_FIELDS},
        **{field: dt.datetime.fromisoformat(row[field]) for field in STORED_MOMENTS},
        transaction_amount=Decimal(row["transaction_amount"]),
    )


def _page(user_id: int, page_size: int, cursor: str | None) -> dict:
    page = keyset_page(user_transaction_history(user_id=user_id), size=page_size, cursor=cursor)
    return {
        "rows": [_stored(txn) for txn in page.rows],
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
    }


def register_kind() -> None:
    """Tell the response cache how a history page is computed and stored (TransactionsConfig.ready())."""
    cache.register(KIND, cache.Kind(_page, encode=cache.seal, decode=cache.unseal))


def cached_history_page(*, user_id: int, page_size: int, cursor: str | None) -> cache.Cached:
    """One page of a user's history (a KeysetPage of transactions), from the cache or computed and stored."""
    cached = cache.user_entry(KIND, user_id, [page_size, cursor or None])
    stored = cached.value
    page = KeysetPage([_restored(row) for row in stored["rows"]], stored["next_cursor"], stored["previous_cursor"])
    return cache.Cached(page, hit=cached.hit)


class UserHistoryPagination(TransactionKeysetPagination):
    """The keyset pages of the user named in the URL, through the cache; the response says X-Cache: HIT or MISS."""

    def get_page(self, queryset, request, view=None) -> KeysetPage:
        # The page is the user's history (the view's queryset), computed by cached_history_page on a miss.
        cached = cached_history_page(
            user_id=view.kwargs["user_id"], page_size=self.get_page_size(request), cursor=self.get_cursor(request)
        )
        self.x_cache = cached.x_cache
        return cached.value

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response[cache.X_CACHE] = self.x_cache
        return response
