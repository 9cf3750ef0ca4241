"""`manage.py create_api_client NAME --scope read|write`."""

import hashlib
import re
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

    assert read_token.strip() == read_token
    assert re.fullmatch(r"fido_[0-9a-f]{64}", read_token) and re.fullmatch(r"fido_[0-9a-f]{64}", write_token)
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


def test_a_clients_permissions_are_its_scope_whatever_its_user_holds(txn_body):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    reader = _client_with_token(run("granted-reader", "--scope", "read").splitlines()[-1])
    user = get_user_model().objects.get(username="granted-reader")
    everything = Group.objects.create(name="everything")
    everything.permissions.set(Permission.objects.all())
    user.groups.add(everything)
    user.user_permissions.add(Permission.objects.get(codename="add_transaction"))

    assert reader.post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.FORBIDDEN
    assert reader.get(LIST_URL).status_code == HTTPStatus.OK
    assert reader.get("/api/v1/alerts/").status_code == HTTPStatus.OK


def test_every_scope_permission_exists():
    from django.contrib.auth.models import Permission

    from transactions.clients import SCOPE_PERMISSIONS

    existing = {
        f"{app_label}.{codename}"
        for app_label, codename in Permission.objects.values_list("content_type__app_label", "codename")
    }
    assert SCOPE_PERMISSIONS["read"] < SCOPE_PERMISSIONS["write"] <= existing
    assert {perm.split(".")[1].split("_")[0] for perm in SCOPE_PERMISSIONS["read"]} == {"view"}


def test_the_token_is_stored_only_as_its_digest():
    from knox.models import AuthToken

    token = run("hashed", "--scope", "read").splitlines()[-1]

    (stored,) = AuthToken.objects.filter(user__username="hashed")
    assert stored.digest == hashlib.sha512(token.encode()).hexdigest()
    assert stored.expiry is None
    assert token not in {stored.digest, stored.token_key}
