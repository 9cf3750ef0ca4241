from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

LIST = "/api/v1/transactions/"


def test_create_read_update_delete_round_trip(write_client, txn_body):
    created = write_client.post(LIST, txn_body, format="json")
    assert created.status_code == HTTPStatus.CREATED, created.content
    body = created.json()
    assert body["full_name"] == "Ama Mensah"
    assert body["transaction_amount"] == "125.50"
    assert body["transaction_date"] == "2026-11-20T14:03:00Z"
    assert created["Location"].endswith(f"/api/v1/transactions/{body['id']}/")

    detail = f"{LIST}{body['id']}/"
    assert write_client.get(detail).json() == body

    patched = write_client.patch(detail, {"transaction_amount": 99}, format="json")
    assert patched.status_code == HTTPStatus.OK, patched.content
    assert patched.json()["transaction_amount"] == "99.00"

    put = write_client.put(detail, {**txn_body, "transaction_type": "debit"}, format="json")
    assert put.status_code == HTTPStatus.OK
    assert put.json()["transaction_type"] == "debit"

    assert write_client.delete(detail).status_code == HTTPStatus.NO_CONTENT
    assert write_client.get(detail).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transaction_amount", "0"),
        ("transaction_amount", "-1"),
        ("transaction_amount", "1.005"),
        ("transaction_amount", "NaN"),
        ("transaction_amount", "1000000000000.00"),
        ("user_id", 0),
        ("user_id", 2**63),
        ("user_id", "42"),
        ("full_name", "   "),
        ("full_name", "Ama\x00Mensah"),
        ("transaction_type", "refund"),
        ("transaction_date", "2026-02-30"),
        ("id", 5),
        ("colour", "blue"),
    ],
)
def test_bad_field_is_a_400_naming_it(write_client, txn_body, field, value):
    response = write_client.post(LIST, {**txn_body, field: value}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert body["type"] == "validation_error"
    assert [error["attr"] for error in body["errors"]] == [field]


def test_unknown_api_path_is_a_json_404(write_client):
    response = write_client.get("/api/v1/nope/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["type"] == "client_error"
