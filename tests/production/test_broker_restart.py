"""The worker survives a Redis broker restart while it holds an unacknowledged message.

Started as docker-compose.yml starts it, against a redis-server of the test's own that is killed
(SIGKILL) and started again on the same port. Before fido/broker_fix.py the worker exited with
"Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")".
The whole scenario over HTTP, on Redis and RabbitMQ, is `make production-check`.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fido.celery import app as celery_app

BASE_DIR = Path(__file__).resolve().parents[2]
TAKEN = re.compile(r"Task analytics\.tasks\.refresh_analytics\[[0-9a-f-]+\] received")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server program"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


class RedisServer:
    """A redis-server of our own on a free port, no persistence: a restart starts empty."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self.answers, seconds=10, what="redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def compose_worker_command() -> list[str]:
    """The worker's command line in docker-compose.yml, run with this interpreter's celery."""
    command = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]["worker"]["command"]
    assert command[0] == "celery"
    return [sys.executable, "-m", "celery", *command[1:]]


def compose_worker_health_check(env: dict) -> bool:
    """docker-compose.yml's health check of the worker (`celery inspect ping` to this host's worker)."""
    test = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]["worker"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    command = shlex.split(test[1].replace("$$HOSTNAME", socket.gethostname()))
    assert command[0] == "celery"
    result = subprocess.run(  # noqa: S603 - the compose command line
        [sys.executable, "-m", "celery", *command[1:]], cwd=BASE_DIR, env=env, capture_output=True, timeout=60
    )
    return result.returncode == 0


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def test_worker_survives_a_redis_broker_restart_holding_an_unacknowledged_message(broker, tmp_path):
    url = f"redis://127.0.0.1:{broker.port}/0"
    env = {
        **os.environ,
        "ENV_FILE": "",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "CELERY_BROKER_URL": url,
        "CELERY_QUEUE": "broker-restart",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(  # noqa: S603 - the compose command line
            compose_worker_command(), cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: "ready." in log_path.read_text(), seconds=60, what="the worker to start")
        # A retry waiting for its countdown: the worker holds the message, unacknowledged, for 10 min.
        with celery_app.connection_for_write(url) as connection:
            celery_app.send_task(
                "analytics.tasks.refresh_analytics", countdown=600, queue="broker-restart", connection=connection
            )
        wait_for(lambda: TAKEN.search(log_path.read_text()), seconds=30, what="the worker to take the task")

        broker.kill()
        wait_for(lambda: "Connection to broker lost" in log_path.read_text(), seconds=30, what="the loss")
        time.sleep(1)
        broker.start()
        reconnects = wait_for(
            lambda: log_path.read_text().count("Connected to redis") >= 2 or worker.poll() is not None,
            seconds=60,
            what="the worker to reconnect or exit",
        )

        log = log_path.read_text()
        assert worker.poll() is None, f"the worker exited:\n{log[-4000:]}"
        assert reconnects
        assert "Unrecoverable error" not in log
        # It answers again through the restarted broker: compose's own health check of the worker.
        assert wait_for(lambda: compose_worker_health_check(env), seconds=30, what="the worker's health check")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
