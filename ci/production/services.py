"""The pieces of the production stage: processes it starts and stops by their id, brokers and a cache
of its own on free ports, the service started with the commands of docker-compose.yml from a venv of
requirements.txt alone, a webhook receiver that checks signatures, and small HTTP and SQL clients."""

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import amqp
import psycopg
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]


class StageError(Exception):
    """Something the rest of a broker's run depends on did not happen."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, seconds: float, what: str, interval: float = 0.25):
    """Poll until `condition()` is truthy and return it; StageError after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise StageError(f"gave up after {seconds:g} s waiting for {what}")
        time.sleep(interval)


class Process:
    """A process in a session (process group) of its own, output to a log file; stopped by its id."""

    def __init__(self, name: str, argv: list[str], *, env: dict, log_dir: Path, cwd: Path = BASE_DIR):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 - our own command lines
                argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process and every child it started (its process group, whose id is its pid)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def stop(self, timeout: float = 20) -> None:
        if self.alive():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill_group(signal.SIGKILL)
        self.popen.wait()

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(f"    {self.name}| {line[:400]}" for line in text[-lines:])


# --- Brokers and cache of our own -------------------------------------------------------------


class RedisServer:
    """A redis-server on a free port; `extra` arguments choose its role (broker or cache)."""

    def __init__(self, name: str, work_dir: Path, extra: list[str]):
        self.name, self.work_dir, self.extra = name, work_dir, extra
        self.port = free_port()
        self.process: Process | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.work_dir)]
        self.process = Process(self.name, argv + self.extra, env=dict(os.environ), log_dir=self.work_dir)
        wait_until(self.answers, seconds=15, what=f"{self.name} to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would; nothing is saved."""
        self.process.kill_group(signal.SIGKILL)
        self.process.popen.wait()

    def stop(self) -> None:
        if self.process:
            self.process.stop()


class RabbitMQNode:
    """A RabbitMQ node of our own: its own node name, ports, data, logs and configuration (a temp dir),
    never the machine's shared node. Queues are durable and messages persistent, so a restart keeps them."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.port, self.dist_port = free_port(), free_port()
        self.user, self.password, self.vhost = "fido", os.urandom(12).hex(), "fido"
        self.node = f"fido_stage_{os.getpid()}@localhost"
        (work_dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            f"default_user = {self.user}\ndefault_pass = {self.password}\ndefault_vhost = {self.vhost}\n"
            "default_permissions.configure = .*\ndefault_permissions.read = .*\ndefault_permissions.write = .*\n"
        )
        (work_dir / "enabled_plugins").write_text("[].\n")
        self.launcher: Process | None = None

    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.vhost}"

    def env(self) -> dict:
        base = self.work_dir
        return {
            **os.environ,
            "HOME": str(base),  # the Erlang cookie of this node lives here, not in root's home
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        }

    def start(self) -> None:
        # Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user and the shared node's
        # settings; the script it wraps runs this node as we configure it.
        program = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not Path(program).exists():
            program = shutil.which("rabbitmq-server")
        self.launcher = Process("rabbitmq", [program], env=self.env(), log_dir=self.work_dir, cwd=self.work_dir)
        wait_until(self.answers, seconds=90, what="RabbitMQ to accept AMQP connections")

    def answers(self) -> bool:
        try:
            connection = amqp.Connection(
                f"127.0.0.1:{self.port}",
                userid=self.user,
                password=self.password,
                virtual_host=self.vhost,
                connect_timeout=1,
            )
            connection.connect()
            connection.close()
            return True
        except Exception:  # refused, reset or not ready yet: all "not answering"
            return False

    def broker_pid(self) -> int:
        return int((self.work_dir / "rabbitmq.pid").read_text().split()[0])

    def kill(self) -> None:
        """SIGKILL the Erlang VM (the broker process), then whatever else the launcher left."""
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, ValueError):
            os.kill(self.broker_pid(), signal.SIGKILL)
        self.launcher.kill_group(signal.SIGKILL)
        self.launcher.popen.wait()
        wait_until(lambda: not self.answers(), seconds=10, what="RabbitMQ to stop answering")

    def stop(self) -> None:
        if self.launcher:
            self.kill()


# --- The service, as docker-compose.yml runs it ----------------------------------------------


def compose_services() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]


class Deployment:
    """The service's processes, each started with its docker-compose.yml command line, the programs
    taken from the fresh venv (`python`, `gunicorn`, `celery` are on the image's PATH the same way)."""

    def __init__(self, venv: Path, env: dict, log_dir: Path, beat_schedule: Path):
        self.venv, self.env, self.log_dir, self.beat_schedule = venv, env, log_dir, beat_schedule
        self.services = compose_services()
        self.processes: list[Process] = []

    def argv(self, command: list[str]) -> list[str]:
        program = self.venv / "bin" / command[0]
        if not program.exists():
            raise StageError(f"docker-compose.yml runs {command[0]!r}, which the venv does not have")
        return [str(program), *command[1:]]

    def command(self, service: str) -> list[str]:
        command = list(self.services[service]["command"])
        if service == "beat":
            # The one change: the schedule file lives in the stage's temp dir, not in the image's volume.
            command[command.index("--schedule") + 1] = str(self.beat_schedule)
        return self.argv(command)

    def run(self, service: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A one-shot service (migrate), to completion."""
        return subprocess.run(  # noqa: S603 - the compose command line
            self.command(service), cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        argv = [str(self.venv / "bin" / "python"), "manage.py", *args]
        env = {**self.env, **env}
        return subprocess.run(argv, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120)  # noqa: S603

    def start(self, service: str, name: str | None = None) -> Process:
        process = Process(name or service, self.command(service), env=self.env, log_dir=self.log_dir)
        self.processes.append(process)
        return process

    def health_check(self, service: str, hostname: str) -> bool:
        """The service's docker-compose.yml health check command (worker: inspect ping; beat: the broker)."""
        test = self.services[service]["healthcheck"]["test"]
        if test[0] == "CMD-SHELL":
            argv = self.argv(test[1].replace("$$HOSTNAME", hostname).split())
        else:
            argv = self.argv(test[1:])
        result = subprocess.run(argv, cwd=BASE_DIR, env=self.env, capture_output=True, timeout=60)  # noqa: S603
        return result.returncode == 0

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()


# --- Outside views: HTTP, the webhook receiver, the database ---------------------------------


class Api:
    """JSON over HTTP with an API token; returns (status, body, seconds)."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url, self.token = base_url, token

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 10):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310 - http://127.0.0.1
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            return None, {"error": f"{type(exc).__name__}: {exc}"}, time.monotonic() - started
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = {"raw": raw[:200].decode(errors="replace")}
        return status, payload, time.monotonic() - started

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body: dict):
        return self.request("POST", path, body)


class WebhookReceiver:
    """Receives alert pushes: checks X-Fido-Signature over the raw body, records every push, answers 200
    (401 to a bad signature, 503 while told to refuse)."""

    def __init__(self, secret: str):
        self.secret = secret.encode()
        self.pushes: list[dict] = []
        self.refuse = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = "sha256=" + hmac.new(receiver.secret, raw, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Fido-Signature", ""))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with receiver.lock:
                    status = 401 if not signed else 503 if receiver.refuse else 200
                    receiver.refuse -= status == 503
                    receiver.pushes.append(
                        {
                            "delivery": self.headers.get("X-Fido-Delivery"),
                            "signed": signed,
                            "body": body,
                            "answered": status,
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/fido"
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def refuse_next(self, count: int) -> None:
        """Answer 503 to the next `count` pushes (the service must retry them)."""
        with self.lock:
            self.refuse = count

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.pushes)


class Database:
    """A fresh database on the shared PostgreSQL server, dropped at the end."""

    def __init__(self, name: str, server: str = "postgres://postgres@127.0.0.1:5432"):
        self.name, self.server = name, server
        self.url = f"{server}/{name}"

    def admin(self, sql: str, params: tuple = ()) -> None:
        with psycopg.connect(f"{self.server}/postgres", autocommit=True) as connection:
            connection.execute(sql, params)

    def create(self) -> None:
        self.admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def refuse_connections(self, refuse: bool) -> None:
        """Make this one database unreachable (and reachable again) without touching the shared server."""
        self.admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')
        if refuse:
            self.admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url) as connection:
            return connection.execute(sql, params).fetchall()
