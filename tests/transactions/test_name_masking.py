"""Who reads a full name through the API: clients yes, staff sessions only with view_full_name."""

import hashlib
import hmac
import json
from http import HTTPStatus

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from transactions.models import IdempotencyRecord

from .conftest import LIST_URL, detail_url, history_url

# Real commits: the history page is cached once and then served to readers with different rights.
pytestmark = pytest.mark.django_db(transaction=True)


def staff_session(*, full_names: bool) -> APIClient:
    staff = get_user_model().objects.create_user("clerk" if not full_names else "auditor", is_staff=True)
    codenames = ["view_transaction", *(["view_full_name"] if full_names else [])]
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="transactions", codename__in=codenames)
    )
    client = APIClient()
    client.force_login(staff)
    return client


def names(response) -> list[str]:
    body = response.json()
    return [row["full_name"] for row in body["results"]] if "results" in body else [body["full_name"]]


def test_staff_without_the_permission_sees_masked_names_everywhere(create_txn, read_client):
    txn = create_txn(full_name="Ama Mensah", user_id=42)
    clerk = staff_session(full_names=False)
    assert names(read_client.get(history_url(42))) == ["Ama Mensah"]  # cached now, in plain for clients

    for url in (LIST_URL, detail_url(txn["id"]), history_url(42)):
        response = clerk.get(url)
        assert response.status_code == HTTPStatus.OK
        assert names(response) == ["A*** M*****"]
    assert names(read_client.get(history_url(42))) == ["Ama Mensah"]


def test_staff_with_the_permission_and_every_client_scope_see_plain_names(create_txn, read_client, write_client):
    txn = create_txn(full_name="Kofi Boateng", user_id=7)
    auditor = staff_session(full_names=True)
    for client in (auditor, read_client, write_client):
        for url in (LIST_URL, detail_url(txn["id"]), history_url(7)):
            assert names(client.get(url)) == ["Kofi Boateng"]


def test_idempotency_fingerprint_is_keyed_so_it_cannot_be_matched_to_a_guessed_name(write_client, txn_body, settings):
    response = write_client.post(LIST_URL, txn_body, format="json", HTTP_IDEMPOTENCY_KEY="fp-1")
    assert response.status_code == HTTPStatus.CREATED
    stored = IdempotencyRecord.objects.get(key="fp-1").request_fingerprint

    canonical = json.dumps(txn_body, sort_keys=True, separators=(",", ":"))
    message = f"POST {LIST_URL}\n{canonical}".encode()
    assert stored != hashlib.sha256(message).hexdigest()  # a dictionary of names would find this one
    assert stored == hmac.new(settings.FIELD_HASH_KEY.encode(), message, hashlib.sha256).hexdigest()
    replay = write_client.post(LIST_URL, txn_body, format="json", HTTP_IDEMPOTENCY_KEY="fp-1")
    assert replay["Idempotent-Replayed"] == "true"
