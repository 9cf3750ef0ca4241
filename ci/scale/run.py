"""The scale stage (`make scale-check`, run by .ci/run): the service on a real streaming replica pair and
PgBouncer, as docs/performance.md ("Scaling") prescribes, judged from outside over HTTP.

1. A PostgreSQL primary and a hot standby of the stage's own (`initdb`, `pg_basebackup`, as the postgres
   user, free ports, a temporary directory, stopped by pid): `synchronous_commit = remote_apply`, the
   standby in `synchronous_standby_names`; PgBouncer (Debian's, transaction mode) in front of the primary;
   a cache and a broker Redis of the stage's own.
2. The deployment: migrate, two gunicorn instances, two Celery workers (one queue) and beat, each with its
   docker-compose.yml command line (workers also get a host name each, as two containers would), with
   DATABASE_URL through PgBouncer (DATABASE_POOLER=pgbouncer) and DATABASE_REPLICA_URLS the standby.
   Checks:
   a. replication as prescribed; PgBouncer in the path (its pools and counters, fewer server connections
      than clients);
   b. reads are served by the standby: for a burst of uncached GETs, every statement they ran moved the
      standby's pg_stat_statements counters and none of them moved the primary's;
   c. a read after a write's response reflects it, across requests, clients and gunicorn instances
      (create, change, move to another user, delete; many iterations); a negative control proves the
      check can fail: with `synchronous_commit = on` and a standby that applies 300 ms late, the same
      check must find stale reads;
   d. the standby stopped: reads answer from the primary, no 5xx, each within 5 s; a write waits for the
      standby (docs/performance.md: commits stall while a synchronous standby is missing) and answers 201 once it is
      back; then reads use the standby again and stay fresh.
3. The API suite (tests/transactions, tests/analytics, tests/processing; services mode, so the Celery
   worker tests too) through PgBouncer.
4. `make load` with two gunicorn instances and two workers through PgBouncer and the standby: no 5xx,
   rows = creates - deletes, analytics = SQL recomputation, outbox drained, one alert per large amount.

`--measure` adds wrk figures of creates and cached reads through PgBouncer against direct connections.
Prints each check, the figures and "N passed, N failed"; exits 1 when a check fails. Needs PostgreSQL's
server binaries, pgbouncer, redis-server (and wrk with --measure); the machine's shared services are never
touched.
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "production"))

from cluster import PgBouncer, ReplicaPair
from services import BASE_DIR, Api, Deployment, Process, RedisServer, StageError, free_port, wait_until

VENV = BASE_DIR / ".venv"
ANSWER_WITHIN = 5  # the service promises: every request answers within 5 s (replica down, broker down...)
API_SUITE = ["tests/transactions", "tests/analytics", "tests/processing"]
# Statements of no interest when telling which server a read ran on: health checks, stats queries, and the
# time zone Django sets on each new connection (PgBouncer carries it: TimeZone is a parameter it tracks).
IGNORED = ("SELECT $1", "SHOW ", "SELECT pg_", "BEGIN", "COMMIT", "ROLLBACK", "SET ", "SELECT set_config")


class Report:
    def __init__(self):
        self.passed, self.failed, self.figures = 0, 0, []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.passed += bool(ok)
        self.failed += not ok
        print(f"  {'PASS' if ok else 'FAIL'} {name}" + (f" ({detail})" if detail else ""), flush=True)
        return ok

    def figure(self, name: str, value) -> None:
        self.figures.append((name, value))
        print(f"  figure: {name} = {value}", flush=True)


def statement_calls(node, database: str) -> dict[str, int]:
    """pg_stat_statements' calls per statement of `database`, on one server (the standby keeps its own)."""
    rows = node.sql(
        "SELECT s.query, sum(s.calls)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        "WHERE d.datname = %s GROUP BY s.query",
        (database,),
    )
    return {query: calls for query, calls in rows if not query.lstrip().startswith(IGNORED)}


def moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {query: calls - before.get(query, 0) for query, calls in after.items() if calls > before.get(query, 0)}


class Stage:
    def __init__(self, work: Path, report: Report):
        self.work, self.report = work, report
        self.run_id = f"scale_{os.getpid()}_{int(time.time())}"
        self.pair = ReplicaPair(work / "pg")
        self.bouncer = PgBouncer(self.pair.primary, work / "pgbouncer", pool_size=20)
        self.cache = RedisServer("cache", work, ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
                                                 "--save", "", "--appendonly", "no"])  # fmt: skip
        self.broker = RedisServer("broker", work, ["--save", "", "--appendonly", "no"])
        self.processes: list[Process] = []
        self.next_user = 800_000_000

    # --- infrastructure -------------------------------------------------------------------------

    def start_infrastructure(self) -> None:
        self.pair.start()
        self.bouncer.start()
        self.cache.start()
        self.broker.start()

    def stop_all(self) -> None:
        for process in self.processes:
            process.stop()
        self.broker.stop()
        self.cache.stop()
        self.bouncer.stop()
        self.pair.stop()

    def environment(self, database: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "LOAD_"))}
        env.update(
            ENV_FILE="",
            DEBUG="0",
            HTTPS_ONLY="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            FIELD_HASH_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DATABASE_URL=self.bouncer.url(database),
            DATABASE_POOLER="pgbouncer",
            DATABASE_REPLICA_URLS=self.pair.standby.url(database),
            DATABASE_REPLICA_RETRY_AFTER="2",
            REDIS_URL=self.cache.url(0),
            CACHE_KEY_PREFIX=self.run_id,
            CELERY_BROKER_URL=self.broker.url(0),
            CELERY_QUEUE=self.run_id,
            GUNICORN_WORKERS="2",
            GUNICORN_THREADS="4",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        return env

    # --- the deployment -------------------------------------------------------------------------

    def deploy(self) -> None:
        self.database = "fido"
        self.pair.primary.sql(f'CREATE DATABASE "{self.database}"')
        env = self.environment(self.database)
        deployment = self.deployment = Deployment(VENV, env, self.work, self.work / "celerybeat-schedule")
        migrate = deployment.run("migrate")
        if not self.report.check("migrate (compose's command) through PgBouncer", migrate.returncode == 0,
                                 migrate.stderr[-1500:]):  # fmt: skip
            raise StageError("migrate failed")
        tokens = {}
        for scope in ("write", "read"):
            made = deployment.manage("create_api_client", f"scale-{scope}", "--scope", scope)
            if made.returncode != 0:
                raise StageError(f"create_api_client failed: {made.stderr[-1500:]}")
            tokens[scope] = made.stdout.strip().splitlines()[-1]
        ports = [free_port(), free_port()]
        for number, port in enumerate(ports, start=1):
            self.processes.append(Process(f"web{number}", deployment.command("web"), env={**env, "PORT": str(port)},
                                          log_dir=self.work))  # fmt: skip
        for number in (1, 2):
            argv = [*deployment.command("worker"), "--hostname", f"worker{number}@%h"]
            self.processes.append(Process(f"worker{number}", argv, env=env, log_dir=self.work))
        self.processes.append(Process("beat", deployment.command("beat"), env=env, log_dir=self.work))
        self.writers = [Api(f"http://127.0.0.1:{port}", tokens["write"]) for port in ports]
        self.readers = [Api(f"http://127.0.0.1:{port}", tokens["read"]) for port in ports]
        for api in self.readers:
            wait_until(lambda api=api: api.get("/readyz")[0] == 200, seconds=90, what=f"{api.base_url}/readyz")
        self.report.check("both gunicorn instances ready (/readyz 200)", True)

    # --- helpers --------------------------------------------------------------------------------

    def new_user(self) -> int:
        self.next_user += 1
        return self.next_user

    @staticmethod
    def body(user_id: int, amount: str) -> dict:
        return {
            "user_id": user_id,
            "full_name": "Ama Mensah",
            "transaction_date": "2026-01-15T10:00:00Z",
            "transaction_amount": amount,
            "transaction_type": "credit",
        }

    @staticmethod
    def seen_by(reader: Api, user_id: int) -> tuple:
        """What a reader sees of a user: (history [(id, amount)], analytics (status, count, credit total))."""
        status, history, _ = reader.get(f"/api/v1/users/{user_id}/transactions/")
        rows = [(row["id"], row["transaction_amount"]) for row in history["results"]] if status == 200 else status
        status, analytics, _ = reader.get(f"/api/v1/users/{user_id}/analytics/")
        figures = (status, analytics["transaction_count"], analytics["credit"]["total"]) if status == 200 else status
        return rows, figures

    def read_after_write(self, iterations: int) -> list[str]:
        """Write through one instance, read through the other with another client; every read must show
        the write. Returns the stale reads found."""
        stale = []
        for n in range(iterations):
            writer, reader = self.writers[n % 2], self.readers[(n + 1) % 2]
            first, second = self.new_user(), self.new_user()
            status, created, _ = writer.post("/api/v1/transactions/", self.body(first, "100.00"))
            if status != 201:
                stale.append(f"create answered {status}: {created}")
                continue
            txn = created["id"]
            seen = self.seen_by(reader, first)
            if seen != ([(txn, "100.00")], (200, 1, "100.00")):
                stale.append(f"after create: user {first} {seen}")
            steps = [
                ("PATCH", {"transaction_amount": "250.00"}, [(first, [(txn, "250.00")], (200, 1, "250.00"))]),
                ("PATCH", {"user_id": second}, [(first, [], 404), (second, [(txn, "250.00")], (200, 1, "250.00"))]),
                ("DELETE", None, [(second, [], 404)]),
            ]
            for method, change, expected in steps:
                status, _, _ = writer.request(method, f"/api/v1/transactions/{txn}/", change)
                if status not in (200, 204):
                    stale.append(f"{method} answered {status}")
                    break
                for user_id, rows, figures in expected:
                    seen = self.seen_by(reader, user_id)
                    if seen != (rows, figures):
                        stale.append(f"after {method} {change}: user {user_id} {seen} != {(rows, figures)}")
        return stale

    def outbox_drained(self) -> bool:
        query = "SELECT count(*) FROM transactions_outboxevent WHERE status <> 'done'"
        return self.pair.primary.sql(query, database=self.database) == [(0,)]

    # --- the checks -----------------------------------------------------------------------------

    def replication_as_prescribed(self) -> None:
        primary = self.pair.primary
        setting = primary.sql("SHOW synchronous_commit")[0][0]
        names = primary.sql("SHOW synchronous_standby_names")[0][0]
        self.report.check(
            "primary: synchronous_commit = remote_apply, the standby streaming as the synchronous standby",
            setting == "remote_apply" and self.pair.standby_is_synchronous(),
            f"synchronous_commit={setting}, synchronous_standby_names={names}",
        )

    def pgbouncer_in_the_path(self) -> None:
        pools = [pool for pool in self.bouncer.show("POOLS") if pool["database"] == self.database]
        stats = [row for row in self.bouncer.show("STATS") if row["database"] == self.database]
        clients = [c for c in self.bouncer.show("CLIENTS") if c["database"] == self.database]
        servers = [s for s in self.bouncer.show("SERVERS") if s["database"] == self.database]
        transactions = stats[0]["total_xact_count"] if stats else 0
        self.report.check(
            "PgBouncer carries the service's transactions (transaction mode, fewer server than client connections)",
            bool(pools) and pools[0]["pool_mode"] == "transaction" and transactions > 0 and len(servers) < len(clients),
            f"{transactions} transactions, {len(clients)} client connections on {len(servers)} server connections",
        )
        self.report.figure("PgBouncer: client connections / server connections", f"{len(clients)} / {len(servers)}")

    def reads_served_by_the_standby(self) -> None:
        users = [self.new_user() for _ in range(10)]
        for user_id in users:
            self.writers[0].post("/api/v1/transactions/", self.body(user_id, "42.00"))
        # Their processing done (tasks read on the primary, by design), before the counters are read.
        wait_until(self.outbox_drained, seconds=60, what="the outbox to drain")
        time.sleep(1)
        primary_before = statement_calls(self.pair.primary, self.database)
        standby_before = statement_calls(self.pair.standby, self.database)
        gets, misses, errors = 0, 0, []
        start = date(2025, 1, 1)
        for n in range(60):
            reader = self.readers[n % 2]
            user_id = users[n % len(users)]
            period = f"date_from={start + timedelta(days=n)}&date_to=2026-12-31"  # never asked before: a miss
            for path in (f"/api/v1/users/{user_id}/analytics/?{period}", f"/api/v1/users/{user_id}/transactions/"):
                status, _, _ = reader.get(path)
                gets += 1
                if status != 200:
                    errors.append(f"{path}: {status}")
            misses += 1
        on_standby = moved(standby_before, statement_calls(self.pair.standby, self.database))
        on_primary = moved(primary_before, statement_calls(self.pair.primary, self.database))
        shared = {query: calls for query, calls in on_primary.items() if query in on_standby}
        self.report.check(
            "a burst of GETs runs its statements on the standby and none of them on the primary",
            not errors and sum(on_standby.values()) >= misses and not shared,
            f"{gets} GETs: {sum(on_standby.values())} statement calls on the standby over {len(on_standby)} "
            f"statements; of these, {sum(shared.values())} calls on the primary {list(shared)[:2]}; "
            f"errors {errors[:3]}",
        )
        self.report.figure("burst of GETs: statement calls on the standby / on the primary (same statements)",
                           f"{sum(on_standby.values())} / {sum(shared.values())}")  # fmt: skip

    def fresh_reads(self, iterations: int) -> None:
        before = sum(statement_calls(self.pair.standby, self.database).values())
        started = time.monotonic()
        stale = self.read_after_write(iterations)
        seconds = time.monotonic() - started
        served = sum(statement_calls(self.pair.standby, self.database).values()) - before
        self.report.check(
            f"read after write, across clients and instances: {iterations} iterations of create, change, "
            "move and delete, every read fresh",
            not stale and served > 0,
            f"{iterations * 4} writes, {iterations * 10} reads in {seconds:.0f} s, {served} statements on the "
            f"standby; stale: {stale[:3]}",
        )

    def negative_control(self) -> None:
        """The read-after-write check must be able to fail: asynchronous-enough replication must be caught."""
        primary, standby = self.pair.primary, self.pair.standby
        primary.sql("ALTER SYSTEM SET synchronous_commit = 'on'")
        standby.sql("ALTER SYSTEM SET recovery_min_apply_delay = '300ms'")
        for node in (primary, standby):
            node.sql("SELECT pg_reload_conf()")
        time.sleep(1)
        try:
            stale = self.read_after_write(5)
        finally:
            primary.sql("ALTER SYSTEM RESET synchronous_commit")
            standby.sql("ALTER SYSTEM RESET recovery_min_apply_delay")
            for node in (primary, standby):
                node.sql("SELECT pg_reload_conf()")
            time.sleep(1)
        self.report.check(
            "negative control: with synchronous_commit = on and the standby 300 ms behind, the check finds stale reads",
            bool(stale),
            f"{len(stale)} stale reads in 5 iterations, e.g. {stale[:1]}",
        )
        self.report.check(
            "... and with remote_apply restored, none",
            primary.sql("SHOW synchronous_commit")[0][0] == "remote_apply" and not self.read_after_write(5),
        )

    def standby_stopped(self) -> None:
        known = self.new_user()
        status, created, _ = self.writers[0].post("/api/v1/transactions/", self.body(known, "75.00"))
        # A client never seen before: its first request records "last used", a write inside a read request.
        made = self.deployment.manage("create_api_client", "scale-newcomer", "--scope", "read")
        newcomers = [Api(reader.base_url, made.stdout.strip().splitlines()[-1]) for reader in self.readers]
        self.pair.standby.stop()
        stopped_at = time.monotonic()
        primary_before = statement_calls(self.pair.primary, self.database)

        # A write now waits for the standby (docs/performance.md, "Scaling": commits stall while a synchronous
        # standby is missing).
        stalled_user, outcome = self.new_user(), {}

        def stalled_write():
            outcome["answer"] = self.writers[1].request(
                "POST", "/api/v1/transactions/", self.body(stalled_user, "64.00"), timeout=120
            )
            outcome["at"] = time.monotonic()

        writing = threading.Thread(target=stalled_write, daemon=True)
        writing.start()

        statuses, slowest, wrong = [], 0.0, []
        start = date(2024, 1, 1)
        for n in range(40):
            reader = (newcomers if n < 2 else self.readers)[n % 2]
            status, body, seconds = reader.get(f"/api/v1/users/{known}/analytics/?date_from={start + timedelta(n)}")
            statuses.append(status)
            slowest = max(slowest, seconds)
            if status == 200 and body["transaction_count"] != 1:
                wrong.append(body)
            status, history, seconds = reader.get(f"/api/v1/users/{known}/transactions/")
            statuses.append(status)
            slowest = max(slowest, seconds)
            if status == 200 and [row["id"] for row in history["results"]] != [created["id"]]:
                wrong.append(history)
        on_primary = sum(moved(primary_before, statement_calls(self.pair.primary, self.database)).values())
        self.report.check(
            f"standby stopped: reads answer from the primary, no 5xx, each within {ANSWER_WITHIN} s",
            set(statuses) == {200} and slowest < ANSWER_WITHIN and not wrong and on_primary > 0,
            f"{len(statuses)} GETs, statuses {sorted(set(statuses), key=str)}, slowest {slowest:.2f} s, "
            f"{on_primary} statement calls on the primary, wrong answers {wrong[:1]}",
        )
        self.report.figure("standby stopped: slowest read (s)", f"{slowest:.2f}")
        waited = time.monotonic() - stopped_at
        if waited < ANSWER_WITHIN + 1:
            time.sleep(ANSWER_WITHIN + 1 - waited)
        self.report.check(
            "standby stopped: a write waits for it (no answer yet, as docs/performance.md says)",
            "answer" not in outcome,
            f"still waiting after {time.monotonic() - stopped_at:.1f} s" if "answer" not in outcome else str(outcome),
        )
        restarted_at = time.monotonic()
        self.pair.standby.start()
        writing.join(90)
        answer = outcome.get("answer", (None, None, None))
        self.report.check(
            "standby back: the waiting write answers 201",
            answer[0] == 201,
            f"HTTP {answer[0]} {time.monotonic() - restarted_at:.1f} s after the standby's start"
            if "at" not in outcome
            else f"HTTP {answer[0]}, {outcome['at'] - restarted_at:.1f} s after the standby's start",
        )
        if "at" in outcome:
            self.report.figure("seconds from the standby's start to the waiting write's 201",
                               f"{outcome['at'] - restarted_at:.1f}")  # fmt: skip
        wait_until(self.pair.standby_is_synchronous, seconds=60, what="the standby to be synchronous again")
        time.sleep(3)  # past DATABASE_REPLICA_RETRY_AFTER: the web processes try the standby again
        before = sum(statement_calls(self.pair.standby, self.database).values())
        stale = self.read_after_write(10)
        served = sum(statement_calls(self.pair.standby, self.database).values()) - before
        self.report.check(
            "standby back: reads use it again, and every read after a write is fresh",
            not stale and served > 0,
            f"{served} statements on the standby; stale: {stale[:2]}",
        )

    # --- the suite and the load test -------------------------------------------------------------

    def api_suite(self, extra: list[str]) -> None:
        database = "fido_suite"
        # The suite's own settings (DEBUG, development keys), with the stage's PgBouncer, cache and broker.
        env = self.environment(database)
        deployment_only = ("DATABASE_REPLICA_URLS", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "FIELD_HASH_KEY")
        for name in (*deployment_only, "LOG_LEVEL", "ALLOWED_HOSTS"):
            env.pop(name)
        env.update(DEBUG="1", HTTPS_ONLY="0")
        started = time.monotonic()
        # The test database is created through PgBouncer (CREATE DATABASE runs outside a transaction), and
        # kept (--reuse-db): PgBouncer holds server connections to it, so it is dropped here, on the server.
        result = subprocess.run(  # noqa: S603 - our own test suite
            [str(VENV / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--reuse-db",
             *API_SUITE, *extra],
            cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        seconds = time.monotonic() - started
        self.pair.primary.sql(f'DROP DATABASE IF EXISTS "test_{database}" WITH (FORCE)')
        summary = (result.stdout.strip().splitlines() or [""])[-1]
        self.report.check(
            "the API suite (transactions, analytics, processing; services mode) through PgBouncer",
            result.returncode == 0,
            f"{summary}; {seconds:.0f} s" + ("" if result.returncode == 0 else f"\n{result.stdout[-4000:]}"),
        )
        self.report.figure("API suite through PgBouncer (s)", f"{seconds:.0f}")

    def load_test(self, seconds: int) -> None:
        database = "fido_load"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_", "LOAD_"))}
        env.update(
            ENV_FILE="",
            LOAD_DATABASE_URL=self.bouncer.url(database),
            LOAD_ADMIN_DATABASE_URL=self.pair.primary.url(database),
            LOAD_REPLICA_URLS=self.pair.standby.url(database),
            LOAD_POOLER="pgbouncer",
            LOAD_REDIS_URL=self.cache.url(1),
            LOAD_BROKER_URL=self.broker.url(1),
            LOAD_WEB_INSTANCES="2",
            LOAD_WORKERS="2",
            LOAD_SECONDS=str(seconds),
            LOAD_CLIENTS="16",
            LOAD_PORT=str(self.two_free_ports()),
            LOAD_GUNICORN_WORKERS="2",
            LOAD_GUNICORN_THREADS="4",
        )
        started = time.monotonic()
        result = subprocess.run(  # noqa: S603 - our own load test
            [str(VENV / "bin" / "python"), "loadtest/run.py"], cwd=BASE_DIR, env=env, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip
        # The database is the load test's own (created by it): everything counted ran during the test.
        on_standby = sum(statement_calls(self.pair.standby, database).values())
        output = result.stdout
        report = json.loads(output[output.index("{") : output.rindex("}") + 1]) if "{" in output else {}
        checks = report.get("checks", {})
        self.report.check(
            "make load: 2 gunicorn instances, 2 workers, through PgBouncer and the standby: every check",
            result.returncode == 0 and bool(checks) and all(checks.values()) and on_standby > 0,
            f"{json.dumps(checks)}; {on_standby} statements on the standby; {time.monotonic() - started:.0f} s"
            + ("" if result.returncode == 0 else f"\n{output[-3000:]}\n{result.stderr[-2000:]}"),
        )
        if report:
            commits = "SELECT xact_commit FROM pg_stat_database WHERE datname = %s"
            on = {node.name: node.sql(commits, (database,))[0][0] for node in (self.pair.primary, self.pair.standby)}
            requests, events = report["requests"], max(report["outbox"].get("done", 0), 1)
            self.report.figure("load: requests/s", report["throughput_rps"])
            self.report.figure(
                "load: transactions on the primary / on the standby, per request",
                f"{on['primary'] / requests:.1f} / {on['standby'] / requests:.1f} "
                f"({on['primary']} / {on['standby']} for {requests} requests, {events} events)",
            )
            self.report.figure(
                "load: CPU ms per request (web) / per processed event (workers)",
                f"{report['web_cpu_ms_per_request']} / {report['worker_cpu_ms_per_event']}",
            )
            self.report.figure(
                "load: creates acknowledged - deletes = rows",
                f"{report['creates_acknowledged']} - {report['deletes']} = {report['rows']}",
            )
            self.report.figure("load: latency ms (p50/p95/p99)", {
                op: f"{v['p50']}/{v['p95']}/{v['p99']}" for op, v in report["latency_ms"].items()
            })  # fmt: skip
            self.report.figure("load: outbox", report["outbox"])
            self.report.figure("load: alerts", report["alerts"])

    @staticmethod
    def two_free_ports() -> int:
        """A port whose next one is free too (the load test's second instance listens there)."""
        for _ in range(50):
            port = free_port()
            try:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
        raise StageError("no two consecutive free ports")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=int(os.environ.get("SCALE_ITERATIONS", "60")))
    parser.add_argument("--load-seconds", type=int, default=int(os.environ.get("SCALE_LOAD_SECONDS", "20")))
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args, pytest_extra = parser.parse_known_args()
    pytest_extra += os.environ.get("SCALE_PYTEST_ARGS", "").split()

    # A stage stopped from outside still stops everything it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="fido-scale-"))
    work.chmod(0o755)  # the postgres user works in subdirectories of its own
    stage = Stage(work, report)
    started = time.monotonic()
    print(f"== scale stage: replica pair, PgBouncer, two instances (work dir {work})", flush=True)
    try:
        stage.start_infrastructure()
        stage.deploy()
        stage.replication_as_prescribed()
        stage.reads_served_by_the_standby()
        stage.fresh_reads(args.iterations)
        stage.negative_control()
        stage.pgbouncer_in_the_path()
        stage.standby_stopped()
        for process in stage.processes:
            process.stop()
        stage.processes.clear()
        if not args.skip_suite:
            print("== the API suite through PgBouncer", flush=True)
            stage.api_suite(pytest_extra)
        if not args.skip_load:
            print("== make load through PgBouncer and the standby", flush=True)
            stage.load_test(args.load_seconds)
    except StageError as exc:
        report.check("the stage completes", False, str(exc))
    finally:
        if report.failed:
            for process in stage.processes:
                print(process.log_tail(), flush=True)
        stage.stop_all()
        if args.keep or report.failed:
            print(f"  logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"== scale stage: {report.passed} passed, {report.failed} failed in {time.monotonic() - started:.0f} s")
    for name, value in report.figures:
        print(f"  {name}: {value}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
