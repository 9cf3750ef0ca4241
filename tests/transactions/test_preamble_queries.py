"""A request's preamble (authentication, permissions) runs no SQL for an API client whose token is warm;
model permissions, from the database, still drive staff sessions."""

import re
import secrets
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import LIST_URL, history_url

pytestmark = pytest.mark.django_db

# A user no other test (nor an earlier run, whose cache entries may outlive its database) has read.
USER_ID = 10**9 + secrets.randbelow(10**9)
ANALYTICS = f"/api/v1/users/{USER_ID}/analytics/"
PREAMBLE_TABLES = re.compile(
    r"knox_authtoken|transactions_apiclient|auth_user|auth_group|auth_permission|django_session"
)


def _queries(client, method: str, url: str, body=None) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, body, format="json")
    return response, [query["sql"] for query in captured.captured_queries]


def _preamble(queries: list[str]) -> list[str]:
    return [sql for sql in queries if PREAMBLE_TABLES.search(sql)]


@pytest.fixture
def warm_reader(read_client, write_client, txn_body):
    """A read client whose token is resolved, and a user's analytics and history cached."""
    response = write_client.post(LIST_URL, {**txn_body, "user_id": USER_ID}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    assert read_client.get(ANALYTICS).status_code == HTTPStatus.OK
    assert read_client.get(history_url(USER_ID)).status_code == HTTPStatus.OK
    return read_client


@pytest.mark.parametrize("url", [ANALYTICS, history_url(USER_ID)], ids=["analytics", "history"])
def test_a_cached_read_with_a_warm_token_runs_no_sql(warm_reader, url):
    response, queries = _queries(warm_reader, "get", url)

    assert response.status_code == HTTPStatus.OK
    assert response["X-Cache"] == "HIT"
    assert queries == []


def test_a_create_with_a_warm_token_spends_its_statements_on_the_write_alone(write_client, txn_body):
    assert write_client.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED

    response, queries = _queries(write_client, "post", LIST_URL, txn_body)

    assert response.status_code == HTTPStatus.CREATED
    assert queries and _preamble(queries) == []


def test_a_refused_write_of_a_read_client_runs_no_sql(warm_reader, txn_body):
    response, queries = _queries(warm_reader, "post", LIST_URL, txn_body)

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert queries == []


def test_a_staff_session_is_authorised_by_its_model_permissions(client, django_user_model, txn_body, write_client):
    assert write_client.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED
    staff = django_user_model.objects.create_user(username="staff", password="x-Secret-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    client.force_login(staff)

    response, queries = _queries(client, "get", LIST_URL)

    assert response.status_code == HTTPStatus.OK
    assert response.json()["results"][0]["full_name"] == "A*** M*****"  # no view_full_name: masked
    assert any("auth_permission" in sql for sql in queries)
