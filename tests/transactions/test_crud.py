from http import HTTPStatus

import pytest

from transactions.models import OutboxEvent, Transaction

from .conftest import LIST_URL, detail_url, history_url

pytestmark = pytest.mark.django_db


# Real commits: cached history is invalidated when a write commits, as it is in production.
@pytest.mark.django_db(transaction=True)
def test_create_read_update_delete_round_trip(write_client, txn_body):
    created = write_client.post(LIST_URL, txn_body, format="json")
    assert created.status_code == HTTPStatus.CREATED, created.content
    body = created.json()
    assert set(body) == {
        "id",
        "user_id",
        "full_name",
        "transaction_date",
        "transaction_amount",
        "transaction_type",
        "created_at",
        "updated_at",
    }
    assert body["full_name"] == "Ama Mensah"
    assert body["transaction_amount"] == "125.50"
    assert body["transaction_date"] == "2026-11-20T14:03:00Z"
    assert created["Location"] == f"http://testserver/api/v1/transactions/{body['id']}/"

    detail = detail_url(body["id"])
    assert write_client.get(detail).json() == body
    assert write_client.get(LIST_URL).json()["results"] == [body]
    assert write_client.get(history_url(42)).json()["results"] == [body]

    patched = write_client.patch(detail, {"transaction_amount": 99}, format="json")
    assert patched.status_code == HTTPStatus.OK, patched.content
    assert patched.json() == {**body, "transaction_amount": "99.00", "updated_at": patched.json()["updated_at"]}

    put = write_client.put(detail, {**txn_body, "user_id": 7, "transaction_type": "debit"}, format="json")
    assert put.status_code == HTTPStatus.OK
    assert put.json()["transaction_type"] == "debit"
    assert put.json()["transaction_amount"] == "125.50"
    assert write_client.get(history_url(42)).json()["results"] == []
    assert write_client.get(history_url(7)).json()["results"] == [put.json()]

    deleted = write_client.delete(detail)
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    assert deleted.content == b""
    assert write_client.get(detail).status_code == HTTPStatus.NOT_FOUND
    assert write_client.get(LIST_URL).json()["results"] == []
    assert write_client.get(history_url(7)).json()["results"] == []
    assert write_client.patch(detail, {"transaction_amount": 1}, format="json").status_code == HTTPStatus.NOT_FOUND
    assert write_client.put(detail, txn_body, format="json").status_code == HTTPStatus.NOT_FOUND
    assert write_client.delete(detail).status_code == HTTPStatus.NOT_FOUND


def test_every_write_records_an_outbox_event_with_ids_only(write_client, create_txn):
    txn = create_txn()
    write_client.patch(detail_url(txn["id"]), {"user_id": 9}, format="json")
    write_client.delete(detail_url(txn["id"]))

    events = list(OutboxEvent.objects.values_list("kind", "transaction_id", "user_id", "previous_user_id"))

    assert events == [("created", txn["id"], 42, None), ("updated", txn["id"], 9, 42), ("deleted", txn["id"], 9, None)]


def test_unknown_user_history_is_an_empty_page(read_client):
    response = read_client.get(history_url(123456))

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"next": None, "previous": None, "results": []}


def test_patch_with_empty_body_changes_nothing_but_succeeds(write_client, create_txn):
    txn = create_txn()

    response = write_client.patch(detail_url(txn["id"]), {}, format="json")

    assert response.status_code == HTTPStatus.OK
    assert {**response.json(), "updated_at": None} == {**txn, "updated_at": None}


def test_name_is_stored_trimmed_and_hashed_for_exact_search(write_client, create_txn):
    txn = create_txn(full_name="  Ama Mensah  ")
    write_client.patch(detail_url(txn["id"]), {"full_name": "Kofi  Boateng"}, format="json")

    from transactions.fields import name_hash

    stored = Transaction.objects.get(pk=txn["id"])
    assert stored.full_name == "Kofi  Boateng"
    assert stored.full_name_hash == name_hash("kofi boateng")
