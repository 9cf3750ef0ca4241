"""/metrics under gunicorn with the shipped configuration and several workers (deploy/gunicorn.conf.py): every
worker's requests are counted whichever worker answers the scrape, an exited worker's counts survive (folded
into the archive, its files gone), and counts of an earlier run are not this run's."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

BASE_DIR = Path(__file__).resolve().parents[2]
REQUESTS = 30
# Requests nobody else makes here: unauthenticated, so answered 401 without touching the database.
ROUTE = {"route": "api/v1/alerts/", "method": "GET", "status": "401"}


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
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}")


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found |= {int(child) for child in (task / "children").read_text().split()}
    return found


class Server:
    """gunicorn as the web container runs it (deploy/gunicorn.conf.py), two workers, on a free port."""

    def __init__(self, metrics_dir: Path, log_path: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "METRICS_"))
        }
        env.update(
            ENV_FILE="",
            DEBUG="1",
            DATABASE_URL=f"sqlite:///{metrics_dir.parent / 'db.sqlite3'}",
            PORT=str(self.port),
            GUNICORN_WORKERS="2",
            GUNICORN_THREADS="2",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py", "fido.wsgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: self.status("/healthz") == HTTPStatus.OK, seconds=60, what="gunicorn to answer")
        self.workers = wait_for(
            lambda: len(children(self.process.pid)) == 2 and children(self.process.pid), seconds=30, what="two workers"
        )

    def status(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as response:  # noqa: S310 - http://127.0.0.1
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def counted(self) -> float:
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "fido_http_requests_total" and sample.labels == ROUTE:
                    return sample.value
        return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # What a previous run left: gunicorn must start from zero, not from these.
    (metrics_dir / "counter_999999.db").write_bytes(b"\x10\x00\x00\x00" + b"\x00" * 4092)
    started = Server(metrics_dir, tmp_path / "gunicorn.log")
    yield started, metrics_dir
    started.stop()


def test_every_workers_requests_are_counted_and_survive_the_workers_exit(server):
    gunicorn, metrics_dir = server
    assert not (metrics_dir / "counter_999999.db").exists()

    for _ in range(REQUESTS):
        assert gunicorn.status("/api/v1/alerts/") == HTTPStatus.UNAUTHORIZED
    assert gunicorn.counted() == REQUESTS

    # A worker that answered some of them (each has counter files of its own once it counted a request).
    exiting = next(pid for pid in sorted(gunicorn.workers) if (metrics_dir / f"counter_{pid}.db").exists())
    os.kill(exiting, signal.SIGTERM)
    wait_for(
        lambda: exiting not in children(gunicorn.process.pid) and len(children(gunicorn.process.pid)) == 2,
        seconds=30,
        what="gunicorn to replace the worker",
    )

    assert gunicorn.counted() == REQUESTS
    files = {path.name for path in metrics_dir.iterdir()}
    assert not {f"counter_{exiting}.db", f"histogram_{exiting}.db"} & files
    assert {"counter_archive.db", "histogram_archive.db"} <= files
    for _ in range(5):
        gunicorn.status("/api/v1/alerts/")
    assert gunicorn.counted() == REQUESTS + 5
