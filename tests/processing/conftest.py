"""Fixtures of the processing tests: task mode, publish recording, a local webhook receiver, service checks."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from fido.celery import app as celery_app


def services_available() -> bool:
    """Real PostgreSQL and a real broker configured (the services CI mode)."""
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and bool(settings.CELERY_BROKER_URL)


@pytest.fixture(autouse=True)
def _task_mode(request):
    """Services tests need a real broker; every other test runs tasks in-process, as embedded mode does."""
    if request.node.get_closest_marker("services"):
        if not services_available():
            pytest.skip("needs PostgreSQL and a Celery broker (services mode)")
        yield
        return
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def published(monkeypatch) -> list[int]:
    """Event ids handed to the broker, instead of running their processing."""
    from analytics import tasks

    calls: list[int] = []
    monkeypatch.setattr(tasks.process_event, "apply_async", lambda args, **kwargs: calls.append(args[0]))
    return calls


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that records requests and answers with the given statuses in turn."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payloads(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]


@pytest.fixture
def http_server():
    """Serve a given BaseHTTPRequestHandler class on 127.0.0.1; returns the base URL."""
    servers = []

    def start(handler) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook_receiver():
    """Start a receiver; call it with the statuses to answer (200 once they run out)."""
    receivers = []

    def start(statuses=()):
        receiver = WebhookReceiver(list(statuses))
        receiver.thread.start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.server.shutdown()
        receiver.server.server_close()


LIST = "/api/v1/transactions/"


@pytest.fixture
def write_api(write_client, txn_body, django_capture_on_commit_callbacks):
    """Writes through the API with their after-commit work run, as after a real request."""
    from http import HTTPStatus

    class WriteApi:
        client = write_client

        def create(self, **fields) -> dict:
            with django_capture_on_commit_callbacks(execute=True):
                response = write_client.post(LIST, {**txn_body, **fields}, format="json")
            assert response.status_code == HTTPStatus.CREATED, response.content
            return response.json()

        def patch(self, txn_id: int, **fields) -> dict:
            with django_capture_on_commit_callbacks(execute=True):
                response = write_client.patch(f"{LIST}{txn_id}/", fields, format="json")
            assert response.status_code == HTTPStatus.OK, response.content
            return response.json()

        def delete(self, txn_id: int) -> None:
            with django_capture_on_commit_callbacks(execute=True):
                response = write_client.delete(f"{LIST}{txn_id}/")
            assert response.status_code == HTTPStatus.NO_CONTENT

    return WriteApi()
