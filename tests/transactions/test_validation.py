"""Bad input: every rule violation is a 400 naming the field, never a 500."""

import datetime as dt
from http import HTTPStatus

import pytest
from django.test import override_settings
from django.utils import timezone

from transactions.models import Transaction

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db

MAX_USER_ID = 2**63 - 1


def _in_minutes(minutes: int) -> str:
    return (timezone.now() + dt.timedelta(minutes=minutes)).isoformat()


BAD_VALUES = [
    # transaction_amount: numbers and strings
    ("transaction_amount", 0),
    ("transaction_amount", "0"),
    ("transaction_amount", "0.00"),
    ("transaction_amount", -1),
    ("transaction_amount", "-0.01"),
    ("transaction_amount", "abc"),
    ("transaction_amount", ""),
    ("transaction_amount", "  "),
    ("transaction_amount", "NaN"),
    ("transaction_amount", "nan"),
    ("transaction_amount", "sNaN"),
    ("transaction_amount", "Infinity"),
    ("transaction_amount", "-Infinity"),
    ("transaction_amount", "1.005"),
    ("transaction_amount", "1.001e0"),
    ("transaction_amount", "1e-999999"),
    ("transaction_amount", "1000000000000.00"),
    ("transaction_amount", "999999999999.991"),
    ("transaction_amount", 1000000000000),
    ("transaction_amount", "1e999999"),
    ("transaction_amount", "1_000"),
    ("transaction_amount", "0x10"),
    ("transaction_amount", "1,50"),
    ("transaction_amount", True),
    ("transaction_amount", None),
    ("transaction_amount", []),
    ("transaction_amount", {"value": "1.00"}),
    # transaction_type
    ("transaction_type", "refund"),
    ("transaction_type", "CREDIT"),
    ("transaction_type", ""),
    ("transaction_type", None),
    ("transaction_type", 1),
    ("transaction_type", ["credit"]),
    # user_id: a JSON integer from 1 to 2^63-1
    ("user_id", 0),
    ("user_id", -1),
    ("user_id", 2**63),
    ("user_id", 10**30),
    ("user_id", "42"),
    ("user_id", "abc"),
    ("user_id", True),
    ("user_id", False),
    ("user_id", None),
    ("user_id", []),
    # full_name
    ("full_name", ""),
    ("full_name", "   "),
    ("full_name", "\t\n "),
    ("full_name", "a" * 256),
    ("full_name", "Ama\x00Mensah"),
    ("full_name", "Ama\x07Mensah"),
    ("full_name", "Ama\nMensah"),
    ("full_name", "Ama\x7fMensah"),
    ("full_name", "Ama\u2028Mensah"),
    ("full_name", 123),
    ("full_name", None),
    ("full_name", ["Ama"]),
    # transaction_date
    ("transaction_date", "2026-02-30"),
    ("transaction_date", "2026-13-01"),
    ("transaction_date", "2026-11-20T25:00:00Z"),
    ("transaction_date", "2026-11-20T14:03:00+24:00"),
    ("transaction_date", "yesterday"),
    ("transaction_date", ""),
    ("transaction_date", "20/11/2026"),
    ("transaction_date", 1763647380),
    ("transaction_date", None),
    ("transaction_date", "1899-12-31T23:59:59Z"),
    ("transaction_date", "0001-01-01T00:00:00+14:00"),
    ("transaction_date", "9999-12-31T23:59:59Z"),
    ("transaction_date", "9999-12-31T23:59:59-14:00"),
    # unknown and read-only fields
    ("id", 5),
    ("created_at", "2026-11-20T14:03:00Z"),
    ("updated_at", "2026-11-20T14:03:00Z"),
    ("full_name_hash", "0" * 64),
    ("colour", "blue"),
]


# A failed update must change nothing: one or two bad values of each kind are enough to show it.
PATCH_BAD_VALUES = [
    ("transaction_amount", "0"),
    ("transaction_amount", "1.005"),
    ("transaction_amount", "Infinity"),
    ("transaction_amount", 1000000000000),
    ("transaction_type", "refund"),
    ("user_id", 0),
    ("user_id", "42"),
    ("user_id", 2**63),
    ("full_name", "   "),
    ("full_name", "Ama\x00Mensah"),
    ("full_name", "a" * 256),
    ("transaction_date", "2026-02-30"),
    ("transaction_date", "9999-12-31T23:59:59Z"),
    ("id", 5),
    ("colour", "blue"),
]


def assert_400_naming(response, field: str) -> None:
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert {error["attr"] for error in body["errors"]} == {field}
    assert all(error["code"] and error["detail"] for error in body["errors"])


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_bad_field_on_create_is_a_400_naming_it(write_client, txn_body, field, value):
    response = write_client.post(LIST_URL, {**txn_body, field: value}, format="json")

    assert_400_naming(response, field)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(("field", "value"), PATCH_BAD_VALUES)
def test_bad_field_on_patch_is_a_400_that_changes_nothing(write_client, create_txn, field, value):
    txn = create_txn()

    response = write_client.patch(detail_url(txn["id"]), {field: value}, format="json")

    assert_400_naming(response, field)
    assert write_client.get(detail_url(txn["id"])).json() == txn


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('"transaction_amount": NaN', "transaction_amount"),
        ('"transaction_amount": Infinity', "transaction_amount"),
        ('"transaction_amount": -Infinity', "transaction_amount"),
        ('"transaction_amount": 1.005', "transaction_amount"),
        ('"transaction_amount": 1e999999', "transaction_amount"),
        ('"transaction_amount": -5.5', "transaction_amount"),
        ('"transaction_amount": 0.0', "transaction_amount"),
        ('"user_id": 4.2', "user_id"),
        ('"user_id": 42.0', "user_id"),
        ('"user_id": 1e3', "user_id"),
        ('"user_id": NaN', "user_id"),
        ('"full_name": NaN', "full_name"),
        ('"transaction_type": NaN', "transaction_type"),
        ('"transaction_date": Infinity', "transaction_date"),
    ],
)
def test_bad_json_number_is_a_400_naming_the_field(write_client, txn_body, raw, field):
    others = ", ".join(f'"{name}": "{value}"' for name, value in txn_body.items() if name not in (field, "user_id"))
    user_id = "" if field == "user_id" else '"user_id": 42, '
    response = write_client.post(LIST_URL, f"{{{user_id}{others}, {raw}}}", content_type="application/json")

    assert_400_naming(response, field)


@pytest.mark.parametrize(
    "raw", ['"full_name": "Ama\\ud800Mensah"', '"transaction_type": "\\udfff"', '"\\ud800": 1', '"x": [["\\ud800"]]']
)
def test_a_lone_surrogate_anywhere_is_a_400(write_client, txn_body, raw):
    others = ", ".join(f'"{name}": "{value}"' for name, value in txn_body.items() if name != "user_id")
    response = write_client.post(LIST_URL, f'{{"user_id": 42, {others}, {raw}}}', content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert not Transaction.objects.exists()


def test_a_surrogate_pair_is_a_valid_character(write_client, txn_body):
    others = ", ".join(
        f'"{name}": "{value}"' for name, value in txn_body.items() if name not in ("user_id", "full_name")
    )
    body = f'{{"user_id": 42, "full_name": "Ama \\ud83d\\ude00", {others}}}'

    response = write_client.post(LIST_URL, body, content_type="application/json")

    assert response.json()["full_name"] == "Ama \U0001f600"


@pytest.mark.parametrize(
    "field", ["user_id", "full_name", "transaction_date", "transaction_amount", "transaction_type"]
)
def test_every_field_is_required_on_create(write_client, txn_body, field):
    del txn_body[field]

    response = write_client.post(LIST_URL, txn_body, format="json")

    assert_400_naming(response, field)
    assert response.json()["errors"][0]["code"] == "required"


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("transaction_amount", "0.01", "0.01"),
        ("transaction_amount", "999999999999.99", "999999999999.99"),
        ("transaction_amount", 12, "12.00"),
        ("transaction_amount", 12.5, "12.50"),
        ("transaction_amount", " 7.1 ", "7.10"),
        ("transaction_amount", "1E2", "100.00"),
        ("transaction_amount", "5.000", "5.00"),
        ("user_id", 1, 1),
        ("user_id", MAX_USER_ID, MAX_USER_ID),
        ("full_name", "  Ama   Mensah ", "Ama   Mensah"),
        ("full_name", "é" * 255, "é" * 255),
        ("full_name", "Zoë Ọlá 李小龍", "Zoë Ọlá 李小龍"),
        ("transaction_date", "1900-01-01T00:00:00Z", "1900-01-01T00:00:00Z"),
        ("transaction_date", "2026-11-20T15:03:00+01:00", "2026-11-20T14:03:00Z"),
        ("transaction_date", "2026-11-20T14:03:00.250Z", "2026-11-20T14:03:00.250000Z"),
        ("transaction_type", "debit", "debit"),
    ],
)
def test_edge_values_that_follow_the_rules_are_accepted(write_client, txn_body, field, value, stored):
    response = write_client.post(LIST_URL, {**txn_body, field: value}, format="json")

    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()[field] == stored


def test_a_date_a_little_in_the_future_is_accepted_but_not_more(write_client, txn_body):
    near = write_client.post(LIST_URL, {**txn_body, "transaction_date": _in_minutes(3)}, format="json")
    far = write_client.post(LIST_URL, {**txn_body, "transaction_date": _in_minutes(7)}, format="json")

    assert near.status_code == HTTPStatus.CREATED
    assert_400_naming(far, "transaction_date")
    assert far.json()["errors"][0]["code"] == "future"


@override_settings(TIME_ZONE="America/New_York")
def test_naive_date_time_means_time_zone(write_client, txn_body):
    response = write_client.post(LIST_URL, {**txn_body, "transaction_date": "2026-11-20T14:03:00"}, format="json")

    assert response.json()["transaction_date"] == "2026-11-20T19:03:00Z"


@override_settings(TIME_ZONE="Asia/Tokyo")
def test_bare_date_means_start_of_that_day_in_time_zone(write_client, txn_body):
    response = write_client.post(LIST_URL, {**txn_body, "transaction_date": "2026-11-20"}, format="json")

    assert response.json()["transaction_date"] == "2026-11-19T15:00:00Z"


def test_bare_date_in_utc_is_midnight(write_client, txn_body):
    response = write_client.post(LIST_URL, {**txn_body, "transaction_date": "2026-11-20"}, format="json")

    assert response.json()["transaction_date"] == "2026-11-20T00:00:00Z"


def test_several_bad_fields_are_all_named(write_client, txn_body):
    body = {**txn_body, "user_id": 0, "transaction_type": "refund", "colour": "blue"}

    response = write_client.post(LIST_URL, body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    # Unknown fields are reported first, alone: the body's shape is checked before its values.
    assert {error["attr"] for error in response.json()["errors"]} == {"colour"}
    response = write_client.post(LIST_URL, {**txn_body, "user_id": 0, "transaction_type": "refund"}, format="json")
    assert {error["attr"] for error in response.json()["errors"]} == {"user_id", "transaction_type"}


@pytest.mark.parametrize("body", [[], ["a"], "a string", 42, None, True])
def test_a_body_that_is_not_an_object_is_a_400(write_client, body):
    import json

    response = write_client.post(LIST_URL, json.dumps(body), content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json()["type"] == "validation_error"


@pytest.mark.parametrize(
    "missing", ["user_id", "full_name", "transaction_date", "transaction_amount", "transaction_type"]
)
def test_put_requires_all_five_fields_and_changes_nothing_without_them(write_client, create_txn, txn_body, missing):
    txn = create_txn()
    changed = {**txn_body, "full_name": "Kofi Boateng", "transaction_amount": "1.00"}
    del changed[missing]

    response = write_client.put(detail_url(txn["id"]), changed, format="json")

    assert_400_naming(response, missing)
    assert write_client.get(detail_url(txn["id"])).json() == txn


def test_failed_put_changes_nothing(write_client, create_txn, txn_body):
    txn = create_txn()

    response = write_client.put(
        detail_url(txn["id"]), {**txn_body, "user_id": 7, "transaction_amount": "-3"}, format="json"
    )

    assert_400_naming(response, "transaction_amount")
    assert write_client.get(detail_url(txn["id"])).json() == txn
    assert not write_client.get("/api/v1/users/7/transactions/").json()["results"]
