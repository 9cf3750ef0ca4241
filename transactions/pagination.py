"""Keyset pagination over (transaction_date, id), newest first (docs/api.md, "Filters, order and pages").

DRF's CursorPagination positions on the first ordering field plus an offset, which can skip or
repeat rows when others are written with the same date between two page fetches; a cursor on the
full (transaction_date, id) key cannot.
"""

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass

from django.db.models import Q
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from .rules import BIGINT_MAX, RuleError, parse_integer

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def encode_cursor(*, date: dt.datetime, pk: int, reverse: bool) -> str:
    payload = json.dumps({"d": date.isoformat(), "i": pk, "r": int(reverse)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[dt.datetime, int, bool]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        payload = json.loads(raw)
        date = dt.datetime.fromisoformat(payload["d"])
        pk = payload["i"]
        reverse = payload["r"]
        if reverse not in (0, 1):
            raise ValueError
        if not isinstance(pk, int) or isinstance(pk, bool) or not 0 <= pk <= BIGINT_MAX or date.tzinfo is None:
            raise ValueError
        date.astimezone(dt.UTC)  # an offset that pushes the date out of range raises OverflowError
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": [ErrorDetail("Invalid cursor.", code="invalid")]}) from None
    return date, pk, bool(reverse)


@dataclass(frozen=True)
class KeysetPage:
    """One page of rows, newest first, with the cursors of its neighbours (None: no page that way)."""

    rows: list
    next_cursor: str | None = None
    previous_cursor: str | None = None


def keyset_page(queryset, *, size: int, cursor: str | None) -> KeysetPage:
    """The page of `size` rows after (or, for a reverse cursor, before) the cursor's row; one indexed range scan."""
    reverse = False
    if cursor:
        date, pk, reverse = decode_cursor(cursor)
        if reverse:
            queryset = queryset.filter(Q(transaction_date__gt=date) | Q(transaction_date=date, id__gt=pk))
        else:
            queryset = queryset.filter(Q(transaction_date__lt=date) | Q(transaction_date=date, id__lt=pk))
    order = ("transaction_date", "id") if reverse else ("-transaction_date", "-id")
    rows = list(queryset.order_by(*order)[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if reverse:
        rows.reverse()
    if not rows:
        return KeysetPage(rows)
    first, last = rows[0], rows[-1]
    return KeysetPage(
        rows,
        next_cursor=(
            encode_cursor(date=last.transaction_date, pk=last.pk, reverse=False)
            if (has_more and not reverse) or (reverse and cursor)
            else None
        ),
        previous_cursor=(
            encode_cursor(date=first.transaction_date, pk=first.pk, reverse=True)
            if (has_more and reverse) or (not reverse and cursor)
            else None
        ),
    )


def requested_page_size(request, name: str = "page_size") -> int:
    """The page size a request asks for: DEFAULT_PAGE_SIZE when absent, a 400 when malformed, at most MAX_PAGE_SIZE."""
    raw = request.query_params.get(name)
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = parse_integer(raw)  # ASCII digits only: int() would also read U+0665
    except RuleError as exc:
        raise ValidationError({name: [ErrorDetail(exc.message, code=exc.code)]}) from None
    if size < 1:
        raise ValidationError({name: [ErrorDetail("Must be at least 1.", code="min_value")]})
    return min(size, MAX_PAGE_SIZE)


class TransactionKeysetPagination(BasePagination):
    """Pages of `{next, previous, results}`; a page costs one indexed range scan at any depth."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    # Documented as 400s in the OpenAPI schema (fido.openapi.AutoSchema).
    validation_error_codes = {"cursor": {"invalid"}, "page_size": {"invalid", "min_value"}}

    def get_page_size(self, request) -> int:
        return requested_page_size(request, self.page_size_query_param)

    def get_cursor(self, request) -> str | None:
        return request.query_params.get(self.cursor_query_param) or None

    def get_page(self, queryset, request, view=None) -> KeysetPage:
        """The page the request asks for; a subclass may serve it from elsewhere (transactions/history.py)."""
        return keyset_page(queryset, size=self.get_page_size(request), cursor=self.get_cursor(request))

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = self.get_page(queryset, request, view)
        return self.page.rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "in": "query",
                "required": False,
                "description": "Opaque cursor taken from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "in": "query",
                "required": False,
                "description": f"Rows per page, default {DEFAULT_PAGE_SIZE}, at most {MAX_PAGE_SIZE}.",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]
