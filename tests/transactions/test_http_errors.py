"""Requests that break the protocol rather than a field: JSON errors, never HTML or a 500."""

import json
from http import HTTPStatus

import pytest
from django.test import override_settings

from transactions.models import Transaction

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db

ONE_MIB = 1024 * 1024


def assert_error_shape(response, status: HTTPStatus, error_type: str | None = "client_error") -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["type"] == error_type if error_type else body["type"] in ("client_error", "validation_error")
    assert body["errors"]
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"}
    return body


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        '{"user_id": 42,}',
        "{'user_id': 42}",
        "nul\x00l",
        '{"user_id": 1' + "0" * 5000 + "}",
        '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"a": ' + '{"b": ' * 50_000 + "1" + "}" * 50_000 + "}",
        "\ufeff{}",
    ],
    ids=["truncated", "trailing-comma", "single-quotes", "nul", "huge-int", "deep-list", "deep-dict", "bom"],
)
def test_malformed_json_is_a_400(write_client, raw):
    response = write_client.post(LIST_URL, raw, content_type="application/json")

    body = assert_error_shape(response, HTTPStatus.BAD_REQUEST)
    assert body["errors"][0]["attr"] is None
    assert not Transaction.objects.exists()


def test_invalid_utf8_is_a_400(write_client):
    response = write_client.post(LIST_URL, b'{"full_name": "\xff\xfe"}', content_type="application/json")

    assert_error_shape(response, HTTPStatus.BAD_REQUEST)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [("", "application/json"), ("{}", "application/json; charset=no-such-charset"), ("{}", "application/json")],
)
def test_empty_body_or_unknown_charset_is_a_400(write_client, raw, content_type):
    response = write_client.post(LIST_URL, raw, content_type=content_type)

    assert_error_shape(response, HTTPStatus.BAD_REQUEST, error_type=None)


def test_nesting_within_the_limit_in_an_unknown_field_is_a_validation_400(write_client, txn_body):
    deep = "[" * 60 + "]" * 60
    raw = json.dumps(txn_body)[:-1] + f', "extra": {deep}}}'

    response = write_client.post(LIST_URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep")

    body = assert_error_shape(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert body["errors"][0]["attr"] == "extra"


@pytest.mark.parametrize("depth", [70, 900])
def test_nesting_past_the_limit_is_a_parse_400(write_client, txn_body, depth):
    deep = "[" * depth + "]" * depth
    raw = json.dumps(txn_body)[:-1] + f', "extra": {deep}}}'

    response = write_client.post(LIST_URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep")

    body = assert_error_shape(response, HTTPStatus.BAD_REQUEST)
    assert body["errors"][0]["code"] == "parse_error"
    assert "nested deeper than 64 levels" in body["errors"][0]["detail"]
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/csv"]
)
def test_wrong_content_type_is_a_415(write_client, txn_body, content_type):
    response = write_client.post(LIST_URL, json.dumps(txn_body), content_type=content_type)

    body = assert_error_shape(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    assert body["errors"][0]["code"] == "unsupported_media_type"
    assert not Transaction.objects.exists()


def test_wrong_content_type_on_update_is_a_415(write_client, create_txn):
    txn = create_txn()

    response = write_client.patch(detail_url(txn["id"]), "user_id=7", content_type="application/x-www-form-urlencoded")

    assert_error_shape(response, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    assert write_client.get(detail_url(txn["id"])).json() == txn


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_body_over_one_mib_is_a_413(write_client, create_txn, txn_body, method):
    url = LIST_URL if method == "post" else detail_url(create_txn()["id"])
    raw = json.dumps({**txn_body, "full_name": "x" * ONE_MIB})

    response = getattr(write_client, method)(url, raw, content_type="application/json")

    body = assert_error_shape(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    assert body["errors"][0]["code"] == "request_too_large"


def test_body_of_exactly_one_mib_is_parsed(write_client, txn_body):
    raw = json.dumps(txn_body)
    raw = raw[:-1] + ', "padding": "' + "x" * (ONE_MIB - len(raw) - 15) + '"}'
    assert len(raw.encode()) <= ONE_MIB

    response = write_client.post(LIST_URL, raw, content_type="application/json")

    # Parsed, so the unknown field is named: the size alone is no error.
    assert_error_shape(response, HTTPStatus.BAD_REQUEST, "validation_error")


def test_body_limit_also_guards_anonymous_requests(anon_client):
    response = anon_client.post(LIST_URL, "x" * (ONE_MIB + 1), content_type="application/json")

    assert_error_shape(response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


def test_non_numeric_content_length_is_a_400(write_client):
    response = write_client.generic("POST", LIST_URL, "{}", content_type="application/json", CONTENT_LENGTH="ten")

    assert_error_shape(response, HTTPStatus.BAD_REQUEST)


@pytest.mark.parametrize(
    ("method", "url"),
    [("put", LIST_URL), ("patch", LIST_URL), ("delete", LIST_URL), ("post", f"{LIST_URL}1/")],
)
def test_wrong_method_is_a_405(write_client, method, url):
    response = getattr(write_client, method)(url, {}, format="json")

    body = assert_error_shape(response, HTTPStatus.METHOD_NOT_ALLOWED)
    assert body["errors"][0]["code"] == "method_not_allowed"


def test_wrong_method_on_user_history_is_a_405(write_client):
    response = write_client.post("/api/v1/users/42/transactions/", {}, format="json")

    assert_error_shape(response, HTTPStatus.METHOD_NOT_ALLOWED)


@pytest.mark.parametrize(
    "url",
    [
        "/api/nothing-here/",
        "/api/v2/",
        "/api/v1/transactions/abc/",
        "/api/v1/transactions/-1/",
        "/api/v1/transactions/99999999999999999999999/",
        "/api/v1/transactions/9223372036854775807/",
        "/api/v1/users/0/transactions/",
        "/api/v1/users/9223372036854775808/transactions/",
        "/api/v1/users/abc/transactions/",
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_url_is_a_json_404(write_client, url, debug):
    with override_settings(DEBUG=debug):
        response = write_client.get(url)

    body = assert_error_shape(response, HTTPStatus.NOT_FOUND)
    assert body["errors"][0]["code"] == "not_found"


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["get", "post"])
def test_missing_trailing_slash_is_a_json_404_that_says_so(write_client, txn_body, debug, method):
    with override_settings(DEBUG=debug):
        response = getattr(write_client, method)("/api/v1/transactions", txn_body, format="json")

    body = assert_error_shape(response, HTTPStatus.NOT_FOUND)
    assert "/api/v1/transactions/" in body["errors"][0]["detail"]
    assert not Transaction.objects.exists()


def test_unexpected_error_is_a_json_500_without_details(write_client, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("transactions.views.services.transaction_create", explode)
    write_client.raise_request_exception = False

    response = write_client.post(
        LIST_URL,
        {
            "user_id": 1,
            "full_name": "A",
            "transaction_date": "2026-01-01",
            "transaction_amount": "1",
            "transaction_type": "debit",
        },
        format="json",
    )

    body = assert_error_shape(response, HTTPStatus.INTERNAL_SERVER_ERROR, "server_error")
    assert "secret" not in response.content.decode()
    assert body["errors"][0]["attr"] is None


def test_session_write_without_csrf_token_is_a_json_403(client, txn_body, django_user_model):
    from transactions.clients import api_client_create

    user = api_client_create(name="staff-writer", scope="write").user
    csrf_client = type(client)(enforce_csrf_checks=True)
    csrf_client.force_login(user)

    response = csrf_client.post(LIST_URL, json.dumps(txn_body), content_type="application/json")

    assert_error_shape(response, HTTPStatus.FORBIDDEN)


def test_a_flood_of_unknown_fields_names_only_the_first_ten(write_client):
    raw = json.dumps({f"{i}": 0 for i in range(50_000)})

    response = write_client.post(LIST_URL, raw, content_type="application/json")

    body = assert_error_shape(response, HTTPStatus.BAD_REQUEST, "validation_error")
    assert [error["attr"] for error in body["errors"]] == [str(i) for i in range(10)]


def test_too_many_query_parameters_is_a_400(read_client):
    query = "&".join(f"x{i}=1" for i in range(1200))

    response = read_client.get(f"{LIST_URL}?{query}")

    assert_error_shape(response, HTTPStatus.BAD_REQUEST)


def test_a_disallowed_host_is_a_json_400(read_client):
    response = read_client.get(LIST_URL, HTTP_HOST="evil.example")

    assert_error_shape(response, HTTPStatus.BAD_REQUEST)
