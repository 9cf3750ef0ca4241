"""The production stage (`make production-check`, run by .ci/run): what docker-compose.yml deploys,
run the way an operator runs it, on a Redis broker and on RabbitMQ.

1. A venv made from requirements.txt alone (what the image installs), checked with `pip check`.
2. For each broker: a broker and a cache Redis of the stage's own on free ports, a fresh database on
   the shared PostgreSQL (dropped at the end), production settings (DEBUG=0, random keys, HTTPS_ONLY=0,
   no .env file), then migrate, gunicorn, the worker and beat, each started with its command line read
   from docker-compose.yml (so the two cannot drift), and a webhook receiver that checks signatures.
   Everything is then judged from outside, over HTTP (SQL only for user statistics, which no endpoint
   shows):
   a. ready: /readyz 200 with every check ok; compose's health checks of the worker and beat pass;
   b. a create is processed within 30 s: statistics, credit profile, a large amount's alert, pushed and signed;
   c. /readyz with the cache down (200, cache failing) and with the database refusing connections (503);
   d. the broker is killed (SIGKILL): /readyz 200 with broker failing, writes answer 201 within 5 s; the
      broker is started again and everything written meanwhile is processed within 60 s of its return,
      by the same worker process (same PID, never restarted);
   e. the worker is killed (SIGKILL, with its pool) mid-burst; a new one finishes everything, with one
      alert per large transaction and no duplicate webhook (below).

"No duplicate webhook", given at-least-once delivery: a push may be repeated (the worker can die after
the receiver answered and before the alert is marked delivered), so the receiver drops repeats by
X-Fido-Delivery. The stage therefore requires that every alert reaches the receiver signed, under one
delivery id that no other alert shares (after dropping repeats by that id, each alert arrives exactly
once), and counts raw repeats: none may occur without a worker kill, and a kill may repeat at most the
pushes that can be in flight at that moment (the worker's --concurrency).

Prints each check, the figures (seconds to process after the broker returns, per broker) and a closing
"N passed, N failed" line; exits 1 when a check fails. Needs PostgreSQL on 127.0.0.1:5432, redis-server
and rabbitmq-server (the machine's shared Redis and RabbitMQ are never touched).
"""

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge import run_edge
from metrics_check import MetricsWatch
from services import (
    BASE_DIR,
    Api,
    Database,
    Deployment,
    RabbitMQNode,
    RedisServer,
    StageError,
    WebhookReceiver,
    compose_services,
    free_port,
    wait_until,
)

LARGE = "25000.00"
SMALL = "120.50"
CREATED_WITHIN = 30  # the service's promise: processing within 30 s of the write's response
AFTER_BROKER_RETURN = 60  # ... and within 60 s of the broker's return after an outage
WRITE_ANSWERS_WITHIN = 5  # every request answers within 5 s during a broker outage
# Only the class of an error, never a host, address, port or credential (docs/operators.md, "Health").
ERROR_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class Report:
    """Each check printed as it is made; the figures and a closing count at the end."""

    def __init__(self):
        self.passed, self.failed, self.figures = 0, 0, []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'PASS' if ok else 'FAIL'} {name}" + (f" ({detail})" if detail else ""), flush=True)
        return ok

    def figure(self, name: str, value: str) -> None:
        self.figures.append((name, value))
        print(f"  figure: {name} = {value}", flush=True)


def fresh_venv(directory: Path) -> Path:
    """A venv of requirements.txt alone, as the Dockerfile installs it."""
    venv = directory / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    for step in (["install", "--requirement", str(BASE_DIR / "requirements.txt")], ["check"]):
        result = subprocess.run([*pip, *step], capture_output=True, text=True)  # noqa: S603
        if result.returncode != 0:
            raise StageError(f"pip {step[0]} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    print(f"  venv of requirements.txt alone ready in {time.monotonic() - started:.0f} s", flush=True)
    return venv


class Writes:
    """Transactions created through the API, each for a user of its own, and the checks of their processing."""

    def __init__(self, api: Api, database: Database, receiver: WebhookReceiver, first_user: int):
        self.api, self.database, self.receiver = api, database, receiver
        self.next_user = first_user
        self.made: list[dict] = []
        self.processed: set[int] = set()

    def create(self, amount: str) -> dict:
        user_id, self.next_user = self.next_user, self.next_user + 1
        body = {
            "user_id": user_id,
            "full_name": "Ama Mensah",
            "transaction_date": "2026-01-15T10:00:00Z",
            "transaction_amount": amount,
            "transaction_type": "credit",
        }
        status, answer, seconds = self.api.post("/api/v1/transactions/", body)
        write = {"user_id": user_id, "large": amount == LARGE, "status": status, "seconds": seconds}
        write["id"] = answer.get("id") if isinstance(answer, dict) else None
        self.made.append(write)
        return write

    def alerts(self, user_id: int) -> list[dict]:
        status, body, _ = self.api.get(f"/api/v1/alerts/?user_id={user_id}")
        if status != 200:
            return []
        return body["results"] if isinstance(body, dict) else body

    def pushes_of(self, alert_id: int) -> list[dict]:
        return [push for push in self.receiver.snapshot() if (push["body"] or {}).get("id") == alert_id]

    def is_processed(self, write: dict) -> bool:
        """Statistics, credit profile and (for a large amount) the alert and its signed push."""
        if write["id"] in self.processed:
            return True
        rows = self.database.rows(
            "SELECT transaction_count FROM analytics_userstatistics WHERE user_id = %s", (write["user_id"],)
        )
        if rows != [(1,)]:
            return False
        status, profile, _ = self.api.get(f"/api/v1/users/{write['user_id']}/credit-profile/")
        if status != 200 or profile["inputs"]["transaction_count"] != 1:
            return False
        if write["large"]:
            alerts = self.alerts(write["user_id"])
            if not alerts or not any(push["answered"] == 200 for push in self.pushes_of(alerts[0]["id"])):
                return False
        self.processed.add(write["id"])
        return True

    def all_processed(self, writes: list[dict]) -> bool:
        return all(self.is_processed(write) for write in writes)


class BrokerRun:
    """One deployment on one broker, from start to teardown."""

    def __init__(self, kind: str, venv: Path, work_dir: Path, report: Report):
        self.kind, self.venv, self.work, self.report = kind, venv, work_dir, report
        self.run_id = f"stage_{kind}_{os.getpid()}_{int(time.time())}"
        self.database = Database(f"fido_{self.run_id}")
        self.cache = RedisServer(
            "cache",
            work_dir,
            ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--save", "", "--appendonly", "no"],
        )
        # No persistence on the Redis broker: its restart loses every queued message, and the outbox
        # must still deliver everything. RabbitMQ keeps its durable queues across the restart.
        self.broker = (
            RedisServer("broker", work_dir, ["--save", "", "--appendonly", "no"])
            if kind == "redis"
            else RabbitMQNode(work_dir)
        )
        self.secret = secrets.token_urlsafe(32)
        self.receiver = WebhookReceiver(self.secret)
        self.deployment: Deployment | None = None
        self.concurrency = int(self._compose_option("worker", "--concurrency"))

    @staticmethod
    def _compose_option(service: str, option: str) -> str:
        command = compose_services()[service]["command"]
        return command[command.index(option) + 1]

    def broker_url(self) -> str:
        return self.broker.url(0) if self.kind == "redis" else self.broker.url()

    def environment(self, web_port: int) -> dict:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "CELERY_"))}
        env.update(
            ENV_FILE="",  # the checkout's development .env must not leak in
            DEBUG="0",
            HTTPS_ONLY="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            FIELD_HASH_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.database.url,
            REDIS_URL=self.cache.url(0),
            CACHE_KEY_PREFIX=self.run_id,
            CELERY_BROKER_URL=self.broker_url(),
            CELERY_QUEUE=self.run_id,
            ALERT_WEBHOOK_URL=self.receiver.url,
            ALERT_WEBHOOK_SECRET=self.secret,
            LARGE_TRANSACTION_THRESHOLD="10000.00",
            PORT=str(web_port),
            GUNICORN_WORKERS="2",
            PYTHONUNBUFFERED="1",
        )
        return env

    # --- start and stop -------------------------------------------------------------------

    def start(self) -> None:
        self.database.create()
        self.cache.start()
        self.broker.start()
        self.receiver.start()
        web_port = free_port()
        env = self.environment(web_port)
        self.deployment = Deployment(self.venv, env, self.work, self.work / "celerybeat-schedule")
        # As docs/operators.md ("First start") says: the command needs no keys itself (DEBUG=1, none set).
        key = self.deployment.manage("generate_encryption_key", DEBUG="1", FIELD_ENCRYPTION_KEYS="")
        if key.returncode != 0:
            raise StageError(f"generate_encryption_key failed: {key.stderr[-2000:]}")
        env["FIELD_ENCRYPTION_KEYS"] = key.stdout.strip().splitlines()[-1]
        migrate = self.deployment.run("migrate")
        if not self.report.check(
            "migrate (compose's command) succeeds", migrate.returncode == 0, migrate.stderr[-2000:]
        ):
            raise StageError("migrate failed")
        client = self.deployment.manage("create_api_client", "stage", "--scope", "write")
        if client.returncode != 0:
            raise StageError(f"create_api_client failed: {client.stderr[-2000:]}")
        self.api = Api(f"http://127.0.0.1:{web_port}", client.stdout.strip().splitlines()[-1])
        self.probe = Api(f"http://127.0.0.1:{web_port}")
        self.web = self.deployment.start("web")
        self.worker = self.deployment.start("worker")
        self.beat = self.deployment.start("beat")
        wait_until(lambda: self.probe.get("/healthz")[0] == 200, seconds=60, what="gunicorn to answer /healthz")
        self.writes = Writes(self.api, self.database, self.receiver, first_user=700_000_000 + os.getpid() * 1000)

    def stop(self) -> None:
        if self.deployment:
            self.deployment.stop_all()
        self.broker.stop()
        self.cache.stop()
        self.receiver.stop()
        self.database.drop()

    def logs(self) -> str:
        return "\n".join(process.log_tail() for process in self.deployment.processes) if self.deployment else ""

    # --- the scenario -----------------------------------------------------------------------

    def readyz(self) -> tuple[int | None, dict]:
        status, body, _ = self.probe.get("/readyz")
        return status, body or {}

    def check_readyz(self, name: str, expect_status: int, failing: set[str]) -> None:
        """/readyz answers `expect_status` with exactly `failing` failing, each reason an error class."""

        def settled():
            status, body = self.readyz()
            states = {part: (body.get(part) or {}).get("status") for part in ("database", "cache", "broker")}
            return (status, body) if {p for p, s in states.items() if s == "failing"} == failing else None

        try:
            status, body = wait_until(settled, seconds=15, what=f"/readyz to show {sorted(failing) or 'all ok'}")
        except StageError as exc:
            self.report.check(name, False, f"{exc}; last answer {self.readyz()}")
            return
        reasons = [body[part].get("reason", "") for part in failing]
        secrets_and_hosts = ["127.0.0.1", "localhost", str(self.broker.port), str(self.cache.port)]
        secrets_and_hosts += [getattr(self.broker, "password", "127.0.0.1")]
        leaks = [text for text in secrets_and_hosts if text in str(body)]
        self.report.check(
            name,
            status == expect_status and all(ERROR_CLASS.match(reason) for reason in reasons) and not leaks,
            f"HTTP {status}, failing {sorted(failing)}, reasons {reasons}" + (f", leaks {leaks}" if leaks else ""),
        )

    def ready(self) -> None:
        self.check_readyz("/readyz: 200, database, cache and broker ok", 200, set())
        hostname = socket.gethostname()
        worker_ok = wait_until(
            lambda: self.deployment.health_check("worker", hostname), seconds=60, what="the worker's health check"
        )
        self.report.check("worker: compose's health check (celery inspect ping) passes", bool(worker_ok))
        self.report.check("beat: compose's health check passes", self.deployment.health_check("beat", hostname))

    def create_is_processed(self) -> None:
        write = self.writes.create(LARGE)
        self.report.check("a create answers 201", write["status"] == 201, str(write))
        started = time.monotonic()
        try:
            wait_until(lambda: self.writes.is_processed(write), seconds=CREATED_WITHIN, what="the create's processing")
            seconds = time.monotonic() - started
            ok = True
        except StageError:
            seconds, ok = time.monotonic() - started, False
        self.report.check(
            f"statistics, credit profile, alert pushed and signed within {CREATED_WITHIN} s of the 201",
            ok,
            f"{seconds:.1f} s",
        )
        self.report.figure(f"{self.kind}: seconds from a create's 201 to all its processing", f"{seconds:.1f}")

    def cache_and_database_states(self) -> None:
        self.cache.kill()
        self.check_readyz("/readyz with the cache down: 200, cache failing", 200, {"cache"})
        self.cache.start()
        self.check_readyz("/readyz with the cache back: 200, all ok", 200, set())
        self.database.refuse_connections(True)
        try:
            self.check_readyz(
                "/readyz with the database refusing connections: 503, database failing", 503, {"database"}
            )
        finally:
            self.database.refuse_connections(False)
        self.check_readyz("/readyz with the database back: 200, all ok", 200, set())

    def broker_outage(self) -> None:
        worker_pid, beat_pid = self.worker.pid, self.beat.pid
        # What made the worker die: a message it holds unacknowledged when the broker goes, here an
        # alert push refused once, whose retry waits for its countdown (30 s) inside the worker.
        self.receiver.refuse_next(1)
        self.held = self.writes.create(LARGE)
        wait_until(
            lambda: any(p["answered"] == 503 for p in self.receiver.snapshot()), seconds=30, what="the refused push"
        )
        time.sleep(0.5)  # the retry is published and taken back by the worker
        self.broker.kill()
        killed_at = time.monotonic()
        self.check_readyz("/readyz with the broker down: 200, broker failing", 200, {"broker"})
        outage = [self.writes.create(LARGE if n % 3 == 0 else SMALL) for n in range(9)]
        slowest = max(write["seconds"] for write in outage)
        self.report.check(
            f"writes during the outage answer 201 within {WRITE_ANSWERS_WITHIN} s",
            all(write["status"] == 201 for write in outage) and slowest < WRITE_ANSWERS_WITHIN,
            f"{len(outage)} writes, statuses {sorted({w['status'] for w in outage}, key=str)}, slowest {slowest:.2f} s",
        )
        time.sleep(max(0.0, 8 - (time.monotonic() - killed_at)))  # let the worker and beat live through it
        self.broker.start()
        returned_at = time.monotonic()
        try:
            wait_until(lambda: self.writes.all_processed(outage), seconds=AFTER_BROKER_RETURN + 30, what="the backlog")
            seconds, done = time.monotonic() - returned_at, True
        except StageError:
            seconds, done = time.monotonic() - returned_at, False
        self.report.check(
            f"everything written during the outage processed within {AFTER_BROKER_RETURN} s of the broker's return",
            done and seconds <= AFTER_BROKER_RETURN,
            f"{seconds:.1f} s",
        )
        self.report.figure(
            f"{self.kind}: seconds to process the outage's writes after the broker returned", f"{seconds:.1f}"
        )
        self.report.check(
            "... by the same worker process (never restarted)",
            self.worker.alive() and self.worker.pid == worker_pid,
            f"pid {worker_pid}",
        )
        self.report.check("beat lived through the outage too", self.beat.alive() and self.beat.pid == beat_pid)
        self.check_readyz("/readyz with the broker back: 200, all ok", 200, set())

    def worker_killed_mid_burst(self) -> None:
        pushes_before = len(self.receiver.snapshot())
        burst = []
        for n in range(30):
            burst.append(self.writes.create(LARGE if n % 3 == 0 else SMALL))
            if n == 11:
                # Mid-burst, while it has work in hand: the whole worker, pool included, as an OOM kill would.
                wait_until(
                    lambda: any(self.writes.is_processed(w) for w in burst), seconds=30, what="the worker to start"
                )
                self.worker.kill_group(signal.SIGKILL)
                self.worker.popen.wait()
        self.report.check("the burst's writes answer 201", all(write["status"] == 201 for write in burst))
        killed_pid = self.worker.pid
        self.worker = self.deployment.start("worker", name="worker-2")
        started = time.monotonic()
        try:
            wait_until(lambda: self.writes.all_processed(burst), seconds=150, what="the new worker to finish the burst")
            seconds, done = time.monotonic() - started, True
        except StageError:
            seconds, done = time.monotonic() - started, False
        self.report.check(
            "a new worker finishes everything the killed one left",
            done and self.worker.pid != killed_pid,
            f"{seconds:.1f} s",
        )
        self.report.figure(f"{self.kind}: seconds for a new worker to finish the burst", f"{seconds:.1f}")
        # The push refused before the outage is retried (its countdown, or the relay when that message was lost).
        try:
            wait_until(lambda: self.writes.is_processed(self.held), seconds=120, what="the refused push's retry")
            retried = True
        except StageError:
            retried = False
        self.report.check("the alert push refused before the outage is delivered by a retry", retried)
        time.sleep(3)  # late repeats, if any, arrive now rather than after the count
        self.no_duplicate_alert_or_webhook(pushes_before)

    def no_duplicate_alert_or_webhook(self, pushes_before_kill: int) -> None:
        expected, found = {}, {}
        for write in self.writes.made:
            expected[write["user_id"]] = [("large_amount", write["id"])] if write["large"] else []
            found[write["user_id"]] = [(a["rule"], a["transaction_id"]) for a in self.writes.alerts(write["user_id"])]
        wrong = {user: (found[user], expected[user]) for user in expected if found[user] != expected[user]}
        self.report.check("exactly one alert per large transaction, none for the others", not wrong, str(wrong)[:500])

        pushes = self.receiver.snapshot()
        accepted = [push for push in pushes if push["answered"] == 200]
        alert_ids = {
            a["id"] for write in self.writes.made if write["large"] for a in self.writes.alerts(write["user_id"])
        }
        deliveries: dict[int, set[str]] = {}
        for push in pushes:
            deliveries.setdefault((push["body"] or {}).get("id"), set()).add(push["delivery"])
        owners: dict[str, int] = {}
        shared = [d for alert, ids in deliveries.items() for d in ids if owners.setdefault(d, alert) != alert]
        self.report.check(
            "every alert pushed, signed, under one delivery id of its own (exactly once after dropping repeats)",
            set(deliveries) == alert_ids
            and {(push["body"] or {}).get("id") for push in accepted} == alert_ids
            and all(len(ids) == 1 for ids in deliveries.values())
            and not shared
            and all(push["signed"] for push in pushes),
            f"{len(alert_ids)} alerts, {len(pushes)} pushes, {len(accepted)} accepted",
        )
        accepted_before = [push for push in pushes[:pushes_before_kill] if push["answered"] == 200]
        repeats_before = len(accepted_before) - len({p["delivery"] for p in accepted_before})
        repeats = len(accepted) - len({p["delivery"] for p in accepted})
        seen: set[str] = set()
        repeated = [p["body"]["id"] for p in accepted if p["delivery"] in seen or seen.add(p["delivery"])]
        self.report.check(
            f"repeats: none before the worker kill, at most {self.concurrency} (pushes in flight) after",
            repeats_before == 0 and repeats <= self.concurrency,
            f"{repeats} repeated: alerts {repeated}",
        )
        self.report.figure(f"{self.kind}: repeated webhook deliveries (same X-Fido-Delivery)", str(repeats))


def run_broker(kind: str, venv: Path, report: Report, keep: bool) -> None:
    print(f"== production stage on {kind}", flush=True)
    work = Path(tempfile.mkdtemp(prefix=f"fido-stage-{kind}-"))
    run = BrokerRun(kind, venv, work, report)
    failed_before = report.failed
    metrics = None
    try:
        run.start()
        metrics = MetricsWatch(run)  # /metrics scraped throughout the run (ci/production/metrics_check.py)
        run.ready()
        run.create_is_processed()
        run.cache_and_database_states()
        run.broker_outage()
        run.worker_killed_mid_burst()
        metrics.finish()
    except StageError as exc:
        report.check(f"{kind} run completes", False, str(exc))
    finally:
        if metrics:
            metrics.stop()
        if report.failed > failed_before:
            print(f"  logs of the {kind} run (tails):\n{run.logs()}", flush=True)
        run.stop()
        if keep:
            print(f"  logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", choices=["redis", "rabbitmq"], action="append", help="default: both")
    parser.add_argument("--keep", action="store_true", help="keep each run's logs (printed where)")
    parser.add_argument("--venv", type=Path, help="reuse this venv instead of a fresh one (developing the stage only)")
    args = parser.parse_args()
    for program in ("redis-server", "rabbitmq-server"):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            print(f"production stage: {program} is not installed (apt-get install {program})", file=sys.stderr)
            return 2
    report = Report()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fido-stage-venv-") as directory:
        print("== production stage: a venv of requirements.txt alone", flush=True)
        try:
            venv = args.venv.resolve() if args.venv else fresh_venv(Path(directory))
        except StageError as exc:
            report.check("a venv of requirements.txt alone installs, and pip check passes", False, str(exc))
        else:
            for kind in args.broker or ["redis", "rabbitmq"]:
                run_broker(kind, venv, report, args.keep)
            run_edge(venv, report, args.keep)  # nginx in front of gunicorn: ci/production/edge.py
    print("== production stage figures")
    for name, value in report.figures:
        print(f"  {name}: {value}")
    print(f"  whole stage: {time.monotonic() - started:.0f} s")
    print(f"production-check: {report.passed} passed, {report.failed} failed", flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
