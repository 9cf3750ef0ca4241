"""Each rule has the same words wherever it is checked: the API's body, the list's filters, the analytics periods,
the admin's transaction form and the admin's analytics form (all from transactions/rules.py)."""

from http import HTTPStatus

import pytest
from django.test import Client

from transactions.models import Transaction
from transactions.rules import INVALID, MESSAGES, RANGES

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/transactions/transaction/add/"
ANALYTICS_PAGE = "/admin/user-analytics/"
USER = 12345678
REVERSED_DATES = RANGES["date_from"][1]
REVERSED_AMOUNTS = RANGES["amount_min"][1]


@pytest.fixture
def boss(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def body_error(write_client, txn_body, field, value) -> str:
    response = write_client.post("/api/v1/transactions/", {**txn_body, field: value}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    (error,) = [error for error in response.json()["errors"] if error["attr"] == field]
    return error["detail"]


def query_error(client, url, query: str, name: str) -> str:
    response = client.get(f"{url}?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST, response.content
    (error,) = [error for error in response.json()["errors"] if error["attr"] == name]
    return error["detail"]


def form_error(boss, field, value) -> str:
    data = {
        "user_id": USER,
        "full_name": "Ama Mensah",
        "transaction_date_0": "2026-03-02",
        "transaction_date_1": "12:00:00",
        "transaction_amount": "125.50",
        "transaction_type": "credit",
        field: value,
    }
    response = boss.post(ADD_URL, data)
    assert response.status_code == HTTPStatus.OK  # the form again, with its errors
    (message,) = response.context["adminform"].form.errors[field]
    return message


def analytics_form_error(boss, query: dict, field) -> str:
    response = boss.get(ANALYTICS_PAGE, {"user_id": USER, **query})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    (message,) = response.context["form"].errors[field]
    return message


@pytest.mark.parametrize("value", ["0", "9223372036854775808"])
def test_a_user_id_out_of_range(write_client, read_client, txn_body, boss, value):
    expected = MESSAGES["range"]

    assert body_error(write_client, txn_body, "user_id", int(value)) == expected
    assert query_error(read_client, "/api/v1/transactions/", f"user_id={value}", "user_id") == expected
    assert query_error(read_client, "/api/v1/alerts/", f"user_id={value}", "user_id") == expected
    assert analytics_form_error(boss, {"user_id": value}, "user_id") == expected
    assert form_error(boss, "user_id", value) == expected


@pytest.mark.parametrize("value", ["abc", "4.5", "\u0664\u0662", "\uff14\uff12"])
def test_a_user_id_that_is_not_a_whole_number_in_ascii_digits(read_client, boss, value):
    expected = INVALID["integer"]

    assert query_error(read_client, "/api/v1/transactions/", f"user_id={value}", "user_id") == expected
    assert query_error(read_client, "/api/v1/alerts/", f"user_id={value}", "user_id") == expected
    assert analytics_form_error(boss, {"user_id": value}, "user_id") == expected
    assert form_error(boss, "user_id", value) == expected
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("1.234", "max_decimal_places"),
        ("1000000000000", "max_value"),
        ("abc", None),
        ("NaN", None),
        ("\u0665", None),
        ("1\uff10.00", None),
    ],
)
def test_an_amount(write_client, read_client, txn_body, boss, value, code):
    expected = MESSAGES[code] if code else INVALID["decimal"]

    assert body_error(write_client, txn_body, "transaction_amount", value) == expected
    assert query_error(read_client, "/api/v1/transactions/", f"amount_min={value}", "amount_min") == expected
    assert query_error(read_client, "/api/v1/transactions/", f"amount_max={value}", "amount_max") == expected
    assert form_error(boss, "transaction_amount", value) == expected
    assert not Transaction.objects.exists()


def test_django_s_own_wording_is_gone_from_the_amount_filter(read_client):
    detail = query_error(read_client, "/api/v1/transactions/", "amount_min=1.234", "amount_min")

    assert detail == "Must have at most 2 decimal places."
    assert "Ensure" not in detail


@pytest.mark.parametrize("value", ["2026-02-30", "yesterday", "2026-11-20T00:00:00", "2026-11-2\u0660"])
def test_a_day(read_client, boss, value):
    expected = INVALID["day"]
    urls = ["/api/v1/transactions/", f"/api/v1/users/{USER}/analytics/", "/api/v1/analytics/overview/"]

    for url in urls:
        assert query_error(read_client, url, f"date_from={value}", "date_from") == expected, url
        assert query_error(read_client, url, f"date_to={value}", "date_to") == expected, url
    assert analytics_form_error(boss, {"date_from": value}, "date_from") == expected


def test_a_reversed_period_is_the_same_400_everywhere(read_client, boss):
    query = "date_from=2026-11-21&date_to=2026-11-20"
    urls = [
        "/api/v1/transactions/",
        f"/api/v1/users/{USER}/analytics/",
        f"/api/v1/users/{USER}/analytics/daily/",
        "/api/v1/analytics/overview/",
    ]

    for url in urls:
        response = read_client.get(f"{url}?{query}")
        assert response.status_code == HTTPStatus.BAD_REQUEST, url
        assert response.json()["errors"] == [{"code": "invalid", "detail": REVERSED_DATES, "attr": "date_from"}], url
    assert analytics_form_error(boss, {"date_from": "2026-11-21", "date_to": "2026-11-20"}, "date_from") == (
        REVERSED_DATES
    )


def test_a_reversed_amount_range_is_a_400_naming_amount_min(read_client):
    response = read_client.get("/api/v1/transactions/?amount_min=30&amount_max=20.00")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"] == [{"code": "invalid", "detail": REVERSED_AMOUNTS, "attr": "amount_min"}]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Ama \u202eMensah", "bidi_controls"),
        ("Ama \u2067Mensah", "bidi_controls"),
        ("Ama\x07Mensah", "control_characters"),
    ],
)
def test_a_name(write_client, txn_body, boss, value, code):
    assert body_error(write_client, txn_body, "full_name", value) == MESSAGES[code]
    assert form_error(boss, "full_name", value) == MESSAGES[code]
    assert not Transaction.objects.exists()


def test_the_admin_form_still_saves_a_good_transaction_through_the_rules(boss):
    response = boss.post(
        ADD_URL,
        {
            "user_id": str(USER),
            "full_name": "Ama Mensah",
            "transaction_date_0": "2026-03-02",
            "transaction_date_1": "12:00:00",
            "transaction_amount": " 125.5 ",
            "transaction_type": "debit",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    txn = Transaction.objects.get()
    assert (txn.user_id, str(txn.transaction_amount), txn.full_name) == (USER, "125.50", "Ama Mensah")
