"""Creates and reads through PgBouncer against direct connections (`make scale-measure`, not part of CI).

One primary and its synchronous standby (ci/scale/cluster.py, as the scale stage runs them), PgBouncer in
transaction mode, a cache Redis and a broker Redis of its own; three gunicorn instances with the shipped
configuration (GUNICORN_WORKERS=2, GUNICORN_THREADS=4) side by side on the same database:
- direct: DATABASE_URL to the primary, persistent connections (CONN_MAX_AGE=60, the default);
- pgbouncer: DATABASE_URL to PgBouncer, DATABASE_POOLER=pgbouncer, persistent client connections;
- pgbouncer, CONN_MAX_AGE=0: a new connection to PgBouncer for every request.
wrk (bench/wrk.lua, 2 threads, 16 connections) runs each scenario against each instance in turn, rounds
interleaved so that load from elsewhere on the machine meets every configuration alike: creates (POST, new
users), cached analytics (always a hit) and uncached analytics (a period never asked before). Prints a table
of req/s and p50/p99 per configuration (medians of the rounds) and each configuration's ratio to direct
connections (the median of the rounds' ratios, with their range), and writes it to ci/scale/results.json.
A cached hit runs no SQL at all, so its ratios show how much noise the machine adds.

Then pgbench on the same primary (its own database, scale 10, 8 clients): read-only transactions, and
TPC-B-like write transactions with `synchronous_commit = remote_apply` (the standby applies before each
commit returns) and with `local`: the database's side of the capacity model.
"""

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "production"))

from cluster import AS_POSTGRES, PG_BIN, PgBouncer, ReplicaPair
from services import BASE_DIR, Api, Process, RedisServer, free_port, wait_until

VENV = BASE_DIR / ".venv"
ROUNDS = int(os.environ.get("MEASURE_ROUNDS", "5"))
SLOT_SECONDS = int(os.environ.get("MEASURE_SECONDS", "4"))
SCENARIOS = {
    "create": ("create", "/api/v1/transactions/", "write"),
    "cached analytics": ("get", "/api/v1/users/1/analytics/", "read"),
    "uncached analytics": ("unique", "/api/v1/users/1/analytics/", "read"),
}


def wrk(url: str, token: str, mode: str, sequence: int) -> dict:
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_MODE": mode, "BENCH_SEQUENCE": str(sequence)}
    result = subprocess.run(  # noqa: S603 - wrk on our own servers
        ["wrk", "-t2", "-c16", f"-d{SLOT_SECONDS}s", "-s", str(BASE_DIR / "bench" / "wrk.lua"), url],  # noqa: S607
        env=env, capture_output=True, text=True, timeout=SLOT_SECONDS + 60,
    )  # fmt: skip
    line = next(line for line in result.stdout.splitlines() if line.startswith("BENCH_JSON "))
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def pgbench(pair: ReplicaPair, bouncer: PgBouncer) -> dict:
    """pgbench on the primary: read-only and write transactions per second (with and without waiting for the
    standby), and the latency one statement pays directly and through PgBouncer (one client)."""
    primary = pair.primary
    primary.sql('CREATE DATABASE "pgbench"')
    program = [*AS_POSTGRES, str(PG_BIN / "pgbench"), "-h", "127.0.0.1", "-U", "postgres"]
    direct, pooled = [*program, "-p", str(primary.port)], [*program, "-p", str(bouncer.port)]
    subprocess.run([*direct, "-i", "-q", "-s", "10", "pgbench"], check=True, capture_output=True)  # noqa: S603
    figures = {}
    for name, base, options, commit in (
        ("read-only (-S), 8 clients", direct, ["-c", "8", "-j", "2", "-S"], "remote_apply"),
        ("TPC-B-like, 8 clients, synchronous_commit = remote_apply", direct, ["-c", "8", "-j", "2"], "remote_apply"),
        ("TPC-B-like, 8 clients, synchronous_commit = local", direct, ["-c", "8", "-j", "2"], "local"),
        ("one SELECT at a time, direct", direct, ["-c", "1", "-S"], "remote_apply"),
        ("one SELECT at a time, through PgBouncer", pooled, ["-c", "1", "-S"], "remote_apply"),
    ):
        # PGOPTIONS would be refused by PgBouncer (a startup parameter it does not know); reads need none.
        env = {**os.environ, "PGOPTIONS": f"-c synchronous_commit={commit}"} if base is direct else dict(os.environ)
        result = subprocess.run(  # noqa: S603
            [*base, "-T", str(3 * SLOT_SECONDS), *options, "pgbench"], capture_output=True, text=True, check=True,
            env=env,
        )  # fmt: skip
        tps = next(line for line in result.stdout.splitlines() if line.startswith("tps"))
        latency = next(line for line in result.stdout.splitlines() if line.startswith("latency average"))
        figures[name] = {"tps": round(float(tps.split()[2]), 1), "latency_ms": float(latency.split()[3])}
        print(f"  pgbench {name}: {figures[name]}", flush=True)
    return figures


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="fido-measure-"))
    work.chmod(0o755)
    pair = ReplicaPair(work / "pg")
    bouncer = PgBouncer(pair.primary, work / "pgbouncer", pool_size=20)
    cache = RedisServer("cache", work, ["--save", "", "--appendonly", "no"])
    broker = RedisServer("broker", work, ["--save", "", "--appendonly", "no"])
    processes: list[Process] = []
    try:
        pair.start()
        bouncer.start()
        cache.start()
        broker.start()
        pair.primary.sql('CREATE DATABASE "fido"')
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "DATABASE_"))}
        base.update(
            ENV_FILE="", DEBUG="0", HTTPS_ONLY="0", SECRET_KEY=secrets.token_urlsafe(50),
            FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(), FIELD_HASH_KEY=secrets.token_urlsafe(32),
            ALLOWED_HOSTS="127.0.0.1", DATABASE_URL=pair.primary.url("fido"), REDIS_URL=cache.url(0),
            CACHE_KEY_PREFIX="measure", CELERY_BROKER_URL=broker.url(0), CELERY_QUEUE="measure",
            GUNICORN_WORKERS="2", GUNICORN_THREADS="4", LOG_LEVEL="WARNING",
            THROTTLE_RATE_USER="1000000/min", ANALYTICS_CACHE_TTL="900",
        )  # fmt: skip
        python = str(VENV / "bin" / "python")
        subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=BASE_DIR, env=base, check=True)  # noqa: S603
        tokens = {}
        for scope in ("write", "read"):
            made = subprocess.run(  # noqa: S603
                [python, "manage.py", "create_api_client", f"measure-{scope}", "--scope", scope],
                cwd=BASE_DIR, env=base, check=True, capture_output=True, text=True,
            )  # fmt: skip
            tokens[scope] = made.stdout.strip().splitlines()[-1]
        configs = {
            "direct": {},
            "pgbouncer": {"DATABASE_URL": bouncer.url("fido"), "DATABASE_POOLER": "pgbouncer"},
            "pgbouncer, CONN_MAX_AGE=0": {
                "DATABASE_URL": bouncer.url("fido"), "DATABASE_POOLER": "pgbouncer", "CONN_MAX_AGE": "0"
            },
        }  # fmt: skip
        urls = {}
        gunicorn = [str(VENV / "bin" / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "fido.wsgi:application"]
        for number, (name, extra) in enumerate(configs.items()):
            port = free_port()
            processes.append(Process(f"web{number}", gunicorn, env={**base, **extra, "PORT": str(port)}, log_dir=work))
            urls[name] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            wait_until(lambda url=url: Api(url).get("/readyz")[0] == 200, seconds=90, what=f"{url}/readyz")
        writer = Api(urls["direct"], tokens["write"])
        for n in range(200):  # user 1's history: 200 transactions on 200 days
            day = f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}T10:00:00Z"
            writer.post("/api/v1/transactions/", {
                "user_id": 1, "full_name": "Ama Mensah", "transaction_date": day,
                "transaction_amount": "12.50", "transaction_type": "credit",
            })  # fmt: skip
        for url in urls.values():
            Api(url, tokens["read"]).get("/api/v1/users/1/analytics/")  # warm: every later GET is a hit
        slots: dict[tuple[str, str], list[dict]] = {}
        sequence = 0
        for round_number in range(ROUNDS):
            for scenario, (mode, path, scope) in SCENARIOS.items():
                names = list(configs)
                names = names[round_number % len(names) :] + names[: round_number % len(names)]
                for name in names:
                    sequence += 100_000
                    slots.setdefault((scenario, name), []).append(wrk(urls[name] + path, tokens[scope], mode, sequence))
            print(f"  round {round_number + 1} of {ROUNDS} done", flush=True)
        table = {}
        header = f"{'scenario':<20}{'configuration':<27}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
        print(header + "  ratio to direct (rounds)")
        for (scenario, name), runs in slots.items():
            direct = slots[(scenario, "direct")]
            ratios = [run["rps"] / base["rps"] for run, base in zip(runs, direct, strict=True)]
            row = {
                "rps": round(statistics.median(run["rps"] for run in runs), 1),
                "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 1),
                "p99_ms": round(statistics.median(run["p99_us"] for run in runs) / 1000, 1),
                "socket_errors": sum(run["socket_errors"] for run in runs),
                "non_2xx": sum(run["non_2xx"] for run in runs),
                "ratio": round(statistics.median(ratios), 2),
                "ratio_range": [round(min(ratios), 2), round(max(ratios), 2)],
            }
            table.setdefault(scenario, {})[name] = row
            errors = f"{row['socket_errors']}/{row['non_2xx']}"
            print(
                f"{scenario:<20}{name:<27}{row['rps']:>7}{row['p50_ms']:>8}{row['p99_ms']:>8}{errors:>7}"
                f"  {row['ratio']:.2f} ({row['ratio_range'][0]:.2f}-{row['ratio_range'][1]:.2f})"
            )
        database_side = pgbench(pair, bouncer)
        load = os.getloadavg()
        result = {"date": time.strftime("%Y-%m-%d"), "load_average_after": [round(x, 2) for x in load], "table": table}
        result["pgbench"] = database_side
        result["rounds"], result["slot_seconds"] = ROUNDS, SLOT_SECONDS
        (Path(__file__).parent / "results.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"load average after: {load}")
        return 0
    finally:
        for process in processes:
            process.stop()
        broker.stop()
        cache.stop()
        bouncer.stop()
        pair.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
