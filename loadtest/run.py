"""`make load`: a bounded load and soak test on 127.0.0.1, then a check that nothing was lost.

1. A fresh PostgreSQL database (LOAD_DATABASE_URL), migrated; one write API client per virtual client.
2. LOAD_WEB_INSTANCES gunicorn instances (deploy/gunicorn.conf.py; 1) on LOAD_PORT, LOAD_PORT+1, ...,
   LOAD_WORKERS Celery workers (1) on one queue and one beat, on LOAD_BROKER_URL. Optionally through
   PgBouncer (LOAD_POOLER=pgbouncer: LOAD_DATABASE_URL leads to it, LOAD_ADMIN_DATABASE_URL to the server
   itself, where the database is created and dropped) and with read replicas (LOAD_REPLICA_URLS).
3. LOAD_CLIENTS clients (32), spread over the instances, for LOAD_SECONDS (60): creates (with
   Idempotency-Key), idempotent retries of earlier creates, updates (some move a transaction to another
   user), deletes, history and analytics reads. A create or delete whose answer is lost is retried until
   it is definite.
4. Throughput and latency per operation, then the checks: no 5xx; rows in the database == creates
   acknowledged - deletes; the outbox drained; every user's analytics (API) == a recomputation from
   the raw rows in SQL; every transaction at or above the alert threshold has exactly one alert of that
   rule (none twice, none missing).

Results are printed and written to loadtest/results/<time>.json. Exit status 1 when a check fails.
"""

import base64
import http.client
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "32"))
SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
PORT = int(os.environ.get("LOAD_PORT", "8090"))
USERS = int(os.environ.get("LOAD_USERS", "400"))
DATABASE_URL = os.environ.get("LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fido_load")
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_URL = os.environ.get("LOAD_BROKER_URL", "redis://127.0.0.1:6379/1")
DRAIN_SECONDS = float(os.environ.get("LOAD_DRAIN_SECONDS", "120"))
# Where the database is dropped and created: the server itself, never through a pooler (which keeps server
# connections to it open).
ADMIN_DATABASE_URL = os.environ.get("LOAD_ADMIN_DATABASE_URL", DATABASE_URL)
REPLICA_URLS = os.environ.get("LOAD_REPLICA_URLS", "")
POOLER = os.environ.get("LOAD_POOLER", "")
WEB_INSTANCES = int(os.environ.get("LOAD_WEB_INSTANCES", "1"))
WORKERS = int(os.environ.get("LOAD_WORKERS", "1"))
PORTS = [PORT + number for number in range(WEB_INSTANCES)]
QUEUE = os.environ.get("LOAD_QUEUE", f"load{PORT}")
LARGE_AMOUNT = Decimal("10000.00")

# Operation mix (weights).
MIX = {
    "create": 30,
    "retry": 8,
    "update": 14,
    "delete": 8,
    "history": 16,
    "analytics": 16,
    "daily": 4,
    "overview": 4,
}


# Production-like: DEBUG off, so every secret is set (random, for this run only).
SECRETS = {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "FIELD_HASH_KEY": secrets.token_urlsafe(32),
}


def server_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOAD_")}
    env.update(SECRETS)
    env.update(
        DATABASE_URL=DATABASE_URL,
        DATABASE_REPLICA_URLS=REPLICA_URLS,
        DATABASE_POOLER=POOLER,
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_QUEUE=QUEUE,
        LARGE_TRANSACTION_THRESHOLD=str(LARGE_AMOUNT),
        CACHE_KEY_PREFIX=f"load{PORT}",
        DEBUG="0",
        HTTPS_ONLY="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PORT=str(PORT),
        LOG_LEVEL="WARNING",
        GUNICORN_WORKERS=os.environ.get("LOAD_GUNICORN_WORKERS", "3"),
        GUNICORN_THREADS=os.environ.get("LOAD_GUNICORN_THREADS", "4"),
        PYTHONUNBUFFERED="1",
        ENV_FILE="",  # only the variables above: no .env of the checkout leaks in
    )
    return env


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=server_env(), check=True)  # noqa: S603


def recreate_database() -> None:
    name = urlsplit(DATABASE_URL).path.lstrip("/")
    admin = urlsplit(ADMIN_DATABASE_URL)._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def flush_redis_prefix() -> None:
    """Drop this run's cache keys (only ours: the prefix names the port) from an earlier run."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"load{PORT}:*", count=1000):
        client.delete(key)


def django_setup() -> None:
    for key, value in server_env().items():
        os.environ[key] = value
    sys.path.insert(0, str(BASE_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = "fido.settings"
    import django

    django.setup()


def start(name: str, argv: list[str], log_dir: Path, **env: str) -> subprocess.Popen:
    log = (log_dir / f"{name}.log").open("w")
    return subprocess.Popen(  # noqa: S603
        argv, cwd=BASE_DIR, env={**server_env(), **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_ready(deadline: float) -> None:
    for port in PORTS:
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"load: the server on port {port} did not become ready")
            time.sleep(0.5)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: int = 0
    creates: int = 0
    replays: int = 0
    replay_mismatches: int = 0
    deletes: int = 0
    updates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class VirtualClient(threading.Thread):
    """One API client: its own token and keep-alive connection, its own transactions to change."""

    def __init__(self, token: str, stats: Stats, stop_at: float, seed: int, port: int = PORT):
        super().__init__(daemon=True)
        self.token, self.stats, self.stop_at, self.port = token, stats, stop_at, port
        self.random = random.Random(seed)  # noqa: S311 - load generation
        self.owned: dict[int, int] = {}  # transaction id -> user id
        self.sent: list[tuple[str, str, int]] = []  # (key, body, id) of acknowledged creates
        self.connection = None

    def request(self, op: str, method: str, path: str, body: str | None = None, headers=None):
        headers = {"Authorization": f"Token {self.token}", **(headers or {})}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self.connection = None
            with self.stats.lock:
                self.stats.transport_errors += 1
            return None, None, None
        elapsed = time.perf_counter() - started
        with self.stats.lock:
            self.stats.latencies[op].append(elapsed)
            self.stats.statuses[f"{op} {response.status}"] += 1
            if response.status >= 500:
                self.stats.server_errors.append(f"{method} {path} -> {response.status} {payload[:200]!r}")
        return response.status, response, payload

    def body(self, user_id: int) -> dict:
        moment = datetime.now(UTC) - timedelta(days=self.random.randint(0, 120), seconds=self.random.randint(0, 86399))
        return {
            "user_id": user_id,
            "full_name": f"Load Tester {self.random.randint(1, 10**6)}",
            "transaction_date": moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "transaction_amount": f"{self.random.randint(1, 2_000_000) / 100:.2f}",
            "transaction_type": self.random.choice(["credit", "debit"]),
        }

    def user(self) -> int:
        return self.random.randint(1, USERS)

    def run(self) -> None:
        ops, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < self.stop_at:
            getattr(self, f"do_{self.random.choices(ops, weights)[0]}")()

    def do_create(self) -> None:
        key, body = uuid.uuid4().hex, json.dumps(self.body(self.user()))
        for _ in range(20):  # a lost answer is retried under the same key until it is definite
            status, _, payload = self.request("create", "POST", "/api/v1/transactions/", body, {"Idempotency-Key": key})
            if status == 201:
                # First answer or a replay after a lost one: either way exactly one row.
                txn = json.loads(payload)
                with self.stats.lock:
                    self.stats.creates += 1
                self.owned[txn["id"]] = txn["user_id"]
                self.sent.append((key, body, txn["id"]))
                return
            if status is not None and status != 409:
                return
            time.sleep(0.2)

    def do_retry(self) -> None:
        if not self.sent:
            return self.do_create()
        key, body, txn_id = self.random.choice(self.sent)
        status, response, payload = self.request(
            "retry", "POST", "/api/v1/transactions/", body, {"Idempotency-Key": key}
        )
        if status == 201:
            with self.stats.lock:
                self.stats.replays += 1
                if response.getheader("Idempotent-Replayed") != "true" or json.loads(payload)["id"] != txn_id:
                    self.stats.replay_mismatches += 1
        return None

    def do_update(self) -> None:
        if not self.owned:
            return self.do_create()
        txn_id = self.random.choice(list(self.owned))
        change = {"transaction_amount": f"{self.random.randint(1, 500_000) / 100:.2f}"}
        if self.random.random() < 0.3:
            change["user_id"] = self.user()
        status, _, payload = self.request("update", "PATCH", f"/api/v1/transactions/{txn_id}/", json.dumps(change))
        if status == 200:
            self.owned[txn_id] = json.loads(payload)["user_id"]
            with self.stats.lock:
                self.stats.updates += 1
        return None

    def do_delete(self) -> None:
        if not self.owned:
            return self.do_create()
        txn_id = self.random.choice(list(self.owned))
        for attempt in range(20):
            status, _, _ = self.request("delete", "DELETE", f"/api/v1/transactions/{txn_id}/")
            # Only this client ever deletes its transactions: a 404 after a lost answer means done.
            if status == 204 or (status == 404 and attempt > 0):
                del self.owned[txn_id]
                self.sent = [sent for sent in self.sent if sent[2] != txn_id]
                with self.stats.lock:
                    self.stats.deletes += 1
                return None
            if status is not None:
                return None
            time.sleep(0.2)
        return None

    def do_history(self) -> None:
        self.request("history", "GET", f"/api/v1/users/{self.user()}/transactions/")

    def do_analytics(self) -> None:
        self.request("analytics", "GET", f"/api/v1/users/{self.user()}/analytics/")

    def do_daily(self) -> None:
        self.request("daily", "GET", f"/api/v1/users/{self.user()}/analytics/daily/")

    def do_overview(self) -> None:
        self.request("overview", "GET", "/api/v1/analytics/overview/")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def recomputed_analytics() -> dict[int, dict]:
    """Each user's analytics figures straight from the raw rows, in SQL."""
    from django.conf import settings
    from django.db import connection

    zone = settings.TIME_ZONE
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT user_id, count(*), avg(transaction_amount),
                   count(*) FILTER (WHERE transaction_type = 'credit'),
                   coalesce(sum(transaction_amount) FILTER (WHERE transaction_type = 'credit'), 0),
                   count(*) FILTER (WHERE transaction_type = 'debit'),
                   coalesce(sum(transaction_amount) FILTER (WHERE transaction_type = 'debit'), 0)
            FROM transactions_transaction GROUP BY user_id
            """
        )
        figures = {
            row[0]: {
                "transaction_count": row[1],
                "average_transaction_value": str(row[2].quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
                "credit": {"count": row[3], "total": f"{row[4]:.2f}"},
                "debit": {"count": row[5], "total": f"{row[6]:.2f}"},
                "net": f"{row[4] - row[6]:.2f}",
            }
            for row in cursor.fetchall()
        }
        cursor.execute(
            """
            SELECT DISTINCT ON (user_id) user_id, day, n FROM (
                SELECT user_id, (transaction_date AT TIME ZONE %s)::date AS day, count(*) AS n
                FROM transactions_transaction GROUP BY 1, 2
            ) days ORDER BY user_id, n DESC, day ASC
            """,
            [zone],
        )
        for user_id, day, count in cursor.fetchall():
            figures[user_id]["busiest_day"] = {"date": day.isoformat(), "transaction_count": count}
    return figures


def check_analytics(tokens: list[str]) -> tuple[int, list[str]]:
    """Compare every user's API analytics with the SQL recomputation; (users compared, mismatches)."""
    from django.urls import Resolver404, resolve

    try:
        resolve("/api/v1/users/1/analytics/")
    except Resolver404:
        return 0, ["skipped: this build has no /api/v1/users/{id}/analytics/ endpoint"]
    expected = recomputed_analytics()
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    mismatches = []
    for user_id in range(1, USERS + 1):
        connection.request(
            "GET", f"/api/v1/users/{user_id}/analytics/", headers={"Authorization": f"Token {tokens[0]}"}
        )
        response = connection.getresponse()
        body = json.loads(response.read() or b"null")
        want = expected.get(user_id)
        if want is None:
            if response.status != 404:
                mismatches.append(f"user {user_id}: no rows, API answered {response.status}")
            continue
        got = {name: body.get(name) for name in want} if response.status == 200 else {"status": response.status}
        if got != want:
            mismatches.append(f"user {user_id}: API {got} != SQL {want}")
    return len(expected), mismatches


def check_alerts() -> dict:
    """Every transaction at or above the threshold has exactly one large-amount alert; no alert is doubled."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE alerts = 0), count(*) FILTER (WHERE alerts > 1), count(*)
            FROM (
                SELECT t.id, count(a.id) AS alerts FROM transactions_transaction t
                LEFT JOIN analytics_alert a ON a.transaction_id = t.id AND a.rule = 'large_amount'
                WHERE t.transaction_amount >= %s GROUP BY t.id
            ) large
            """,
            [LARGE_AMOUNT],
        )
        missing, doubled, large = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM analytics_alert GROUP BY transaction_id, rule HAVING count(*) > 1) d"
        )
        duplicates = cursor.fetchone()[0]
    return {"large_transactions": large, "missing": missing, "doubled": doubled, "duplicates": duplicates}


def cpu_seconds(process: subprocess.Popen) -> float:
    """CPU time (user + system) of a process and its children (gunicorn's or Celery's pool), while they run."""
    ticks = os.sysconf("SC_CLK_TCK")
    pending, seen, total = [process.pid], set(), 0.0
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        pending.extend(int(child) for child in children)
    return total


def task_durations(log_dir: Path) -> dict:
    """Milliseconds per processed event (p50, p95, max), from the workers' fido.task lines."""
    durations = []
    for log in log_dir.glob("worker*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if '"analytics.tasks.process_event"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "task" and record.get("duration_ms") is not None:
                durations.append(record["duration_ms"])
    if not durations:
        return {"events": 0}
    durations.sort()
    return {
        "events": len(durations),
        "p50": round(statistics.median(durations), 1),
        "p95": round(percentile(durations, 0.95), 1),
        "max": round(durations[-1], 1),
    }


def drain_outbox() -> dict:
    """Wait until every outbox event is processed (when this build has a processor)."""
    from transactions.models import OutboxEvent

    deadline = time.monotonic() + DRAIN_SECONDS
    started = time.monotonic()
    while True:
        counts = Counter(OutboxEvent.objects.values_list("status", flat=True))
        if not counts.get("pending") or time.monotonic() > deadline:
            break
        if not counts.get("done") and time.monotonic() - started > 15:
            break  # nothing processes events in this build
        time.sleep(1)
    return {"seconds": round(time.monotonic() - started, 1), **counts}


def main() -> int:
    results_dir = BASE_DIR / "loadtest" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="fido-load-"))
    print(f"load: database {urlsplit(DATABASE_URL).path.lstrip('/')}, port {PORT}, logs in {log_dir}")
    recreate_database()
    flush_redis_prefix()
    manage("migrate", "--noinput", "-v", "0")
    django_setup()
    from transactions.clients import api_client_create
    from transactions.models import Transaction

    tokens = [api_client_create(name=f"load-{number}", scope="write").key for number in range(CLIENTS)]
    processes = [
        start(f"web{port}", [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
                             "--bind", f"127.0.0.1:{port}", "fido.wsgi:application"], log_dir, PORT=str(port))
        for port in PORTS
    ] + [
        start(f"worker{number}", [sys.executable, "-m", "celery", "-A", "fido", "worker", "--loglevel", "WARNING",
                                  "--concurrency", "2", "--hostname", f"load{PORT}-{number}@%h"], log_dir,
              LOG_LEVEL="INFO")  # one fido.task line per task: the processing time per event
        for number in range(1, WORKERS + 1)
    ] + [
        start("beat", [sys.executable, "-m", "celery", "-A", "fido", "beat", "--loglevel", "WARNING",
                       "--schedule", str(log_dir / "beat-schedule")], log_dir),
    ]  # fmt: skip
    try:
        wait_ready(time.monotonic() + 60)
        stats = Stats()
        stop_at = time.monotonic() + SECONDS
        clients = [
            VirtualClient(token, stats, stop_at, seed, PORTS[seed % len(PORTS)]) for seed, token in enumerate(tokens)
        ]
        web, workers = processes[:WEB_INSTANCES], processes[WEB_INSTANCES : WEB_INSTANCES + WORKERS]
        cpu_before = [sum(map(cpu_seconds, web)), sum(map(cpu_seconds, workers))]
        started = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        elapsed = time.monotonic() - started
        outbox = drain_outbox()
        cpu = [sum(map(cpu_seconds, web)) - cpu_before[0], sum(map(cpu_seconds, workers)) - cpu_before[1]]
        rows = Transaction.objects.count()
        users_compared, analytics_mismatches = check_analytics(tokens)
        alerts = check_alerts()
    finally:
        for process in processes:
            stop(process)

    requests = sum(len(values) for values in stats.latencies.values())
    report = {
        "web_instances": WEB_INSTANCES,
        "workers": WORKERS,
        "pooler": POOLER or None,
        "replicas": len([url for url in REPLICA_URLS.split(",") if url.strip()]),
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "throughput_rps": round(requests / elapsed, 1),
        "latency_ms": {
            op: {
                "count": len(values),
                "p50": round(statistics.median(values) * 1000, 1),
                "p95": round(percentile(values, 0.95) * 1000, 1),
                "p99": round(percentile(values, 0.99) * 1000, 1),
                "max": round(max(values) * 1000, 1),
            }
            for op, values in sorted(stats.latencies.items())
        },
        "statuses": dict(sorted(stats.statuses.items())),
        "transport_errors": stats.transport_errors,
        "creates_acknowledged": stats.creates,
        "idempotent_replays": stats.replays,
        "updates": stats.updates,
        "deletes": stats.deletes,
        "rows": rows,
        "outbox": outbox,
        "users_compared": users_compared,
        "alerts": alerts,
        "process_event_ms": task_durations(log_dir),
        # CPU per unit of work, all processes of the kind together (the inputs of the capacity model).
        "web_cpu_ms_per_request": round(cpu[0] * 1000 / max(requests, 1), 2),
        "worker_cpu_ms_per_event": round(cpu[1] * 1000 / max(outbox.get("done", 0), 1), 2),
    }
    expected_rows = report["creates_acknowledged"] - stats.deletes
    checks = {
        "no 5xx": not stats.server_errors,
        "rows == creates - deletes": rows == expected_rows,
        "idempotent replays identical": stats.replay_mismatches == 0,
        "outbox drained": not outbox.get("pending") or not outbox.get("done"),
        "no failed outbox events": not outbox.get("failed"),
        "analytics == SQL recomputation": not [m for m in analytics_mismatches if not m.startswith("skipped")],
        "one alert per large transaction, no duplicate": not (alerts["missing"] or alerts["doubled"])
        and not alerts["duplicates"],
    }
    report["checks"] = checks
    report["notes"] = [m for m in analytics_mismatches if m.startswith("skipped")]
    if outbox.get("pending") and not outbox.get("done"):
        report["notes"].append("outbox not checked: no event was processed (no processor in this build)")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (results_dir / f"{stamp}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    for error in stats.server_errors[:10]:
        print(f"5xx: {error}")
    for mismatch in analytics_mismatches[:10]:
        print(f"analytics: {mismatch}")
    if expected_rows != rows:
        print(f"rows: {rows} in the database, {expected_rows} expected")
    failed = [name for name, ok in checks.items() if not ok]
    print("load: " + (f"FAILED {failed}" if failed else "all checks passed"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
