"""The admin login is rate-limited (django-axes): after ADMIN_LOGIN_FAILURE_LIMIT failures for one username
from one client address, that pair is refused for ADMIN_LOGIN_COOLOFF_MINUTES whatever password it sends.
Driven through the real login page; the client's address is the proxy's X-Forwarded-For when an allowed
proxy sent it (FORWARDED_ALLOW_IPS), else the peer's. API tokens never go through it."""

import datetime as dt
import re
from http import HTTPStatus

import pytest
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.test import Client
from django.utils import timezone

from transactions.clients import api_client_create

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "clerk-password-1"
PROXY = "10.0.0.2"
LOCKED = "Too many failed logins for this username from your address."


@pytest.fixture(autouse=True)
def behind_a_proxy(settings):
    settings.FORWARDED_ALLOW_IPS = PROXY
    # Dozens of logins per test: a fast hasher (the real one takes about a second per attempt here).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clerk(django_user_model):
    return django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)


def login(username: str, password: str, *, client_address: str, peer: str = PROXY) -> tuple[Client, object]:
    """One attempt on the admin login page, through the proxy (or from `peer` directly), in a fresh session."""
    client = Client()
    extra = {"REMOTE_ADDR": peer}
    if peer == PROXY:
        extra["HTTP_X_FORWARDED_FOR"] = client_address
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **extra)
    return client, response


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail_up_to_the_limit(username: str, client_address: str) -> None:
    """ADMIN_LOGIN_FAILURE_LIMIT failures: the login page again for all but the last, which locks out."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client, response = login(username, "wrong-password", client_address=client_address)
        assert response.status_code == HTTPStatus.OK  # with Django's usual "enter a correct username" error
        assert LOCKED not in response.text
        assert not logged_in(client)
    client, response = login(username, "wrong-password", client_address=client_address)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert LOCKED in response.text


def page(response) -> str:
    """The page without what differs per request (the CSRF token)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.text)


def test_the_limit_locks_the_username_out_from_that_address_even_with_the_right_password(clerk):
    fail_up_to_the_limit("clerk", "203.0.113.7")

    client, right = login("clerk", PASSWORD, client_address="203.0.113.7")
    _, wrong = login("clerk", "wrong-password", client_address="203.0.113.7")

    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert LOCKED in right.text and f"Try again in {settings.AXES_COOLOFF_TIME.seconds // 60} minutes" in right.text
    assert not logged_in(client)
    assert "sessionid" not in right.cookies
    # Nothing tells a right password from a wrong one once locked out.
    assert wrong.status_code == right.status_code
    assert page(wrong) == page(right)


def test_a_locked_out_page_does_not_tell_whether_the_username_exists(clerk):
    fail_up_to_the_limit("clerk", "203.0.113.7")
    fail_up_to_the_limit("nobody", "203.0.113.7")

    _, existing = login("clerk", PASSWORD, client_address="203.0.113.7")
    _, unknown = login("nobody", PASSWORD, client_address="203.0.113.7")

    assert existing.status_code == unknown.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert page(existing) == page(unknown)


def test_the_same_username_from_another_address_still_logs_in(clerk):
    fail_up_to_the_limit("clerk", "203.0.113.7")

    client, response = login("clerk", PASSWORD, client_address="198.51.100.4")

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/"
    assert logged_in(client)


def test_another_username_from_the_locked_address_still_logs_in(clerk, django_user_model):
    django_user_model.objects.create_user("auditor", password="auditor-password-1", is_staff=True)
    fail_up_to_the_limit("clerk", "203.0.113.7")

    client, response = login("auditor", "auditor-password-1", client_address="203.0.113.7")

    assert response.status_code == HTTPStatus.FOUND
    assert logged_in(client)


def test_the_lockout_ends_after_the_cool_off(clerk):
    fail_up_to_the_limit("clerk", "203.0.113.7")
    assert login("clerk", PASSWORD, client_address="203.0.113.7")[1].status_code == HTTPStatus.TOO_MANY_REQUESTS

    # As if the cool-off had passed since the last failure.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))
    client, response = login("clerk", PASSWORD, client_address="203.0.113.7")

    assert response.status_code == HTTPStatus.FOUND
    assert logged_in(client)


def test_attempts_during_the_lockout_do_not_extend_it(clerk):
    fail_up_to_the_limit("clerk", "203.0.113.7")
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME + dt.timedelta(seconds=30))

    assert login("clerk", "wrong-password", client_address="203.0.113.7")[1].status_code == 429
    assert login("clerk", "wrong-password", client_address="203.0.113.7")[1].status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1))

    assert login("clerk", PASSWORD, client_address="203.0.113.7")[1].status_code == HTTPStatus.FOUND


def test_a_success_before_the_limit_starts_the_count_again(clerk):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login("clerk", "wrong-password", client_address="203.0.113.7")
    assert login("clerk", PASSWORD, client_address="203.0.113.7")[1].status_code == HTTPStatus.FOUND

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login("clerk", "wrong-password", client_address="203.0.113.7")[1].status_code == HTTPStatus.OK
    assert login("clerk", PASSWORD, client_address="203.0.113.7")[1].status_code == HTTPStatus.FOUND


def test_a_client_cannot_escape_by_forging_x_forwarded_for_without_the_proxy(clerk):
    """A peer that is not the proxy is counted by its own address, whatever X-Forwarded-For it sends."""
    direct = "198.51.100.20"
    for n in range(settings.AXES_FAILURE_LIMIT):  # the last of them locks out
        client = Client()
        client.post(
            LOGIN,
            {"username": "clerk", "password": "wrong-password"},
            REMOTE_ADDR=direct,
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )

    client = Client()
    response = client.post(
        LOGIN, {"username": "clerk", "password": PASSWORD}, REMOTE_ADDR=direct, HTTP_X_FORWARDED_FOR="203.0.113.99"
    )

    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {direct}


def test_the_proxy_counts_each_client_by_the_address_it_saw(clerk):
    fail_up_to_the_limit("clerk", "203.0.113.7")

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


def test_api_tokens_are_never_counted_nor_locked_out(client):
    token = api_client_create(name="ledger", scope="read")
    username = token.user.get_username()
    fail_up_to_the_limit(username, "203.0.113.7")
    attempts, logs = AccessAttempt.objects.count(), AccessLog.objects.count()

    for _ in range(3):
        response = client.get(
            "/api/v1/transactions/",
            HTTP_AUTHORIZATION=f"Token {token.key}",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR="203.0.113.7",
        )
        assert response.status_code == HTTPStatus.OK
    bad = client.get("/api/v1/transactions/", HTTP_AUTHORIZATION="Token fido_" + "0" * 64, REMOTE_ADDR=PROXY)

    assert bad.status_code == HTTPStatus.UNAUTHORIZED
    assert (AccessAttempt.objects.count(), AccessLog.objects.count()) == (attempts, logs)
