"""Authentication and permissions: 401 without valid credentials, 403 without the scope."""

from http import HTTPStatus

import pytest
from rest_framework.test import APIClient

from .conftest import LIST_URL, detail_url, history_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def txn_id(create_txn) -> int:
    return create_txn()["id"]


def _requests(txn_id: int, body: dict) -> list[tuple[str, str, dict | None]]:
    return [
        ("get", LIST_URL, None),
        ("get", detail_url(txn_id), None),
        ("get", history_url(42), None),
        ("post", LIST_URL, body),
        ("put", detail_url(txn_id), body),
        ("patch", detail_url(txn_id), {"transaction_amount": "1.00"}),
        ("delete", detail_url(txn_id), None),
    ]


def _bad_token_client() -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    return client


def _token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.parametrize(
    "make_client",
    [
        APIClient,
        _bad_token_client,
        lambda: _token_client("fido_" + "ab" * 32),
        lambda: _token_client("fido_" + "AB" * 32),
        lambda: _token_client("x" * 5000),
        lambda: APIClient(HTTP_AUTHORIZATION="Token"),
        lambda: APIClient(HTTP_AUTHORIZATION="Token a b"),
        lambda: APIClient(HTTP_AUTHORIZATION="Bearer 0123456789abcdef0123456789abcdef01234567"),
        lambda: APIClient(HTTP_AUTHORIZATION="Basic YWRtaW46YWRtaW4="),
    ],
    ids=[
        "anonymous",
        "bad-legacy-token",
        "bad-token",
        "upper-case-token",
        "huge-token",
        "empty-token",
        "two-part-token",
        "bearer",
        "basic",
    ],
)
def test_no_valid_credentials_is_a_401_everywhere(make_client, txn_id, txn_body):
    client = make_client()
    for method, url, body in _requests(txn_id, txn_body):
        response = getattr(client, method)(url, body, format="json")

        assert response.status_code == HTTPStatus.UNAUTHORIZED, (method, url)
        assert response.json()["type"] == "client_error"
        assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("header", ["Bearer abc", "Basic YWRtaW46YWRtaW4=", "Digest x", "bearer fido_0123"])
def test_an_unknown_scheme_is_a_401_naming_the_token_scheme(anon_client, header):
    response = anon_client.get(LIST_URL, HTTP_AUTHORIZATION=header)

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Token"
    body = response.json()
    assert body["type"] == "client_error"
    (error,) = body["errors"]
    assert error["code"] == "authentication_failed"
    assert error["attr"] is None
    assert "Authorization: Token <key>" in error["detail"]
    assert header.split()[1] not in error["detail"]


def test_the_scheme_is_case_insensitive(txn_id):
    from transactions.clients import api_client_create

    key = api_client_create(name="lower-case", scope="read").key

    assert APIClient(HTTP_AUTHORIZATION=f"token {key}").get(LIST_URL).status_code == HTTPStatus.OK


def test_token_of_a_deactivated_client_is_a_401_once_the_cache_lapses(write_client, txn_id, client_clock):
    from django.contrib.auth import get_user_model

    from fido.authentication import CLIENT_CACHE_SECONDS

    get_user_model().objects.filter(username="writer").update(is_active=False)
    client_clock.advance(CLIENT_CACHE_SECONDS)

    assert write_client.get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED


def test_read_client_can_read(read_client, txn_id):
    assert read_client.get(LIST_URL).status_code == HTTPStatus.OK
    assert read_client.get(detail_url(txn_id)).status_code == HTTPStatus.OK
    assert read_client.get(history_url(42)).status_code == HTTPStatus.OK


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_read_client_gets_403_on_every_write_and_changes_nothing(read_client, write_client, txn_id, txn_body, method):
    before = write_client.get(detail_url(txn_id)).json()
    url = LIST_URL if method == "post" else detail_url(txn_id)

    response = getattr(read_client, method)(url, {**txn_body, "user_id": 7}, format="json")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["errors"][0]["code"] == "permission_denied"
    assert write_client.get(detail_url(txn_id)).json() == before
    assert len(write_client.get(LIST_URL).json()["results"]) == 1


def test_write_client_can_do_everything(write_client, txn_id, txn_body):
    for method, url, body in _requests(txn_id, txn_body):
        response = getattr(write_client, method)(url, body, format="json")

        assert response.status_code in (HTTPStatus.OK, HTTPStatus.CREATED, HTTPStatus.NO_CONTENT), (method, url)


def test_authenticated_user_without_permissions_gets_403(client, txn_id, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="nobody"))

    assert client.get(LIST_URL).status_code == HTTPStatus.FORBIDDEN
    assert client.get(history_url(42)).status_code == HTTPStatus.FORBIDDEN


def test_a_token_of_a_user_who_is_not_an_api_client_is_a_401(txn_id, django_user_model):
    from knox.models import AuthToken

    staff = django_user_model.objects.create_superuser(username="root", password="x-Secret-123")
    _, key = AuthToken.objects.create(user=staff, expiry=None)

    assert _token_client(key).get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED


def test_an_expired_token_is_a_401(write_client, txn_id):
    from datetime import timedelta

    from django.utils import timezone
    from knox.models import AuthToken

    from transactions.clients import api_client_create

    key = api_client_create(name="short-lived", scope="read").key
    AuthToken.objects.filter(user__username="short-lived").update(expiry=timezone.now() - timedelta(seconds=1))

    assert _token_client(key).get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED


def test_staff_session_with_view_permission_can_browse(client, txn_id, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="staff", password="x-Secret-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    client.force_login(staff)

    assert client.get(LIST_URL, HTTP_ACCEPT="application/json").status_code == HTTPStatus.OK
    assert client.get(LIST_URL, HTTP_ACCEPT="text/html").status_code == HTTPStatus.OK
    assert client.get("/api/v1/alerts/", HTTP_ACCEPT="application/json").status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/redoc/", "/healthz"])
def test_docs_and_health_need_no_authentication(anon_client, url):
    assert anon_client.get(url).status_code == HTTPStatus.OK
