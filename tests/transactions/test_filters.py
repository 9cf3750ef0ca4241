"""List filters: each one, combined, inclusive bounds in TIME_ZONE; malformed values are 400s."""

import datetime as dt
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.test import override_settings

from transactions.services import transactions_bulk_create

from .conftest import LIST_URL

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _row(user_id, when, amount, kind="credit"):
    return {
        "user_id": user_id,
        "full_name": f"User {user_id}",
        "transaction_date": when,
        "transaction_amount": Decimal(amount),
        "transaction_type": kind,
    }


@pytest.fixture
def rows():
    """Six transactions, ids in insertion order (1-based index into this list)."""
    facts = transactions_bulk_create(
        rows=[
            _row(1, dt.datetime(2026, 11, 19, 23, 59, 59, tzinfo=UTC), "10.00"),
            _row(1, dt.datetime(2026, 11, 20, 0, 0, 0, tzinfo=UTC), "20.00", "debit"),
            _row(1, dt.datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC), "30.00"),
            _row(2, dt.datetime(2026, 11, 21, 0, 0, 0, tzinfo=UTC), "40.00", "debit"),
            _row(2, dt.datetime(2026, 11, 21, 4, 0, 0, tzinfo=UTC), "999999999999.99"),
            _row(3, dt.datetime(1900, 1, 1, 0, 0, 0, tzinfo=UTC), "0.01", "debit"),
        ]
    )
    return [fact.id for fact in facts]


def _ids(client, query: str) -> list[int]:
    response = client.get(f"{LIST_URL}?{query}")
    assert response.status_code == HTTPStatus.OK, response.content
    return [txn["id"] for txn in response.json()["results"]]


def _pick(rows, *positions) -> list[int]:
    """The ids at these 1-based positions, newest first as the API orders them."""
    order = [5, 4, 3, 2, 1, 6]
    return [rows[p - 1] for p in order if p in positions]


@pytest.mark.parametrize(
    ("query", "positions"),
    [
        ("", (1, 2, 3, 4, 5, 6)),
        ("user_id=1", (1, 2, 3)),
        ("user_id=2", (4, 5)),
        ("user_id=9", ()),
        ("user_id=9223372036854775807", ()),
        ("transaction_type=credit", (1, 3, 5)),
        ("transaction_type=debit", (2, 4, 6)),
        ("date_from=2026-11-20", (2, 3, 4, 5)),
        ("date_to=2026-11-20", (1, 2, 3, 6)),
        ("date_from=2026-11-20&date_to=2026-11-20", (2, 3)),
        ("date_from=1900-01-01&date_to=1900-01-01", (6,)),
        ("date_from=0001-01-01", (1, 2, 3, 4, 5, 6)),
        ("date_to=0001-01-01", ()),
        ("date_from=9999-12-31", ()),
        ("date_to=9999-12-31", (1, 2, 3, 4, 5, 6)),
        ("amount_min=20", (2, 3, 4, 5)),
        ("amount_max=20.00", (1, 2, 6)),
        ("amount_min=20&amount_max=30", (2, 3)),
        ("amount_min=0.01&amount_max=0.01", (6,)),
        ("amount_min=999999999999.99", (5,)),
        ("amount_min=0", (1, 2, 3, 4, 5, 6)),
        ("user_id=1&transaction_type=credit", (1, 3)),
        ("user_id=1&transaction_type=credit&date_from=2026-11-20", (3,)),
        ("user_id=2&amount_max=100&transaction_type=debit&date_to=2026-11-21", (4,)),
        ("user_id=&transaction_type=&date_from=&amount_min=", (1, 2, 3, 4, 5, 6)),
    ],
)
def test_filters_select_the_right_rows_newest_first(read_client, rows, query, positions):
    assert _ids(read_client, query) == _pick(rows, *positions)


@override_settings(TIME_ZONE="America/New_York")
def test_date_filters_are_calendar_days_in_time_zone(read_client, rows):
    # In New York, 2026-11-21T04:00Z is still the 20th (23:00), and 2026-11-20T00:00Z is the 19th.
    assert _ids(read_client, "date_from=2026-11-20&date_to=2026-11-20") == _pick(rows, 3, 4, 5)
    assert _ids(read_client, "date_to=2026-11-19") == _pick(rows, 1, 2, 6)


@override_settings(TIME_ZONE="Pacific/Kiritimati")
def test_far_dates_do_not_overflow_in_a_time_zone_east_of_utc(read_client, rows):
    assert len(_ids(read_client, "date_from=0001-01-01&date_to=9999-12-31")) == 6
    assert _ids(read_client, "date_from=9999-12-31") == []


@pytest.mark.parametrize(
    "query",
    [
        "user_id=abc",
        "user_id=0",
        "user_id=-1",
        "user_id=1.5",
        "user_id=9223372036854775808",
        "user_id=" + "9" * 5000,
        "transaction_type=refund",
        "transaction_type=CREDIT",
        "date_from=2026-02-30",
        "date_from=yesterday",
        "date_from=11/20/2026",
        "date_from=2026-11-20T00:00:00",
        "date_to=10000-01-01",
        "date_to=" + "9" * 5000,
        "amount_min=abc",
        "amount_min=NaN",
        "amount_max=Infinity",
        "amount_min=-1",
        "amount_max=1.001",
        "amount_max=1000000000000",
        "amount_min=1e999999",
        "amount_min=" + "9" * 5000,
        "user_id=\u0665",
        "user_id=\uff14\uff12",
        "amount_min=\u0665",
        "amount_max=1\uff10.00",
        "date_from=2026-11-2\u0660",
        "date_from=2026-11-21&date_to=2026-11-20",
        "amount_min=30&amount_max=20",
    ],
)
def test_malformed_filter_value_is_a_400_naming_it(read_client, query):
    response = read_client.get(f"{LIST_URL}?{query}")

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert {error["attr"] for error in body["errors"]} == {query.split("=")[0]}
