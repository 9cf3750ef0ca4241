"""Authentication and permissions (SPEC §3): 401 without valid credentials, 403 without the scope."""

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


@pytest.mark.parametrize(
    "make_client",
    [
        APIClient,
        _bad_token_client,
        lambda: APIClient(HTTP_AUTHORIZATION="Token"),
        lambda: APIClient(HTTP_AUTHORIZATION="Token a b"),
        lambda: APIClient(HTTP_AUTHORIZATION="Bearer 0123456789abcdef0123456789abcdef01234567"),
        lambda: APIClient(HTTP_AUTHORIZATION="Basic YWRtaW46YWRtaW4="),
    ],
    ids=["anonymous", "bad-token", "empty-token", "two-part-token", "bearer", "basic"],
)
def test_no_valid_credentials_is_a_401_everywhere(make_client, txn_id, txn_body):
    client = make_client()
    for method, url, body in _requests(txn_id, txn_body):
        response = getattr(client, method)(url, body, format="json")

        assert response.status_code == HTTPStatus.UNAUTHORIZED, (method, url)
        assert response.json()["type"] == "client_error"
        assert response["WWW-Authenticate"] == "Token"


def test_token_of_a_deactivated_client_is_a_401(write_client, txn_id):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username="writer").update(is_active=False)

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


def test_authenticated_user_without_permissions_gets_403(txn_id):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user(username="nobody")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    assert client.get(LIST_URL).status_code == HTTPStatus.FORBIDDEN
    assert client.get(history_url(42)).status_code == HTTPStatus.FORBIDDEN


def test_staff_session_with_view_permission_can_browse(client, txn_id, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="staff", password="x-Secret-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    client.force_login(staff)

    assert client.get(LIST_URL, HTTP_ACCEPT="application/json").status_code == HTTPStatus.OK
    assert client.get(LIST_URL, HTTP_ACCEPT="text/html").status_code == HTTPStatus.OK


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/redoc/", "/healthz"])
def test_docs_and_health_need_no_authentication(anon_client, url):
    assert anon_client.get(url).status_code == HTTPStatus.OK
