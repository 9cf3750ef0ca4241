"""A strict API: unknown or repeated query parameters, repeated JSON keys, digits other than ASCII, and bodies that
are not objects are all 400s that name what is wrong, and none of them changes or widens anything."""

import json
from http import HTTPStatus

import pytest

from transactions.models import Transaction
from transactions.rules import INVALID, MESSAGES

from .conftest import LIST_URL, detail_url, history_url

pytestmark = pytest.mark.django_db

USER = 12345678
NOT_AN_OBJECT = "The body must be a JSON object of the transaction's fields."


@pytest.fixture
def txn(create_txn):
    return create_txn(user_id=USER)


def _read_urls(txn_id: int) -> list[str]:
    """Every endpoint that reads: lists, a user's history, analytics, and the single records."""
    return [
        LIST_URL,
        detail_url(txn_id),
        history_url(USER),
        f"/api/v1/users/{USER}/analytics/",
        f"/api/v1/users/{USER}/analytics/daily/",
        "/api/v1/analytics/overview/",
        "/api/v1/alerts/",
        f"/api/v1/users/{USER}/credit-profile/",
    ]


def _errors(response) -> dict[str, dict]:
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    return {error["attr"]: error for error in body["errors"]}


# --- Query parameters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("index", range(8))
def test_an_unknown_query_parameter_is_a_400_naming_it_on_every_read(read_client, txn, index):
    url = _read_urls(txn["id"])[index]

    errors = _errors(read_client.get(url, {"userid": USER, "ordering": "-id"}))

    assert set(errors) == {"userid", "ordering"}
    assert {error["code"] for error in errors.values()} == {"unknown_parameter"}
    assert errors["userid"]["detail"] == MESSAGES["unknown_parameter"]


def test_the_typo_of_the_issue_no_longer_lists_everyone(read_client, create_txn):
    create_txn(user_id=USER)
    create_txn(user_id=USER + 1)

    errors = _errors(read_client.get(f"{LIST_URL}?userid={USER}"))

    assert set(errors) == {"userid"}


@pytest.mark.parametrize(
    ("url", "known"),
    [
        (LIST_URL, "user_id=1&transaction_type=credit&date_from=2026-01-01&date_to=2026-12-31"),
        (LIST_URL, "amount_min=1&amount_max=2&page_size=5&cursor=&format=json"),
        (history_url(USER), "page_size=5&cursor=&format=json"),
        (f"/api/v1/users/{USER}/analytics/", "date_from=2026-01-01&date_to=2026-12-31&format=json"),
        (f"/api/v1/users/{USER}/analytics/daily/", "date_from=2026-01-01&format=json"),
        ("/api/v1/analytics/overview/", "date_to=2026-12-31&format=json"),
        ("/api/v1/alerts/", "user_id=1&acknowledged=false&rule=large_amount&page_size=5&format=json"),
        (f"/api/v1/users/{USER}/credit-profile/", "format=json"),
    ],
)
def test_the_parameters_an_endpoint_takes_are_known(read_client, txn, url, known):
    response = read_client.get(f"{url}?{known}")

    assert response.status_code in (HTTPStatus.OK, HTTPStatus.NOT_FOUND), response.content  # no profile yet: 404


@pytest.mark.parametrize("url", [detail_url(1), f"/api/v1/users/{USER}/credit-profile/"])
def test_list_parameters_are_unknown_where_there_is_no_list(read_client, txn, url):
    url = url.replace("/1/", f"/{txn['id']}/")

    errors = _errors(read_client.get(url, {"user_id": USER, "page_size": 5}))

    assert set(errors) == {"user_id", "page_size"}


def test_a_repeated_query_parameter_is_a_400_naming_it(read_client, txn):
    errors = _errors(read_client.get(f"{LIST_URL}?user_id={USER}&user_id={USER + 1}"))

    assert errors == {
        "user_id": {"code": "repeated_parameter", "detail": MESSAGES["repeated_parameter"], "attr": "user_id"}
    }


def test_writes_refuse_unknown_query_parameters_and_change_nothing(write_client, txn_body, txn):
    errors = _errors(write_client.post(f"{LIST_URL}?dry_run=1", txn_body, format="json"))
    assert set(errors) == {"dry_run"}
    errors = _errors(write_client.patch(f"{detail_url(txn['id'])}?force=1", {"user_id": 7}, format="json"))
    assert set(errors) == {"force"}

    assert list(Transaction.objects.values_list("user_id", flat=True)) == [USER]


def test_credentials_are_checked_before_query_parameters(anon_client):
    response = anon_client.get(LIST_URL, {"userid": 1})

    assert response.status_code == HTTPStatus.UNAUTHORIZED


def test_at_most_ten_unknown_parameters_are_named(read_client):
    query = "&".join(f"p{number}=1" for number in range(500))

    errors = _errors(read_client.get(f"{LIST_URL}?{query}"))

    assert len(errors) == 10


# --- JSON bodies ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ('{"user_id": 1, "full_name": "A B", "transaction_date": "2026-01-01", "transaction_type": "credit", '
         '"transaction_amount": "10.00", "transaction_amount": "99999.00"}', "transaction_amount"),
        ('{"user_id": 1, "user_id": 1}', "user_id"),
        ('{"a": {"b": 1, "b": 2}}', "b"),
        ('[{"x": 1}, {"y": 1, "y": 1}]', "y"),
        ('{"\\ud800": 1, "\\ud800": 2}', "\\ud800"),
    ],
)  # fmt: skip
def test_a_repeated_json_key_is_a_400_never_last_wins(write_client, raw, key):
    response = write_client.post(LIST_URL, raw, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    (error,) = response.json()["errors"]
    assert error["code"] == "parse_error"
    assert error["attr"] is None
    assert f'the key "{key}" is repeated' in error["detail"]
    assert not Transaction.objects.exists()


def test_a_repeated_key_on_update_changes_nothing(write_client, txn):
    raw = '{"transaction_amount": "10.00", "transaction_amount": "99999.00"}'

    response = write_client.patch(detail_url(txn["id"]), raw, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Transaction.objects.get().transaction_amount == 125.50


@pytest.mark.parametrize("body", [[], ["a"], "a string", 42, None, True, [{"user_id": 1}]])
@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_a_body_that_is_not_an_object_is_an_error_about_no_field(write_client, txn, body, method):
    url = LIST_URL if method == "post" else detail_url(txn["id"])

    response = getattr(write_client, method)(url, json.dumps(body), content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    assert response.json() == {
        "type": "validation_error",
        "errors": [{"code": "invalid", "detail": NOT_AN_OBJECT, "attr": None}],
    }


# --- Digits -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "amount", ["\u0665", "\uff15", "1\u0660.00", "10.\u0660\u0660", "\u0967\u0968", "1e\u0662", "\U0001d7d3"]
)
def test_an_amount_with_digits_other_than_ascii_is_a_400(write_client, txn_body, amount):
    errors = _errors(write_client.post(LIST_URL, {**txn_body, "transaction_amount": amount}, format="json"))

    assert errors["transaction_amount"]["detail"] == INVALID["decimal"]
    assert not Transaction.objects.exists()


def test_a_user_id_as_a_string_names_the_json_integer_it_needs(write_client, txn_body):
    errors = _errors(write_client.post(LIST_URL, {**txn_body, "user_id": "42"}, format="json"))

    assert errors["user_id"]["code"] == "invalid"
    assert "JSON integer" in errors["user_id"]["detail"]
    assert errors["user_id"]["detail"] == INVALID["json_integer"]


@pytest.mark.parametrize("path", ["/api/v1/transactions/\u0661/", "/api/v1/users/\u0661/transactions/"])
def test_an_id_in_a_path_is_ascii_digits_only(read_client, create_txn, path):
    create_txn(user_id=1)  # transaction 1 of user 1: an Arabic-Indic "1" must not find either

    response = read_client.get(path)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["type"] == "client_error"


def test_a_transaction_id_beyond_a_bigint_is_a_404(read_client):
    response = read_client.get(detail_url(2**63))

    assert response.status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("size", ["\u0665", "\uff15", "5.0", "abc", "-1", "0"])
def test_a_malformed_page_size_is_a_400_on_every_list(read_client, size):
    for url in (LIST_URL, history_url(USER), "/api/v1/alerts/"):
        errors = _errors(read_client.get(url, {"page_size": size}))

        assert set(errors) == {"page_size"}, url
