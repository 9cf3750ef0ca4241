"""/healthz while the process runs; /readyz decided by the database alone, every check bounded."""

import os
import re
import subprocess
import sys
import threading
from http import HTTPStatus
from pathlib import Path

import pytest
from django.db import connections

from fido import health

BASE_DIR = Path(__file__).resolve().parents[2]

DOWN_REDIS_CACHE = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2, "IGNORE_EXCEPTIONS": True},
    }
}


def assert_error_class_only(reason: str, response) -> None:
    """A failing check's reason is an error class, never a host, address, port or credential."""
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", reason), reason
    for leak in ("127.0.0.1", "localhost", "db.example.com"):
        assert leak not in response.content.decode()


def test_healthz_answers_without_credentials(anon_client):
    response = anon_client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_every_dependency_when_the_database_answers(anon_client):
    response = anon_client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["status"] == "ready"
    assert {body[name]["status"] for name in ("database", "cache", "broker")} == {"ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_503_with_the_reason_when_the_database_is_unreachable(anon_client, monkeypatch):
    unreachable = {**connections.settings["default"]}
    if unreachable["ENGINE"] == "django.db.backends.sqlite3":
        unreachable["NAME"] = "/nonexistent-directory/fido.sqlite3"
    else:
        unreachable.update(HOST="127.0.0.1", PORT="1")
    # Only connections opened from now on (the check opens its own) see the broken settings.
    monkeypatch.setattr(connections, "settings", {**connections.settings, "default": unreachable})

    response = anon_client.get("/readyz")

    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    body = response.json()
    assert body["status"] == "not ready"
    assert body["database"]["status"] == "failing"
    assert_error_class_only(body["database"]["reason"], response)


@pytest.mark.django_db
def test_readyz_stays_ready_when_the_cache_is_down(anon_client, settings):
    settings.CACHES = DOWN_REDIS_CACHE

    response = anon_client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    assert response.json()["cache"] == {"status": "failing", "reason": "ConnectionError"}
    assert_error_class_only("ConnectionError", response)


@pytest.mark.django_db
def test_readyz_stays_ready_when_the_broker_is_down_and_hides_its_password(anon_client, settings):
    settings.CELERY_BROKER_URL = "redis://:broker-password@127.0.0.1:1/0"

    response = anon_client.get("/readyz")

    assert response.status_code == HTTPStatus.OK
    broker = response.json()["broker"]
    assert broker["status"] == "failing"
    assert_error_class_only(broker["reason"], response)
    assert "broker-password" not in response.content.decode()


@pytest.mark.django_db
def test_a_check_that_hangs_is_reported_as_failing_and_does_not_hang_readyz(anon_client, settings, monkeypatch):
    settings.HEALTH_CHECK_TIMEOUT = 0.2
    release = threading.Event()
    monkeypatch.setitem(health.CHECKS, "cache", lambda: release.wait(30))

    try:
        response = anon_client.get("/readyz")
    finally:
        release.set()
        finish_check_threads()

    assert response.status_code == HTTPStatus.OK
    assert response.json()["cache"] == {
        "status": "failing",
        "reason": "TimeoutError",
        "detail": "no answer within 0.2 s",
    }


def finish_check_threads() -> None:
    """Wait for released check threads, so that the next test's probe starts checks of its own."""
    for thread in threading.enumerate():
        if thread.name.startswith("readyz-"):
            thread.join(30)


@pytest.mark.django_db
def test_a_hung_database_check_is_not_started_again_while_it_runs(anon_client, settings, monkeypatch):
    settings.HEALTH_CHECK_TIMEOUT = 0.2
    release = threading.Event()
    calls = []

    def hung_database():
        calls.append(1)
        release.wait(30)

    monkeypatch.setitem(health.CHECKS, "database", hung_database)
    try:
        first = anon_client.get("/readyz")
        second = anon_client.get("/readyz")
    finally:
        release.set()
        finish_check_threads()

    assert first.status_code == second.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert first.json()["database"] == {
        "status": "failing",
        "reason": "TimeoutError",
        "detail": "no answer within 0.2 s",
    }
    assert second.json()["database"]["status"] == "failing"
    assert "still running" in second.json()["database"]["detail"]
    assert len(calls) == 1
    assert anon_client.get("/readyz").status_code == HTTPStatus.OK  # a finished check is not reused


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://fido@db.example.com:5432/fido", "{'connect_timeout': 3}"),
        ("postgres://fido@db.example.com:5432/fido?connect_timeout=9", "{'connect_timeout': 9}"),
    ],
)
def test_postgresql_connections_have_a_connect_timeout(url, expected):
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_REPLICA_URLS"}
    env.update(ENV_FILE="", DEBUG="1", DATABASE_URL=url, DB_CONNECT_TIMEOUT="3")
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"],
        cwd=BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "fido.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_health_endpoints_take_only_safe_methods(anon_client):
    assert anon_client.post("/healthz").status_code == HTTPStatus.METHOD_NOT_ALLOWED


@pytest.mark.django_db
def test_probes_answer_any_host_and_plain_http_behind_tls(anon_client, settings):
    settings.ALLOWED_HOSTS = ["fido.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    assert anon_client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == HTTPStatus.OK
    assert anon_client.get("/readyz", HTTP_HOST="10.0.0.7:8000").status_code == HTTPStatus.OK
    assert anon_client.get("/api/schema/", HTTP_HOST="10.0.0.7:8000").status_code == HTTPStatus.BAD_REQUEST
