"""`manage.py create_api_client NAME --scope read|write` (SPEC §3)."""

from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import _client_with_token

from .conftest import LIST_URL

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("create_api_client", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_token_alone_on_the_last_line_works_for_its_scope(txn_body):
    read_token = run("ledger-reader", "--scope", "read").splitlines()[-1]
    write_token = run("ledger-writer", "--scope=write").splitlines()[-1]

    assert read_token.strip() == read_token and len(read_token) == 40
    reader, writer = _client_with_token(read_token), _client_with_token(write_token)
    assert writer.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED
    assert reader.get(LIST_URL).status_code == HTTPStatus.OK
    assert reader.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("args", [("x", "--scope", "admin"), ("x", "--scope", ""), ("x",), ()])
def test_bad_arguments_exit_non_zero_with_a_message(args):
    with pytest.raises(CommandError) as excinfo:
        run(*args)

    assert str(excinfo.value)


def test_bad_scope_from_the_shell_exits_non_zero_with_a_message():
    import subprocess
    import sys

    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_client", "x", "--scope", "admin"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
        env={"DEBUG": "1", "PATH": ""},
    )

    assert result.returncode != 0
    assert "scope" in result.stderr
    assert result.stdout == ""


def test_duplicate_name_is_refused_and_the_first_token_keeps_working():
    token = run("ledger", "--scope", "read").splitlines()[-1]

    with pytest.raises(CommandError, match="already exists"):
        run("ledger", "--scope", "write")

    assert _client_with_token(token).get(LIST_URL).status_code == HTTPStatus.OK
    assert _client_with_token(token).post(LIST_URL, {}, format="json").status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("name", ["", "   ", "x" * 151])
def test_bad_name_is_refused(name):
    with pytest.raises(CommandError):
        run(name, "--scope", "read")


def test_migrate_gives_existing_clients_the_permissions_of_their_scope():
    from django.contrib.auth.models import Group
    from django.core.management.sql import emit_post_migrate_signal

    token = run("old-reader", "--scope", "read").splitlines()[-1]
    Group.objects.get(name="api-read").permissions.clear()  # as a group made before a model joined
    reader = _client_with_token(token)
    assert reader.get("/api/v1/alerts/").status_code == HTTPStatus.FORBIDDEN

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert reader.get("/api/v1/alerts/").status_code == HTTPStatus.OK
    assert reader.get(LIST_URL).status_code == HTTPStatus.OK
    assert reader.post(LIST_URL, {}, format="json").status_code == HTTPStatus.FORBIDDEN
