"""Logs: one JSON line per request with its id and client; no plain name, token or key in any line."""

import json
import uuid
from http import HTTPStatus

import pytest
from django.conf import settings

from fido.celery import app as celery_app
from transactions import services
from transactions.clients import api_client_create

NAME = "Zanele Okonkwo-Secret"


def _lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _secrets(token: str) -> list[str]:
    return [NAME, token, settings.SECRET_KEY, settings.FIELD_HASH_KEY, *settings.FIELD_ENCRYPTION_KEYS]


@pytest.fixture
def writer(db):
    token = api_client_create(name=f"log-writer-{uuid.uuid4().hex[:8]}", scope="write")
    return token


@pytest.fixture
def writer_client(writer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {writer.key}")
    return client


def test_each_request_writes_one_json_line_and_returns_its_request_id(writer_client, writer, log_output):
    response = writer_client.get("/api/v1/transactions/", HTTP_X_REQUEST_ID="trace-123")

    assert response.status_code == HTTPStatus.OK
    assert response["X-Request-ID"] == "trace-123"
    (line,) = [line for line in _lines(log_output) if line.get("event") == "request"]
    assert line["request_id"] == "trace-123"
    assert line["client"] == writer.user.username
    assert line["method"] == "GET"
    assert line["route"] == "api/v1/transactions/"
    assert line["status"] == HTTPStatus.OK
    assert line["duration_ms"] >= 0


def test_a_request_without_an_id_gets_a_fresh_one(anon_client, log_output):
    first = anon_client.get("/api/schema/")["X-Request-ID"]
    second = anon_client.get("/api/schema/", HTTP_X_REQUEST_ID="not an id\n")["X-Request-ID"]

    assert first and second and first != second
    assert "\n" not in second
    assert [line["request_id"] for line in _lines(log_output)] == [first, second]


def test_no_name_token_or_key_is_logged_around_create_update_and_failures(
    writer_client, writer, txn_body, log_output, monkeypatch
):
    created = writer_client.post("/api/v1/transactions/", {**txn_body, "full_name": NAME}, format="json")
    assert created.status_code == HTTPStatus.CREATED
    updated = writer_client.patch(
        f"/api/v1/transactions/{created.json()['id']}/", {"full_name": f"  {NAME}  "}, format="json"
    )
    assert updated.status_code == HTTPStatus.OK
    invalid = writer_client.post(
        "/api/v1/transactions/", {**txn_body, "full_name": NAME, "transaction_amount": "-1"}, format="json"
    )
    assert invalid.status_code == HTTPStatus.BAD_REQUEST

    def fail(**fields):
        raise RuntimeError(
            f"storage refused {fields['full_name']} of client {writer.key} under {settings.FIELD_ENCRYPTION_KEYS[0]}"
            f" and {settings.SECRET_KEY}"
        )

    monkeypatch.setattr(services, "transaction_create", fail)
    writer_client.raise_request_exception = False
    crashed = writer_client.post("/api/v1/transactions/", {**txn_body, "full_name": NAME}, format="json")
    assert crashed.status_code == HTTPStatus.INTERNAL_SERVER_ERROR

    # Django logs the path of a 404 ("Not Found: /api/v1/transactions/<token>/").
    assert writer_client.get(f"/api/v1/transactions/{writer.key}/").status_code == HTTPStatus.NOT_FOUND

    output = log_output.getvalue()
    statuses = [line["status"] for line in _lines(log_output) if line.get("event") == "request"]
    assert statuses == [
        HTTPStatus.CREATED,
        HTTPStatus.OK,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.NOT_FOUND,
    ]
    assert any(line["level"] == "ERROR" and "[redacted]" in json.dumps(line) for line in _lines(log_output))
    for secret in _secrets(writer.key):
        assert secret not in output


@celery_app.task(name="tests.production.echo_length")
def echo_length(text: str) -> int:
    return len(text)


def test_each_task_writes_one_json_line_without_its_arguments(log_output):
    result = echo_length.apply(args=[NAME], task_id="task-123")

    assert result.get() == len(NAME)
    (line,) = [line for line in _lines(log_output) if line.get("event") == "task"]
    assert line["task"] == "tests.production.echo_length"
    assert line["task_id"] == "task-123"
    assert line["request_id"] == "task-123"
    assert line["state"] == "SUCCESS"
    assert line["duration_ms"] >= 0
    assert NAME not in log_output.getvalue()


def test_the_route_is_logged_as_a_template_not_the_path(writer_client, log_output):
    writer_client.get("/api/v1/transactions/987654321/")
    writer_client.get("/api/v1/users/42/transactions/")

    routes = [line["route"] for line in _lines(log_output) if line.get("event") == "request"]
    assert routes == ["api/v1/transactions/{pk}/", "api/v1/users/{user_id}/transactions/"]


def test_a_body_too_deep_to_parse_is_left_to_the_parser(writer_client):
    body = "[" * 100_000 + "]" * 100_000

    response = writer_client.generic("POST", "/api/v1/transactions/", body, content_type="application/json")

    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_the_metrics_and_webhook_secrets_never_reach_a_log_line(settings, log_output):
    import logging

    settings.METRICS_TOKEN = "metrics-token-" + uuid.uuid4().hex
    settings.ALERT_WEBHOOK_SECRET = "webhook-secret-" + uuid.uuid4().hex

    logging.getLogger("fido.test").warning(
        "scrape with %s, push signed with %s", settings.METRICS_TOKEN, settings.ALERT_WEBHOOK_SECRET
    )

    text = log_output.getvalue()
    assert "scrape with" in text
    assert settings.METRICS_TOKEN not in text
    assert settings.ALERT_WEBHOOK_SECRET not in text
