"""One user's history through the response cache (fido/cache.py): how a page is computed and stored,
and the paginator that serves it.

A page is cached per user under the user's generation, so a read after a write reflects it. It is stored as
the serializer made it (the representation every reader shares; names are masked per reader afterwards, on
the finished response), encrypted (it holds names): a HIT costs one decryption, no model and no serializer.
"""

from fido import cache

from .pagination import KeysetPage, TransactionKeysetPagination, decode_cursor, keyset_page
from .selectors import user_transaction_history
from .serializers import TransactionSerializer

KIND = "history"


def _page(user_id: int, page_size: int, cursor: str | None) -> dict:
    page = keyset_page(user_transaction_history(user_id=user_id), size=page_size, cursor=cursor)
    return {
        "results": TransactionSerializer(page.rows, many=True).data,
        "next_cursor": page.next_cursor,
        "previous_cursor": page.previous_cursor,
    }


def register_kind() -> None:
    """Tell the response cache how a history page is computed and stored (TransactionsConfig.ready())."""
    cache.register(KIND, cache.Kind(_page, encode=cache.seal, decode=cache.unseal))


def read_history_page(*, user_id: int, page_size: int, cursor: str | None, counters=()) -> cache.Read:
    """One page of a user's history, serialized, read with `counters` in one round trip (or computed on a miss)."""
    if cursor:
        decode_cursor(cursor)  # a malformed cursor is a 400 before it names an entry
    return cache.read_user_entry(KIND, user_id, [page_size, cursor or None], counters=counters)


class UserHistoryPagination(TransactionKeysetPagination):
    """The keyset pages of the user named in the URL, from the cache already serialized (the view's
    ``cached_answer()``); the response says X-Cache: HIT or MISS."""

    def paginate_queryset(self, queryset, request, view=None):
        # The page is the user's history (the view's queryset), computed by _page on a miss.
        self.request = request
        cached = view.cached_answer()
        self.x_cache = cached.x_cache
        page = cached.value
        self.page = KeysetPage(page["results"], page["next_cursor"], page["previous_cursor"])
        return self.page.rows

    def read(self, request, view, counters) -> cache.Read:
        """The page this request asks for, read with `counters` (parameters validated first: a 400)."""
        return read_history_page(
            user_id=view.kwargs["user_id"],
            page_size=self.get_page_size(request),
            cursor=self.get_cursor(request),
            counters=counters,
        )

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response[cache.X_CACHE] = self.x_cache
        return response
