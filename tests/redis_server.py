"""A redis-server of the test's own, to drive into fault states, and the Django cache pointed at it.

Use: ``with faulty_cache(settings) as server: ... server.fault("stopped") ...`` in a fixture.

Never the shared Redis: each instance listens on a free port of 127.0.0.1, keeps its files in a temp
dir, and is stopped by its own PID, even when the test fails or pytest itself is killed (the child
gets SIGKILL when the process that started it dies).

States (SPEC §6 "Cache faults"): ``down`` (process killed), ``stopped`` (SIGSTOP), ``paused_write``
and ``paused_all`` (``CLIENT PAUSE``), ``read_only`` (a replica of an address where nothing
listens, what a failover leaves) and ``full`` (``maxmemory`` tiny with ``noeviction``).
"""

import base64
import contextlib
import copy
import ctypes
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

STATES = ("down", "stopped", "paused_write", "paused_all", "read_only", "full")
START_TIMEOUT = 15.0  # seconds: a loaded 2-core machine can be slow to fork and bind
ADMIN_TIMEOUT = 5.0
PAUSE_MS = 60_000  # longer than any test spends in the state; ended by CLIENT UNPAUSE or the kill
_PR_SET_PDEATHSIG = 1


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class RedisServer:
    """One redis-server process started by this test run, and the faults it can be put in."""

    def __init__(self) -> None:
        self.binary = redis_server_binary()
        if self.binary is None:
            raise RuntimeError("redis-server is not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="fido-redis-"))
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.state = "up"
        try:
            for _ in range(5):  # another process may take the free port between our probe and the bind
                self.port = free_port()
                if self._start():
                    return
            raise RuntimeError(f"redis-server did not start; log: {self.log_tail()}")
        except BaseException:
            self.close()
            raise

    def _start(self) -> bool:
        self.process = subprocess.Popen(  # noqa: S603 - the installed redis-server, our own arguments
            [self.binary, *self._arguments()],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        if self._wait_ready():
            return True
        self._kill()
        return False

    def _arguments(self) -> list[str]:
        return [
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--logfile", str(self.dir / "redis.log"), "--daemonize", "no",
            "--save", "", "--appendonly", "no", "--databases", "1",
        ]  # fmt: skip

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(redis.RedisError):
                if self.admin().ping():
                    return True
            time.sleep(0.05)
        return False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def admin(self) -> redis.Redis:
        """A fresh connection of our own (never the application's pool), so a fault cannot leak into it."""
        # No retries (redis-py retries 10 times by default): a fault must show at once, not after minutes.
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=ADMIN_TIMEOUT,
            socket_connect_timeout=ADMIN_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join((self.dir / "redis.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- Faults ------------------------------------------------------------------------------

    def enter(self, state: str) -> None:
        """Put the server in `state` (one of STATES)."""
        assert self.state == "up", f"already {self.state}"
        if state == "down":
            self._kill()
        elif state == "stopped":
            os.kill(self.pid, signal.SIGSTOP)
            self._wait_process_state("T")
        elif state in ("paused_write", "paused_all"):
            mode = "WRITE" if state == "paused_write" else "ALL"
            self.admin().execute_command("CLIENT", "PAUSE", PAUSE_MS, mode)
        elif state == "read_only":
            client = self.admin()
            client.execute_command("REPLICAOF", "127.0.0.1", free_port())  # nothing listens there
            assert client.info("replication")["role"] == "slave"
        elif state == "full":
            client = self.admin()
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", "1")
        else:
            raise ValueError(state)
        self.state = state

    def leave(self) -> None:
        """End the current fault (a killed server stays down)."""
        state, self.state = self.state, "up"
        if state == "stopped":
            os.kill(self.pid, signal.SIGCONT)
            self._wait_process_state("S", "R")
        elif state == "paused_write":
            self.admin().execute_command("CLIENT", "UNPAUSE")  # not a write: it runs at once
        elif state == "paused_all":
            # ALL postpones CLIENT UNPAUSE too (only replicas are exempt): end it by a restart on the
            # same port, whose data is lost as after any restart.
            self._kill()
            if not self._start():
                raise RuntimeError(f"redis-server did not restart on port {self.port}; log: {self.log_tail()}")
        elif state == "read_only":
            self.admin().execute_command("REPLICAOF", "NO", "ONE")
        elif state == "full":
            self.admin().config_set("maxmemory", "0")
        elif state == "down":
            self.state = "down"

    @contextlib.contextmanager
    def fault(self, state: str):
        self.enter(state)
        try:
            yield self
        finally:
            if self.state == state:
                self.leave()

    def _wait_process_state(self, *wanted: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if _process_state(self.pid) in wanted:
                return
            time.sleep(0.01)
        raise RuntimeError(f"redis-server {self.pid} never reached state {wanted}")

    # --- What is stored ----------------------------------------------------------------------

    def scan_keys(self, match: str = "*") -> list[str]:
        """Every key matching `match`, by SCAN (never KEYS)."""
        return sorted(key.decode() for key in self.admin().scan_iter(match=match, count=1000))

    def used_memory(self) -> int:
        return int(self.admin().info("memory")["used_memory"])

    def key_bytes(self, keys) -> int:
        """What `keys` take in memory (MEMORY USAGE, every element of collections sampled)."""
        client = self.admin()
        return sum(client.memory_usage(key, samples=0) or 0 for key in keys)

    # --- End ---------------------------------------------------------------------------------

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)  # also ends a SIGSTOPped process
            self.process.wait(timeout=START_TIMEOUT)

    def close(self) -> None:
        """Stop exactly the process we started, and remove its files."""
        self._kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def _process_state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "?"


# --- The application's cache settings, as the settings module builds them for a Redis URL --------

_PRODUCTION_CACHE_SETTINGS: dict | None = None
# Pickled, not JSON: the options hold objects (redis-py's Retry policy), which must reach the tests as they are.
_SETTINGS_PROBE = """
import base64, pickle, django
from django.conf import settings
django.setup()
print(base64.b64encode(pickle.dumps({
    "CACHES": settings.CACHES,
    "DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS": getattr(settings, "DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS", False),
    "DJANGO_REDIS_LOGGER": getattr(settings, "DJANGO_REDIS_LOGGER", None),
})).decode())
"""


def production_cache_settings() -> dict:
    """The cache settings the settings module builds when REDIS_URL is set (whatever this run uses).

    Read from a fresh interpreter, so the tests exercise exactly the options production gets (socket
    timeouts, IGNORE_EXCEPTIONS, client class...), even when this run itself is the embedded one.
    """
    global _PRODUCTION_CACHE_SETTINGS
    if _PRODUCTION_CACHE_SETTINGS is None:
        env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0", "CACHE_KEY_PREFIX": "faults"}
        env.setdefault("DJANGO_SETTINGS_MODULE", "fido.settings")
        probe = subprocess.run(  # noqa: S603 - this interpreter, our own script
            [sys.executable, "-c", _SETTINGS_PROBE],
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        # Our own interpreter's output, read back by the process that started it.
        _PRODUCTION_CACHE_SETTINGS = pickle.loads(base64.b64decode(probe.stdout.strip().splitlines()[-1]))  # noqa: S301
    return copy.deepcopy(_PRODUCTION_CACHE_SETTINGS)  # a copy the caller may change


def _close_pools(url: str) -> None:
    # django-redis keeps one connection pool per URL for the whole process: drop ours.
    from django_redis.pool import ConnectionFactory

    for key in [key for key in ConnectionFactory._pools if key == url]:
        with contextlib.suppress(Exception):
            ConnectionFactory._pools.pop(key).disconnect()


# --- For fixtures ------------------------------------------------------------------------------


@contextlib.contextmanager
def faulty_cache(settings):
    """A redis-server of our own, and the default cache pointed at it with the production options.

    `settings` is pytest-django's fixture (it resets Django's cache handlers on each change). Skips
    the test only when redis-server is not installed.
    """
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (CI installs it): the cache fault tests need a real one")
    built = production_cache_settings()
    caches = built["CACHES"]
    assert caches["default"]["BACKEND"].startswith("django_redis."), caches
    server = RedisServer()
    try:
        caches["default"]["LOCATION"] = server.url
        settings.CACHES = caches
        settings.DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = built["DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS"]
        if built["DJANGO_REDIS_LOGGER"]:
            settings.DJANGO_REDIS_LOGGER = built["DJANGO_REDIS_LOGGER"]
        yield server
    finally:
        # A stopped or paused server would make the next cache calls wait: end the fault first.
        if server.state not in ("up", "down"):
            with contextlib.suppress(Exception):
                server.leave()
        _close_pools(server.url)
        server.close()
