"""Security: deploy checks under production variables, per-client throttling, admin for staff only."""

import base64
import os
import secrets
import subprocess
import sys
import uuid
from http import HTTPStatus
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from transactions.clients import api_client_create

from .test_health import DOWN_REDIS_CACHE

BASE_DIR = Path(__file__).resolve().parents[2]


def production_env(**overrides: str) -> dict[str, str]:
    """The variables of a production deployment (SQLite stands in for the database: no query runs)."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        ENV_FILE="",  # a developer's or CI's .env must not fill in what a test leaves out
        DEBUG="0",
        HTTPS_ONLY="1",
        SECRET_KEY=secrets.token_urlsafe(64),
        FIELD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        FIELD_HASH_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="fido.example.com",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/1",
    )
    env.update(overrides)
    return env


def run_deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_is_clean_under_production_variables():
    result = run_deploy_check(production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_without_tls_settings():
    result = run_deploy_check(production_env(HTTPS_ONLY="0"))

    assert result.returncode != 0
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in result.stderr


def test_production_start_up_names_a_missing_secret():
    env = production_env()
    del env["FIELD_HASH_KEY"]

    result = run_deploy_check(env)

    assert result.returncode != 0
    assert "FIELD_HASH_KEY" in result.stderr


def _new_client(scope: str = "read") -> APIClient:
    client = APIClient()
    token = api_client_create(name=f"throttled-{uuid.uuid4().hex[:12]}", scope=scope)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def fresh_cache_namespace(settings):
    """Counters of this test only: user ids repeat across test databases, Redis outlives them."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.mark.django_db
def test_a_client_over_its_rate_gets_429_with_retry_after_in_the_error_shape(settings, fresh_cache_namespace):
    settings.THROTTLE_RATE_USER = "3/hour"
    client, other = _new_client(), _new_client()

    statuses = [client.get("/api/v1/transactions/").status_code for _ in range(4)]
    throttled = client.get("/api/v1/transactions/")

    assert statuses == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    assert throttled.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 1 <= int(throttled["Retry-After"]) <= 3600
    body = throttled.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "throttled"
    assert body["errors"][0]["attr"] is None
    assert other.get("/api/v1/transactions/").status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_throttling_fails_open_when_the_cache_is_down(settings):
    settings.THROTTLE_RATE_USER = "1/hour"
    settings.CACHES = DOWN_REDIS_CACHE
    client = _new_client()

    statuses = {client.get("/api/v1/transactions/").status_code for _ in range(3)}

    assert statuses == {HTTPStatus.OK}


@pytest.mark.django_db
def test_an_empty_rate_means_no_limit(settings):
    settings.THROTTLE_RATE_USER = ""
    client = _new_client()

    assert {client.get("/api/v1/transactions/").status_code for _ in range(5)} == {HTTPStatus.OK}


@pytest.mark.django_db
def test_admin_is_for_staff_only(client):
    users = get_user_model().objects
    users.create_user("plain", password="a-long-password-1")
    users.create_user("clerk", password="a-long-password-2", is_staff=True)

    assert client.get("/admin/").status_code == HTTPStatus.FOUND
    # Through the login page (Client.login would call authenticate() without the request django-axes needs).
    client.post("/admin/login/", {"username": "plain", "password": "a-long-password-1"})
    assert client.get("/admin/").status_code == HTTPStatus.FOUND
    client.post("/admin/login/", {"username": "clerk", "password": "a-long-password-2"})
    assert client.get("/admin/").status_code == HTTPStatus.OK


@pytest.mark.django_db
def test_an_api_client_token_does_not_open_the_admin(client):
    token = api_client_create(name=f"api-{uuid.uuid4().hex[:8]}", scope="write")

    response = client.get("/admin/", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == HTTPStatus.FOUND
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("value", ["10k", "0", "-5", "NaN", "Infinity"])
def test_production_start_up_refuses_a_bad_large_transaction_threshold(value):
    result = run_deploy_check(production_env(LARGE_TRANSACTION_THRESHOLD=value))

    assert result.returncode != 0
    assert "LARGE_TRANSACTION_THRESHOLD" in result.stderr


def test_production_start_up_accepts_a_decimal_large_transaction_threshold():
    result = run_deploy_check(production_env(LARGE_TRANSACTION_THRESHOLD="2500.50"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_start_up_needs_the_webhook_secret_with_a_webhook_url():
    env = production_env(ALERT_WEBHOOK_URL="https://hooks.example.com/fido")
    env.pop("ALERT_WEBHOOK_SECRET", None)

    result = run_deploy_check(env)

    assert result.returncode != 0
    assert "ALERT_WEBHOOK_SECRET" in result.stderr
