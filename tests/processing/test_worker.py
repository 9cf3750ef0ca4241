"""Services mode: a real Celery worker and beat against the real broker, and a write made while the broker is down."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from analytics.models import Alert, CreditProfile
from transactions import outbox
from transactions.clients import api_client_create
from transactions.models import OutboxEvent

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]

BASE_DIR = Path(settings.BASE_DIR)
LIST = "/api/v1/transactions/"
CLOSED_BROKER = "redis://127.0.0.1:1/0"


def wait_for(condition, *, seconds: float = 90, what: str = "condition"):
    """Poll until `condition()` is truthy; fail (not a timing assertion: a generous deadline) otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"gave up waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def test_database_env(transactional_db) -> dict:
    """The environment of a subprocess that must see pytest's test database (``test_<name>``)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    url = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DEBUG": "1", "PYTHONUNBUFFERED": "1"}


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def celery_worker(test_database_env, tmp_path):
    """`celery -A fido worker` as a subprocess on the configured (real) broker and the test database."""
    log = (tmp_path / "worker.log").open("w")
    command = [sys.executable, "-m", "celery", "-A", "fido", "worker", "--pool", "solo", "--loglevel", "INFO"]
    command += ["--hostname", f"pytest-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        command,
        cwd=BASE_DIR,
        env=test_database_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield tmp_path / "worker.log"
    _stop(process)
    log.close()


@pytest.fixture
def celery_beat(test_database_env, tmp_path):
    """`celery -A fido beat` as a subprocess: the relay that publishes every write's event."""
    log = (tmp_path / "beat.log").open("w")
    command = [sys.executable, "-m", "celery", "-A", "fido", "beat", "--loglevel", "INFO"]
    command += ["--schedule", str(tmp_path / "beat-schedule")]
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        command, cwd=BASE_DIR, env=test_database_env, stdout=log, stderr=subprocess.STDOUT
    )
    yield tmp_path / "beat.log"
    _stop(process)
    log.close()


@pytest.fixture
def server_without_broker(test_database_env, tmp_path):
    """The app served by gunicorn with CELERY_BROKER_URL pointing at a closed port."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        [sys.executable, "-m", "gunicorn", "fido.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=BASE_DIR,
        env={**test_database_env, "CELERY_BROKER_URL": CLOSED_BROKER},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def healthy():
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                return response.status == HTTPStatus.OK
        except OSError:
            return False

    wait_for(healthy, seconds=60, what="the server to start")
    yield base
    _stop(process)
    log.close()


def test_a_real_worker_processes_a_write_end_to_end(write_client, txn_body, celery_worker, celery_beat):
    response = write_client.post(LIST, {**txn_body, "transaction_amount": "25000.00"}, format="json")
    assert response.status_code == HTTPStatus.CREATED
    txn_id = response.json()["id"]
    # The request published nothing: beat's relay does, within its interval.

    event = wait_for(
        lambda: OutboxEvent.objects.filter(transaction_id=txn_id, status=OutboxEvent.Status.DONE).first(),
        what="the worker to process the event",
    )

    assert event.attempts == 1
    alerts = write_client.get("/api/v1/alerts/", {"user_id": 42}).json()["results"]
    assert [(alert["rule"], alert["transaction_id"]) for alert in alerts] == [("large_amount", txn_id)]
    profile = write_client.get("/api/v1/users/42/credit-profile/")
    assert profile.status_code == HTTPStatus.OK
    assert 300 <= profile.json()["score"] <= 850
    assert "Ama Mensah" not in celery_worker.read_text()


def test_a_write_during_a_broker_outage_succeeds_and_is_delivered_when_the_broker_is_back(
    server_without_broker, celery_worker, txn_body
):
    token = api_client_create(name="outage-writer", scope="write").key
    request = urllib.request.Request(  # noqa: S310
        f"{server_without_broker}{LIST}",
        data=json.dumps({**txn_body, "transaction_amount": "25000.00"}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == HTTPStatus.CREATED
        txn_id = json.loads(response.read())["id"]

    event = OutboxEvent.objects.get(transaction_id=txn_id)
    assert (event.status, event.attempts) == (OutboxEvent.Status.PENDING, 0)
    assert not Alert.objects.exists()

    # The broker is back (the worker runs on the configured one): the relay publishes what was left.
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=event.created_at.replace(year=2000))
    assert outbox.relay().published == 1
    wait_for(
        lambda: OutboxEvent.objects.filter(pk=event.pk, status=OutboxEvent.Status.DONE).exists(),
        what="the relayed event to be processed",
    )
    assert Alert.objects.filter(transaction_id=txn_id, rule=Alert.Rule.LARGE_AMOUNT).count() == 1
    assert CreditProfile.objects.filter(user_id=txn_body["user_id"]).exists()
