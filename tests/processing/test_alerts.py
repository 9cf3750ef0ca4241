"""Alert rules and the alerts API."""

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from analytics.models import Alert

pytestmark = pytest.mark.django_db

ALERTS = "/api/v1/alerts/"


def rules_of(txn: dict) -> list[str]:
    return sorted(Alert.objects.filter(transaction_id=txn["id"]).values_list("rule", flat=True))


@override_settings(LARGE_TRANSACTION_THRESHOLD=Decimal("1000.00"))
@pytest.mark.parametrize(
    ("amount", "expected"), [("999.99", []), ("1000.00", ["large_amount"]), ("1000.01", ["large_amount"])]
)
def test_large_amount_rule_at_below_and_above_the_threshold(write_api, amount, expected):
    assert rules_of(write_api.create(transaction_amount=amount)) == expected


@pytest.mark.parametrize(
    ("amount", "expected"), [("1999.99", []), ("2000.00", ["unusual_amount"]), ("2000.01", ["unusual_amount"])]
)
def test_unusual_amount_rule_at_below_and_above_ten_times_the_previous_average(write_api, amount, expected):
    write_api.create(transaction_amount="100.00", transaction_date="2026-01-01T10:00:00Z")
    write_api.create(transaction_amount="300.00", transaction_type="debit", transaction_date="2026-01-02T10:00:00Z")

    txn = write_api.create(transaction_amount=amount, transaction_date="2026-01-03T10:00:00Z")

    assert rules_of(txn) == expected


def test_a_users_first_transaction_has_no_average_to_compare_with(write_api):
    assert rules_of(write_api.create(transaction_amount="9999.99")) == []


def test_before_means_earlier_in_history_order_not_earlier_recorded(write_api):
    write_api.create(user_id=1, transaction_amount="100.00", transaction_date="2026-01-02T10:00:00Z")
    backdated = write_api.create(user_id=1, transaction_amount="5000.00", transaction_date="2026-01-01T10:00:00Z")
    write_api.create(user_id=2, transaction_amount="100.00", transaction_date="2026-01-02T10:00:00Z")
    same_moment = write_api.create(user_id=2, transaction_amount="1000.00", transaction_date="2026-01-02T10:00:00Z")

    assert rules_of(backdated) == []  # nothing before it
    assert rules_of(same_moment) == ["unusual_amount"]  # same date, smaller id: before it


@override_settings(LARGE_TRANSACTION_THRESHOLD=Decimal("1000.00"))
def test_both_rules_raise_one_alert_each_and_an_update_never_duplicates(write_api):
    write_api.create(transaction_amount="10.00", transaction_date="2026-01-01T10:00:00Z")
    txn = write_api.create(transaction_amount="50.00", transaction_date="2026-01-02T10:00:00Z")
    assert rules_of(txn) == []

    write_api.patch(txn["id"], transaction_amount="5000.00")
    write_api.patch(txn["id"], transaction_amount="6000.00")

    assert rules_of(txn) == ["large_amount", "unusual_amount"]
    assert Alert.objects.get(transaction_id=txn["id"], rule="large_amount").transaction_amount == 5000


@override_settings(LARGE_TRANSACTION_THRESHOLD=Decimal("1000.00"))
def test_alerts_are_listed_newest_first_filtered_and_paginated(write_api, read_client):
    first = write_api.create(user_id=1, transaction_amount="2000.00")
    second = write_api.create(user_id=1, transaction_amount="3000.00", transaction_date="2026-11-21T10:00:00Z")
    write_api.create(user_id=2, transaction_amount="4000.00")
    Alert.objects.filter(transaction_id=first["id"]).update(acknowledged=True)

    page = read_client.get(ALERTS, {"user_id": 1, "page_size": 1})
    assert page.status_code == HTTPStatus.OK
    body = page.json()
    assert [alert["transaction_id"] for alert in body["results"]] == [second["id"]]
    assert set(body["results"][0]) == {
        "id",
        "rule",
        "user_id",
        "transaction_id",
        "transaction_amount",
        "created_at",
        "acknowledged",
        "acknowledged_at",
    }
    assert body["results"][0]["transaction_amount"] == "3000.00"
    following = read_client.get(body["next"]).json()
    assert [alert["transaction_id"] for alert in following["results"]] == [first["id"]]
    assert following["next"] is None

    unacknowledged = read_client.get(ALERTS, {"user_id": 1, "acknowledged": "false"}).json()["results"]
    assert [alert["transaction_id"] for alert in unacknowledged] == [second["id"]]
    acknowledged = read_client.get(ALERTS, {"acknowledged": "true"}).json()["results"]
    assert [alert["transaction_id"] for alert in acknowledged] == [first["id"]]


@pytest.mark.parametrize("query", [{"user_id": "abc"}, {"user_id": "0"}, {"acknowledged": "maybe"}])
def test_a_malformed_alert_filter_is_a_400(read_client, query):
    response = read_client.get(ALERTS, query)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"][0]["attr"] == next(iter(query))


def test_alerts_need_credentials_and_the_view_permission(anon_client):
    assert anon_client.get(ALERTS).status_code == HTTPStatus.UNAUTHORIZED
    nobody = get_user_model().objects.create_user(username="no-permissions")
    client = APIClient()
    client.force_login(nobody)
    assert client.get(ALERTS).status_code == HTTPStatus.FORBIDDEN
    assert client.get("/api/v1/users/42/credit-profile/").status_code == HTTPStatus.FORBIDDEN
