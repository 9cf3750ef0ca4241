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


def test_it_makes_a_clerk_who_sees_transactions_with_names_masked(settings, write_client, txn_body):
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.DEBUG = True
    write_client.post(LIST_URL, {**txn_body, "full_name": "Ama Mensah"}, format="json")
    out = StringIO()
    call_command("ensure_demo_access", "--password", "demo-Secret-123", stdout=out, stderr=StringIO())
    assert re.search(r"Clerk: .* user 'clerk'  password 'demo-Secret-123'  \(sees names masked\)", out.getvalue())
    assert re.search(r"Admin: .* user 'admin'  password 'demo-Secret-123'", out.getvalue())
    call_command("ensure_demo_access", "--password", "demo-Secret-123", stdout=StringIO(), stderr=StringIO())

    clerk = get_user_model().objects.get(username="clerk")
    assert clerk.is_staff and not clerk.is_superuser
    assert clerk.has_perm("transactions.view_transaction")
    assert not clerk.has_perm("transactions.view_full_name")
    assert not clerk.has_perm("transactions.change_transaction")
    browser = Client()
    # Through the login page, as a person does (django-axes needs the request).
    logged_in = browser.post("/admin/login/?next=/admin/", {"username": "clerk", "password": "demo-Secret-123"})
    assert logged_in.status_code == HTTPStatus.FOUND and logged_in["Location"] == "/admin/"
    admin_list = browser.get("/admin/transactions/transaction/").content.decode()
    api_list = browser.get(LIST_URL, HTTP_ACCEPT="application/json").json()
    assert "A*** M*****" in admin_list and "Ama Mensah" not in admin_list
    assert api_list["results"][0]["full_name"] == "A*** M*****"
    for page in ("/admin/analytics/alert/", "/admin/analytics/creditprofile/", "/admin/transactions/outboxevent/"):
        assert browser.get(page).status_code == HTTPStatus.OK, page
