"""Keyset pages: default and maximum size, stable walks under concurrent writes, both directions."""

import base64
import datetime as dt
import json
from decimal import Decimal
from http import HTTPStatus

import pytest

from transactions.services import transactions_bulk_create

from .conftest import LIST_URL, detail_url, history_url

pytestmark = pytest.mark.django_db

BASE = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _seed(count: int, *, user_id: int = 1, same_date_every: int = 1) -> list[int]:
    """`count` rows; every `same_date_every` consecutive rows share a transaction_date."""
    facts = transactions_bulk_create(
        rows=[
            {
                "user_id": user_id,
                "full_name": "Seed Person",
                "transaction_date": BASE - dt.timedelta(minutes=i // same_date_every),
                "transaction_amount": Decimal("1.00"),
                "transaction_type": "credit",
            }
            for i in range(count)
        ]
    )
    return [fact.id for fact in facts]


def _get(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


def test_default_page_is_50_newest_first(read_client):
    ids = _seed(120, same_date_every=3)

    page = _get(read_client, LIST_URL)

    assert len(page["results"]) == 50
    assert page["previous"] is None
    assert page["next"].startswith("http://testserver/api/v1/transactions/?cursor=")
    keys = [(txn["transaction_date"], txn["id"]) for txn in page["results"]]
    assert keys == sorted(keys, reverse=True)
    assert page["results"][0]["id"] == max(ids[:3])


def test_page_size_is_capped_at_500(read_client):
    _seed(510)

    assert len(_get(read_client, f"{LIST_URL}?page_size=100000")["results"]) == 500
    assert len(_get(read_client, f"{LIST_URL}?page_size={'9' * 5000}")["results"]) == 500  # more than 500 is 500
    assert len(_get(read_client, f"{LIST_URL}?page_size=500")["results"]) == 500
    assert len(_get(read_client, f"{LIST_URL}?page_size=499")["results"]) == 499
    assert len(_get(read_client, f"{LIST_URL}?page_size=1")["results"]) == 1


def test_last_page_has_no_next_link(read_client):
    _seed(5)

    page = _get(read_client, f"{LIST_URL}?page_size=5")

    assert len(page["results"]) == 5
    assert page["next"] is None


def test_walk_while_rows_are_written_has_no_duplicates_and_no_gaps(read_client, write_client, txn_body):
    existing = set(_seed(60, same_date_every=4))
    seen: list[int] = []
    url = f"{LIST_URL}?page_size=7"
    fetches = 0
    while url:
        page = _get(read_client, url)
        seen += [txn["id"] for txn in page["results"]]
        url = page["next"]
        fetches += 1
        if page["results"]:
            cursor_row = page["results"][-1]
            # Between fetches: a row at the cursor row's very date, one newer, one older; delete the cursor row.
            for when in (cursor_row["transaction_date"], "2026-06-02T00:00:00Z", "2026-05-01T00:00:00Z"):
                body = {**txn_body, "user_id": 1, "transaction_date": when}
                assert write_client.post(LIST_URL, body, format="json").status_code == HTTPStatus.CREATED
            if fetches % 3 == 0:
                assert write_client.delete(detail_url(cursor_row["id"])).status_code == HTTPStatus.NO_CONTENT

    assert len(seen) == len(set(seen)), "a row was repeated"
    assert existing <= set(seen), "a pre-existing row was skipped"
    assert fetches > 9


def test_previous_links_walk_back_to_the_same_pages(read_client):
    _seed(25, same_date_every=5)
    forward = [_get(read_client, f"{LIST_URL}?page_size=6")]
    while forward[-1]["next"]:
        forward.append(_get(read_client, forward[-1]["next"]))
    assert [len(page["results"]) for page in forward] == [6, 6, 6, 6, 1]

    backward = [forward[-1]]
    while backward[-1]["previous"]:
        backward.append(_get(read_client, backward[-1]["previous"]))

    assert [page["results"] for page in reversed(backward)] == [page["results"] for page in forward]
    assert backward[-1]["previous"] is None
    assert backward[-1]["next"] is not None


def test_links_keep_filters_and_page_size(read_client):
    _seed(10, user_id=5)
    _seed(10, user_id=6)

    first = _get(read_client, f"{LIST_URL}?user_id=5&page_size=4")
    second = _get(read_client, first["next"])
    third = _get(read_client, second["next"])

    assert "user_id=5" in first["next"] and "page_size=4" in first["next"]
    assert [len(page["results"]) for page in (first, second, third)] == [4, 4, 2]
    assert {txn["user_id"] for page in (first, second, third) for txn in page["results"]} == {5}


def test_user_history_pages_the_same_way(read_client):
    ids = _seed(12, user_id=8)
    _seed(5, user_id=9)

    first = _get(read_client, f"{history_url(8)}?page_size=5")
    rest = [first]
    while rest[-1]["next"]:
        rest.append(_get(read_client, rest[-1]["next"]))

    assert sorted(txn["id"] for page in rest for txn in page["results"]) == sorted(ids)


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _cursor([1, 2]),
        _cursor({"d": "2026-01-01T00:00:00+00:00"}),
        _cursor({"d": "2026-01-01T00:00:00", "i": 1, "r": 0}),
        _cursor({"d": "not a date", "i": 1, "r": 0}),
        _cursor({"d": "2026-01-01T00:00:00+00:00", "i": "1", "r": 0}),
        _cursor({"d": "2026-01-01T00:00:00+00:00", "i": True, "r": 0}),
        _cursor({"d": "2026-01-01T00:00:00+00:00", "i": 2**63, "r": 0}),
        _cursor({"d": "2026-01-01T00:00:00+00:00", "i": -1, "r": 0}),
        _cursor({"d": "0001-01-01T00:00:00+14:00", "i": 1, "r": 0}),
        _cursor({"d": 5, "i": 1, "r": 0}),
        _cursor({"d": "2026-01-01T00:00:00+00:00", "i": 1, "r": [1]}),
        _cursor({"d": "2026-01-01T00:00:00+00:00", "i": 1}),
        "A" * 5000,
    ],
)
@pytest.mark.parametrize("url", [LIST_URL, history_url(1)])
def test_invalid_cursor_is_a_400(read_client, cursor, url):
    response = read_client.get(url, {"cursor": cursor})

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert [error["attr"] for error in response.json()["errors"]] == ["cursor"]


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1.5", "", "\u0665", "1e3", "9" * 5000 + "x"])
def test_invalid_page_size_is_a_400(read_client, size):
    response = read_client.get(LIST_URL, {"page_size": size})

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert [error["attr"] for error in response.json()["errors"]] == ["page_size"]
