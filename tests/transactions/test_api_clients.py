"""Operating API clients: list, revoke, re-scope; every worker obeys within 10 seconds."""

from datetime import timedelta
from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken

from fido.authentication import CLIENT_CACHE_SECONDS, ClientCache, client_cache
from tests.conftest import _client_with_token
from transactions.client_models import ApiClient
from transactions.clients import ResolvedClient

from .conftest import LIST_URL

pytestmark = pytest.mark.django_db


def command(name: str, *args) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def new_client(name: str, scope: str):
    token = command("create_api_client", name, "--scope", scope).splitlines()[-1]
    return token, _client_with_token(token)


def test_the_cache_keeps_the_revocation_promise():
    assert 0 < CLIENT_CACHE_SECONDS <= 10
    assert client_cache.ttl == CLIENT_CACHE_SECONDS


def test_a_revoked_client_is_refused_once_the_cache_lapses(client_clock):
    _, ledger = new_client("ledger", "read")
    assert ledger.get(LIST_URL).status_code == HTTPStatus.OK  # resolved and cached in this process

    out = command("revoke_api_client", "ledger")

    assert "Revoked API client 'ledger'" in out
    assert not AuthToken.objects.filter(user__username="ledger").exists()
    # This worker resolved the token just before the revocation; it may serve it until its entry lapses...
    client_clock.advance(CLIENT_CACHE_SECONDS - 0.5)
    assert ledger.get(LIST_URL).status_code == HTTPStatus.OK
    # ...and never after.
    client_clock.advance(0.5)
    response = ledger.get(LIST_URL)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json()["errors"][0]["detail"] == "Invalid token."


def test_a_worker_that_never_saw_the_token_refuses_it_at_once():
    _, ledger = new_client("ledger", "read")
    command("revoke_api_client", "ledger")

    assert ledger.get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED


def test_a_down_scoped_client_is_refused_writes_once_the_cache_lapses(client_clock, txn_body):
    _, ledger = new_client("ledger", "write")
    assert ledger.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED

    out = command("set_api_client_scope", "ledger", "--scope", "read")
    client_clock.advance(CLIENT_CACHE_SECONDS)

    assert "now has scope read" in out
    assert ledger.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.FORBIDDEN
    assert ledger.get(LIST_URL).status_code == HTTPStatus.OK
    command("set_api_client_scope", "ledger", "--scope", "write")
    client_clock.advance(CLIENT_CACHE_SECONDS)
    assert ledger.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED


def test_revoking_twice_says_so_and_an_unknown_name_is_an_error():
    new_client("ledger", "read")
    command("revoke_api_client", "ledger")

    assert "already revoked" in command("revoke_api_client", "ledger")
    with pytest.raises(CommandError, match="no API client named 'nobody'"):
        command("revoke_api_client", "nobody")


def test_a_revoked_client_cannot_be_re_scoped_nor_its_name_reused():
    new_client("ledger", "read")
    command("revoke_api_client", "ledger")

    with pytest.raises(CommandError, match="revoked"):
        command("set_api_client_scope", "ledger", "--scope", "write")
    with pytest.raises(CommandError, match="already exists"):
        command("create_api_client", "ledger", "--scope", "read")


@pytest.mark.parametrize("args", [("ledger", "--scope", "admin"), ("ledger",), ("nobody", "--scope", "read")])
def test_bad_re_scope_arguments_exit_with_a_message(args):
    new_client("ledger", "write")

    with pytest.raises(CommandError):
        command("set_api_client_scope", *args)


def test_list_shows_name_scope_created_last_used_and_status_never_a_token():
    reader_token, reader = new_client("reader-svc", "read")
    writer_token, _ = new_client("writer-svc", "write")
    assert reader.get(LIST_URL).status_code == HTTPStatus.OK
    command("revoke_api_client", "writer-svc")

    lines = command("list_api_clients").splitlines()

    assert lines[0].split() == ["NAME", "SCOPE", "CREATED", "LAST", "USED", "STATUS"]
    reader_line, writer_line = lines[1:]
    today = timezone.now().strftime("%Y-%m-%d")
    assert reader_line.startswith("reader-svc") and " read " in reader_line
    assert reader_line.count(today) == 2 and reader_line.endswith("active")
    assert writer_line.startswith("writer-svc") and " write " in writer_line
    assert " never " in writer_line and f"revoked {today}" in writer_line
    output = "\n".join(lines)
    for secret in (reader_token, writer_token, reader_token[5:], writer_token[5:]):
        assert secret not in output
    for stored in AuthToken.objects.values_list("digest", "token_key"):
        assert not any(value in output for value in stored)


def test_list_without_clients_says_how_to_make_one():
    err = StringIO()
    call_command("list_api_clients", stdout=StringIO(), stderr=err)

    assert "create_api_client" in err.getvalue()


def test_a_warm_token_costs_no_query_and_last_used_is_written_at_most_once_a_minute(client_clock):
    _, ledger = new_client("ledger", "read")
    client = ApiClient.objects.get(user__username="ledger")
    assert client.last_used_at is None

    with CaptureQueriesContext(connection) as cold:
        ledger.get("/api/v1/users/42/analytics/")
    first_use = ApiClient.objects.get(pk=client.pk).last_used_at
    with CaptureQueriesContext(connection) as warm:
        ledger.get("/api/v1/users/42/analytics/")
    client_clock.advance(CLIENT_CACHE_SECONDS)
    with CaptureQueriesContext(connection) as refreshed_recently_used:
        ledger.get("/api/v1/users/42/analytics/")

    assert first_use is not None
    assert _client_queries(cold) == ["SELECT", "UPDATE"]
    assert _client_queries(warm) == []
    assert _client_queries(refreshed_recently_used) == ["SELECT"]
    assert ApiClient.objects.get(pk=client.pk).last_used_at == first_use

    ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    client_clock.advance(CLIENT_CACHE_SECONDS)
    ledger.get("/api/v1/users/42/analytics/")
    assert ApiClient.objects.get(pk=client.pk).last_used_at > first_use


def _client_queries(captured) -> list[str]:
    return [
        query["sql"].split()[0]
        for query in captured.captured_queries
        if any(table in query["sql"] for table in ("knox_authtoken", "transactions_apiclient", "auth_"))
    ]


def _resolved(number: int) -> ResolvedClient:
    return ResolvedClient(client_id=number, name=f"c{number}", scope="read", last_used_at=None, user=None)


def test_the_cache_is_bounded_and_evicts_the_least_recently_used():
    now = [0.0]
    cache = ClientCache(ttl=5, max_entries=2, clock=lambda: now[0])
    cache.put("a", _resolved(1), read_at=0)
    cache.put("b", _resolved(2), read_at=0)
    assert cache.get("a").client_id == 1  # a is now the most recently used

    cache.put("c", _resolved(3), read_at=0)

    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a").client_id == 1 and cache.get("c").client_id == 3


def test_a_cache_entry_lives_ttl_seconds_from_before_the_database_was_read():
    now = [100.0]
    cache = ClientCache(ttl=5, max_entries=10, clock=lambda: now[0])
    cache.put("a", _resolved(1), read_at=99.0)

    now[0] = 103.9
    assert cache.get("a") is not None
    now[0] = 104.0
    assert cache.get("a") is None
    assert len(cache) == 0
