"""Real concurrency on PostgreSQL: threads with their own connections racing on one key or one row."""

import threading
from http import HTTPStatus

import pytest
from django.db import connection

from analytics.figures import figures_from_raw_rows
from analytics.models import UserDayFigures
from tests.conftest import _client_with_token
from transactions.clients import api_client_create
from transactions.models import IdempotencyRecord, Transaction

from .conftest import LIST_URL, detail_url

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

THREADS = 8


def race(*calls):
    """Run the calls at once, each in a thread with its own database connection; return their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.fixture
def token_key():
    return api_client_create(name="racer", scope="write").key


def test_concurrent_posts_with_one_key_create_exactly_one_row(token_key, txn_body):
    def attempt():
        response = _client_with_token(token_key).post(LIST_URL, txn_body, format="json", HTTP_IDEMPOTENCY_KEY="race")
        return response.status_code, response.get("Idempotent-Replayed"), response.json()

    results = race(*[attempt] * THREADS)

    assert Transaction.objects.count() == 1
    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {HTTPStatus.CREATED, HTTPStatus.CONFLICT}, results
    originals = [body for status, replayed, body in results if status == HTTPStatus.CREATED and not replayed]
    assert len(originals) == 1
    assert all(body == originals[0] for status, _, body in results if status == HTTPStatus.CREATED)
    assert IdempotencyRecord.objects.get().state == IdempotencyRecord.State.COMPLETED


def test_concurrent_patches_all_succeed_and_the_row_holds_one_of_them(token_key, txn_body):
    client = _client_with_token(token_key)
    txn_id = client.post(LIST_URL, txn_body, format="json").json()["id"]
    amounts = [f"{i}.00" for i in range(1, THREADS + 1)]

    def patch(amount):
        return lambda: (
            _client_with_token(token_key)
            .patch(detail_url(txn_id), {"transaction_amount": amount}, format="json")
            .status_code
        )

    statuses = race(*[patch(amount) for amount in amounts])

    assert statuses == [HTTPStatus.OK] * THREADS
    assert client.get(detail_url(txn_id)).json()["transaction_amount"] in amounts


def test_delete_racing_patches_never_fails_with_a_500(token_key, txn_body):
    client = _client_with_token(token_key)
    txn_id = client.post(LIST_URL, txn_body, format="json").json()["id"]

    def patch():
        return _client_with_token(token_key).patch(detail_url(txn_id), {"user_id": 9}, format="json").status_code

    def delete():
        return _client_with_token(token_key).delete(detail_url(txn_id)).status_code

    statuses = race(delete, *[patch] * (THREADS - 1))

    assert statuses[0] == HTTPStatus.NO_CONTENT
    assert set(statuses[1:]) <= {HTTPStatus.OK, HTTPStatus.NOT_FOUND}
    assert client.get(detail_url(txn_id)).status_code == HTTPStatus.NOT_FOUND
    assert not Transaction.objects.exists()


def test_racing_creates_and_deletes_on_one_user_and_day_keep_the_figures_exact(token_key, txn_body):
    def churn(keep: bool):
        def run():
            client = _client_with_token(token_key)
            statuses = []
            for _ in range(4):
                response = client.post(LIST_URL, txn_body, format="json")
                statuses.append(response.status_code)
                if not keep:  # empties the user's day again and again while the others fill it
                    statuses.append(client.delete(detail_url(response.json()["id"])).status_code)
            return statuses

        return run

    results = race(*[churn(keep=index % 2 == 0) for index in range(THREADS)])

    assert {status for statuses in results for status in statuses} <= {HTTPStatus.CREATED, HTTPStatus.NO_CONTENT}
    assert Transaction.objects.count() == THREADS // 2 * 4
    maintained = set(UserDayFigures.objects.values_list("user_id", "day", "credit_count", "credit_cents"))
    assert maintained == {row[:4] for row in figures_from_raw_rows()}
