"""What the analytics figures mean (docs/api.md), case by case, through the HTTP API."""

from http import HTTPStatus

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db

ANALYTICS = "/api/v1/users/{}/analytics/"
DAILY = "/api/v1/users/{}/analytics/daily/"
OVERVIEW = "/api/v1/analytics/overview/"


def test_figures_of_a_user(create, read_client):
    create(transaction_amount="100.00", transaction_type="credit", transaction_date="2026-03-01T10:00:00Z")
    create(transaction_amount="20.50", transaction_type="debit", transaction_date="2026-03-02T10:00:00Z")
    create(transaction_amount="0.01", transaction_type="credit", transaction_date="2026-03-02T11:00:00Z")
    create(user_id=7, transaction_amount="999.00")

    response = read_client.get(ANALYTICS.format(42))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "user_id": 42,
        "date_from": None,
        "date_to": None,
        "transaction_count": 3,
        "average_transaction_value": "40.17",
        "busiest_day": {"date": "2026-03-02", "transaction_count": 2},
        "credit": {"count": 2, "total": "100.01"},
        "debit": {"count": 1, "total": "20.50"},
        "net": "79.51",
    }


@pytest.mark.parametrize(
    ("amounts", "average"),
    [
        (["0.01", "0.02"], "0.02"),  # 0.015 rounds half up
        (["0.01", "0.01", "0.02"], "0.01"),  # 0.01333...
        (["10.00", "10.01"], "10.01"),  # 10.005
        (["1.00", "2.00", "2.00"], "1.67"),  # 1.6666...
    ],
)
def test_average_rounds_half_up(create, read_client, amounts, average):
    for amount in amounts:
        create(transaction_amount=amount)

    assert read_client.get(ANALYTICS.format(42)).json()["average_transaction_value"] == average


def test_busiest_day_tie_goes_to_the_earliest(create, read_client):
    for date in ["2026-05-03T09:00:00Z", "2026-05-03T10:00:00Z", "2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z"]:
        create(transaction_date=date)
    create(transaction_date="2026-05-02T09:00:00Z")

    assert read_client.get(ANALYTICS.format(42)).json()["busiest_day"] == {
        "date": "2026-05-01",
        "transaction_count": 2,
    }


@override_settings(TIME_ZONE="America/New_York")
def test_days_are_calendar_days_in_time_zone(create, read_client):
    # 03:30 UTC on the 2nd is still the 1st in New York (UTC-4 in May).
    create(transaction_date="2026-05-02T03:30:00Z")
    create(transaction_date="2026-05-02T04:30:00Z")

    daily = read_client.get(DAILY.format(42)).json()
    only_second = read_client.get(ANALYTICS.format(42), {"date_from": "2026-05-02", "date_to": "2026-05-02"}).json()

    assert [row["date"] for row in daily] == ["2026-05-01", "2026-05-02"]
    assert only_second["transaction_count"] == 1


def test_period_is_inclusive_at_both_ends(create, read_client):
    for date in ["2026-04-30T23:59:59Z", "2026-05-01T00:00:00Z", "2026-05-31T23:59:59Z", "2026-06-01T00:00:00Z"]:
        create(transaction_date=date)

    body = read_client.get(ANALYTICS.format(42), {"date_from": "2026-05-01", "date_to": "2026-05-31"}).json()

    assert body["transaction_count"] == 2
    assert (body["date_from"], body["date_to"]) == ("2026-05-01", "2026-05-31")


def test_one_sided_periods(create, read_client):
    create(transaction_date="2026-01-10T00:00:00Z")
    create(transaction_date="2026-02-10T00:00:00Z")

    assert read_client.get(ANALYTICS.format(42), {"date_from": "2026-02-01"}).json()["transaction_count"] == 1
    assert read_client.get(ANALYTICS.format(42), {"date_to": "2026-02-01"}).json()["transaction_count"] == 1


def test_empty_period_is_200_with_zeros(create, read_client):
    create(transaction_date="2026-01-10T00:00:00Z")

    response = read_client.get(ANALYTICS.format(42), {"date_from": "2025-01-01", "date_to": "2025-12-31"})

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["transaction_count"] == 0
    assert body["average_transaction_value"] is None
    assert body["busiest_day"] is None
    assert body["credit"] == {"count": 0, "total": "0.00"}
    assert body["debit"] == {"count": 0, "total": "0.00"}
    assert body["net"] == "0.00"
    assert read_client.get(DAILY.format(42), {"date_from": "2025-01-01", "date_to": "2025-12-31"}).json() == []


@pytest.mark.parametrize("url", [ANALYTICS.format(404), DAILY.format(404)])
def test_user_without_transactions_is_404(create, read_client, url):
    create()

    response = read_client.get(url)

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["type"] == "client_error"


def test_user_whose_only_transaction_was_deleted_is_404(create, write_client, read_client):
    txn = create()
    write_client.delete(f"/api/v1/transactions/{txn['id']}/")

    assert read_client.get(ANALYTICS.format(42)).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("url", [ANALYTICS.format(42), DAILY.format(42), OVERVIEW])
@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_from": "2026-1-5"}, "date_from"),
        ({"date_to": "20260105"}, "date_to"),
        ({"date_to": "2026-01-05T00:00:00"}, "date_to"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-31"}, "date_from"),
    ],
)
def test_bad_or_reversed_dates_are_400(create, read_client, url, query, attr):
    create()

    response = read_client.get(url, query)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["type"] == "validation_error"
    assert [error["attr"] for error in response.json()["errors"]] == [attr]


def test_daily_rows_oldest_first(create, read_client):
    create(transaction_date="2026-03-02T10:00:00Z", transaction_amount="5.00", transaction_type="debit")
    create(transaction_date="2026-03-01T10:00:00Z", transaction_amount="7.25")
    create(transaction_date="2026-03-01T12:00:00Z", transaction_amount="1.00", transaction_type="debit")

    assert read_client.get(DAILY.format(42)).json() == [
        {"date": "2026-03-01", "transaction_count": 2, "credit_total": "7.25", "debit_total": "1.00"},
        {"date": "2026-03-02", "transaction_count": 1, "credit_total": "0.00", "debit_total": "5.00"},
    ]


def test_overview_counts_distinct_users_in_the_period(create, read_client):
    create(user_id=1, transaction_date="2026-03-01T10:00:00Z", transaction_amount="10.00")
    create(user_id=1, transaction_date="2026-03-02T10:00:00Z", transaction_amount="10.00")
    create(user_id=2, transaction_date="2026-03-02T11:00:00Z", transaction_amount="5.00", transaction_type="debit")
    create(user_id=3, transaction_date="2026-04-01T10:00:00Z", transaction_amount="1.00")

    march = read_client.get(OVERVIEW, {"date_from": "2026-03-01", "date_to": "2026-03-31"})
    everything = read_client.get(OVERVIEW).json()

    assert march.status_code == HTTPStatus.OK
    assert march.json() == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-31",
        "transaction_count": 3,
        "user_count": 2,
        "credit": {"count": 2, "total": "20.00"},
        "debit": {"count": 1, "total": "5.00"},
        "net": "15.00",
        "busiest_day": {"date": "2026-03-02", "transaction_count": 2},
    }
    assert (everything["transaction_count"], everything["user_count"]) == (4, 3)


def test_overview_of_an_empty_service(read_client):
    body = read_client.get(OVERVIEW).json()

    assert (body["transaction_count"], body["user_count"], body["busiest_day"]) == (0, 0, None)


@pytest.mark.parametrize("url", [ANALYTICS.format(42), DAILY.format(42), OVERVIEW])
def test_analytics_needs_authentication(anon_client, url):
    assert anon_client.get(url).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("url", [ANALYTICS.format(42), DAILY.format(42), OVERVIEW])
def test_analytics_needs_the_view_permission(db, url):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_user(username="nobody"))

    assert client.get(url).status_code == HTTPStatus.FORBIDDEN
