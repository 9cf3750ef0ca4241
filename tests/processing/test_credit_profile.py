"""The credit profile on hand-computed cases; the formula is in docs/api.md."""

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db


def profile(client, user_id: int = 42):
    return client.get(f"/api/v1/users/{user_id}/credit-profile/")


def test_no_profile_before_the_first_computation(read_client):
    response = profile(read_client)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["type"] == "client_error"


def test_a_single_credit(write_api, read_client):
    # net 1, ratio 0 -> 1, regularity 1/1, history 0 days, activity 1/100:
    # 0.30 + 0.20 + 0.20 + 0 + 0.001 = 0.701; 300 + round(550 * 0.701 = 385.55) = 686
    write_api.create(transaction_amount="100.00", transaction_date="2026-01-15T00:00:00Z")

    body = profile(read_client).json()

    assert body["score"] == 686
    assert body["inputs"] == {
        "transaction_count": 1,
        "credit_total": "100.00",
        "debit_total": "0.00",
        "net_flow": "100.00",
        "debit_credit_ratio": "0.0000",
        "history_days": 0,
        "active_months": 1,
        "span_months": 1,
        "components": {
            "net_flow": "1.0000",
            "debit_credit_ratio": "1.0000",
            "regularity": "1.0000",
            "history_length": "0.0000",
            "activity": "0.0100",
        },
    }
    assert body["user_id"] == 42
    assert body["computed_at"]


def test_a_balanced_history_with_a_gap_month(write_api, read_client):
    # credit 1000 (Jan 15), debits 500 + 500 (Mar 15, Mar 20): net 0 -> 0.5, ratio 1 -> 0.5,
    # regularity 2/3 -> 0.6667, 64 days / 730 -> 0.0877, activity 3/100:
    # 0.15 + 0.10 + 0.13334 + 0.01754 + 0.003 = 0.40388; 300 + round(222.134) = 522
    write_api.create(transaction_amount="1000.00", transaction_date="2026-01-15T00:00:00Z")
    write_api.create(transaction_amount="500.00", transaction_type="debit", transaction_date="2026-03-15T00:00:00Z")
    write_api.create(transaction_amount="500.00", transaction_type="debit", transaction_date="2026-03-20T00:00:00Z")

    body = profile(read_client).json()

    assert body["score"] == 522
    assert body["inputs"]["components"] == {
        "net_flow": "0.5000",
        "debit_credit_ratio": "0.5000",
        "regularity": "0.6667",
        "history_length": "0.0877",
        "activity": "0.0300",
    }
    assert (body["inputs"]["history_days"], body["inputs"]["span_months"]) == (64, 3)


def test_only_debits(write_api, read_client):
    # net -1 -> 0, no credit -> ratio component 0, regularity 1, history 0, activity 0.01:
    # 0.20 + 0.001 = 0.201; 300 + round(110.55) = 411
    write_api.create(transaction_amount="100.00", transaction_type="debit")

    body = profile(read_client).json()

    assert body["score"] == 411
    assert body["inputs"]["debit_credit_ratio"] is None


def test_the_profile_follows_updates_and_goes_when_the_history_does(write_api, read_client):
    txn = write_api.create(transaction_amount="100.00", transaction_type="debit")
    write_api.patch(txn["id"], transaction_type="credit")
    assert profile(read_client).json()["score"] == 686

    write_api.delete(txn["id"])

    assert profile(read_client).status_code == HTTPStatus.NOT_FOUND
