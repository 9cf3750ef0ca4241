"""Tokens are stored only as digests, so a database dump yields no usable credential; clients made
before tokens were hashed keep their tokens across the migration."""

import hashlib
import importlib
import secrets
from http import HTTPStatus
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.conftest import _client_with_token
from transactions.client_models import ApiClient

from .conftest import LIST_URL

LEGACY_TABLE = "authtoken_token"


def _dump() -> str:
    """Every value of every table as text, and SQLite's own `.dump` of the database too."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608  (names from introspection)
            for row in cursor.fetchall():
                chunks += [
                    bytes(v).decode("utf-8", "replace") if isinstance(v, bytes | memoryview) else str(v) for v in row
                ]
    if connection.vendor == "sqlite":
        chunks += list(connection.connection.iterdump())
    return "\n".join(chunks)


def _create(name: str, scope: str) -> str:
    out = StringIO()
    call_command("create_api_client", name, "--scope", scope, stdout=out, stderr=StringIO())
    return out.getvalue().splitlines()[-1]


@pytest.mark.django_db
def test_a_database_dump_holds_no_usable_token(txn_body):
    token = _create("ledger", "write")
    client = _client_with_token(token)
    assert client.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED

    dump = _dump()

    digest = hashlib.sha512(token.encode()).hexdigest()
    assert digest in dump  # the dump did read the table of tokens
    secret = token.removeprefix("fido_")
    for part in (token, secret, secret[:32], secret[32:]):
        assert part not in dump
    # What the dump does hold opens nothing.
    assert _client_with_token(digest).get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED
    assert _client_with_token(f"fido_{digest[:64]}").get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED


def _legacy_installation(django_user_model) -> dict[str, str]:
    """A database as DRF's authtoken left it: plain keys, clients in the scope groups, a hand-made token."""
    readers, writers = Group.objects.create(name="api-read"), Group.objects.create(name="api-write")
    staff = django_user_model.objects.create_user(username="staff-reader", password="x-Secret-123", is_staff=True)
    staff.groups.add(readers)  # a person given the group's permissions by hand: not a client
    users = {}
    for name, groups in [("old-reader", [readers]), ("old-writer", [writers]), ("old-both", [readers, writers])]:
        user = django_user_model.objects.create_user(username=name)
        user.set_unusable_password()
        user.save()
        user.groups.add(*groups)
        users[name] = user
    users["staff-reader"] = staff
    keys = {name: secrets.token_hex(20) for name in users}
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {LEGACY_TABLE} (key varchar(40) NOT NULL PRIMARY KEY, "
            "created timestamp with time zone NOT NULL, user_id integer NOT NULL UNIQUE)"
        )
        for name, key in keys.items():
            cursor.execute(
                f"INSERT INTO {LEGACY_TABLE} (key, created, user_id) VALUES (%s, %s, %s)",  # noqa: S608
                [key, timezone.now(), users[name].pk],
            )
    return keys


@pytest.mark.django_db(transaction=True)
def test_existing_clients_keep_their_tokens_across_the_migration_and_no_plain_key_remains(
    django_user_model, txn_body, capsys
):
    keys = _legacy_installation(django_user_model)
    migration = importlib.import_module("transactions.migrations.0003_hashed_client_tokens")
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state(("transactions", "0003_hashed_client_tokens"))

    with connection.schema_editor() as editor:
        migration.forward(state.apps, editor)

    assert LEGACY_TABLE not in connection.introspection.table_names()
    scopes = dict(ApiClient.objects.values_list("user__username", "scope"))
    assert scopes == {"old-reader": "read", "old-writer": "write", "old-both": "write"}
    reader, writer, both = (_client_with_token(keys[name]) for name in ("old-reader", "old-writer", "old-both"))
    assert reader.get(LIST_URL).status_code == HTTPStatus.OK
    assert reader.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.FORBIDDEN
    assert writer.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED
    assert both.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED
    # The hand-made token had no scope to carry over: dropped, and its user named for the operator.
    assert _client_with_token(keys["staff-reader"]).get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED
    assert "staff-reader" in capsys.readouterr().out
    # Clients left the groups; the person in api-read keeps it, the emptied api-write is gone.
    assert list(Group.objects.values_list("name", flat=True)) == ["api-read"]
    assert list(Group.objects.get(name="api-read").user_set.values_list("username", flat=True)) == ["staff-reader"]
    dump = _dump()
    for key in keys.values():
        assert key not in dump
