"""The idempotency contract of POST."""

import datetime as dt
from http import HTTPStatus

import pytest
from django.utils import timezone

from transactions.models import IdempotencyRecord, Transaction

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db


def post(client, body, key="key-1"):
    return client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_repeat_with_same_body_replays_the_first_response(write_client, txn_body):
    first = post(write_client, txn_body)
    repeat = post(write_client, txn_body)

    assert first.status_code == repeat.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in first
    assert repeat["Idempotent-Replayed"] == "true"
    assert repeat.content == first.content
    assert repeat["Location"] == first["Location"]
    assert Transaction.objects.count() == 1


def test_replay_holds_even_after_the_transaction_changed(write_client, txn_body):
    first = post(write_client, txn_body)
    write_client.patch(detail_url(first.json()["id"]), {"transaction_amount": "1.00"}, format="json")

    repeat = post(write_client, txn_body)

    assert repeat.json() == first.json()
    assert Transaction.objects.count() == 1


def test_same_values_written_differently_is_the_same_body(write_client, txn_body):
    post(write_client, txn_body)

    repeat = write_client.post(
        LIST_URL,
        '{"transaction_type": "credit", "transaction_amount": "125.50", "transaction_date": "2026-11-20T14:03:00Z",'
        ' "full_name": "Ama Mensah", "user_id": 42}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )

    assert repeat["Idempotent-Replayed"] == "true"


def test_repeat_with_a_different_body_is_a_422(write_client, txn_body):
    post(write_client, txn_body)

    response = post(write_client, {**txn_body, "transaction_amount": "125.51"})

    assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert Transaction.objects.count() == 1


def test_repeat_while_the_first_is_in_progress_is_a_409(write_client, txn_body):
    post(write_client, txn_body)
    # The first request has claimed the key but not finished (its lease still runs).
    IdempotencyRecord.objects.update(
        state=IdempotencyRecord.State.IN_PROGRESS, locked_until=timezone.now() + dt.timedelta(seconds=30)
    )

    response = post(write_client, txn_body)

    assert response.status_code == HTTPStatus.CONFLICT
    assert response.json()["errors"][0]["code"] == "idempotency_in_progress"
    assert Transaction.objects.count() == 1


def test_a_claim_abandoned_past_its_lease_is_taken_over(write_client, txn_body):
    post(write_client, txn_body)
    Transaction.objects.all().delete()  # as if the first request died before committing its write
    IdempotencyRecord.objects.update(
        state=IdempotencyRecord.State.IN_PROGRESS, locked_until=timezone.now() - dt.timedelta(seconds=1)
    )

    response = post(write_client, txn_body)

    assert response.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in response
    assert post(write_client, txn_body)["Idempotent-Replayed"] == "true"
    assert Transaction.objects.count() == 1


def test_a_failed_request_frees_the_key(write_client, txn_body):
    bad = post(write_client, {**txn_body, "transaction_amount": "0"})

    good = post(write_client, txn_body)

    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert good.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in good
    assert post(write_client, txn_body)["Idempotent-Replayed"] == "true"


def test_keys_are_per_client(write_client, txn_body):
    from tests.conftest import _client_with_token
    from transactions.clients import api_client_create

    other = _client_with_token(api_client_create(name="other-writer", scope="write").key)

    mine = post(write_client, txn_body)
    theirs = post(other, {**txn_body, "user_id": 7})

    assert mine.status_code == theirs.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["user_id"] == 7
    assert Transaction.objects.count() == 2


def test_different_keys_are_different_requests(write_client, txn_body):
    assert post(write_client, txn_body, key="a").status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in post(write_client, txn_body, key="b")
    assert Transaction.objects.count() == 2


def test_a_key_expires_after_24_hours(write_client, txn_body):
    post(write_client, txn_body)
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=24, seconds=1))

    response = post(write_client, {**txn_body, "transaction_amount": "7.00"})

    assert response.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in response
    assert Transaction.objects.count() == 2


def test_a_key_still_holds_just_before_24_hours(write_client, txn_body):
    post(write_client, txn_body)
    IdempotencyRecord.objects.update(created_at=timezone.now() - dt.timedelta(hours=23, minutes=59))

    assert post(write_client, txn_body)["Idempotent-Replayed"] == "true"
    assert post(write_client, {**txn_body, "user_id": 1}).status_code == HTTPStatus.UNPROCESSABLE_ENTITY


@pytest.mark.parametrize("key", ["", " ", "a b", "tab\there", "é", "x" * 256, "new\nline", "\x7f"])
def test_a_malformed_key_is_a_400(write_client, txn_body, key):
    response = post(write_client, txn_body, key=key)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert [error["attr"] for error in response.json()["errors"]] == ["Idempotency-Key"]
    assert not Transaction.objects.exists()


@pytest.mark.parametrize("key", ["a", "x" * 255, "~!@#$%^&*()_+{}|:<>?", "550e8400-e29b-41d4-a716-446655440000"])
def test_well_formed_keys_are_accepted(write_client, txn_body, key):
    assert post(write_client, txn_body, key=key).status_code == HTTPStatus.CREATED
    assert post(write_client, txn_body, key=key)["Idempotent-Replayed"] == "true"


def test_without_permission_a_key_is_never_claimed(read_client, write_client, txn_body):
    assert post(read_client, txn_body).status_code == HTTPStatus.FORBIDDEN
    assert not IdempotencyRecord.objects.exists()
