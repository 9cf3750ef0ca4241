"""`manage.py ensure_demo_access` (make run): each run prints a working write token and retires the last one."""

import re
from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import _client_with_token

from .conftest import LIST_URL

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("ensure_demo_access", "--password", "demo-Secret-123", stdout=out, stderr=StringIO())
    return re.search(r"API token \(write\): (\S+)", out.getvalue()).group(1)


def test_each_run_prints_a_new_write_token_in_place_of_the_last(settings, txn_body):
    settings.DEBUG = True
    first = run()
    second = run()

    assert first != second
    assert _client_with_token(first).get(LIST_URL).status_code == HTTPStatus.UNAUTHORIZED
    assert _client_with_token(second).post(LIST_URL, txn_body, format="json").status_code == HTTPStatus.CREATED


def test_it_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        run()
