"""`make bench`: seed 1,000,000 transactions into a throw-away PostgreSQL database, serve them with
gunicorn against the real Redis, measure each scenario with wrk on 127.0.0.1, and write the results
to bench/results/ (results.md, results.json, chart.png).

Environment (defaults in brackets): BENCH_DATABASE_URL [postgres://postgres@127.0.0.1:5432/fido_bench]
(dropped and recreated), BENCH_REDIS_URL [redis://127.0.0.1:6379/0], BENCH_BROKER_URL
[redis://127.0.0.1:6379/1], BENCH_CACHE_PREFIX [fido_bench], BENCH_PORT [8000], BENCH_WORKERS [4],
BENCH_SECONDS [4] per scenario and round, BENCH_ROUNDS [3], BENCH_CONNECTIONS [8].

The scenarios run interleaved, round after round, so that a burst of load from elsewhere on the
machine spreads over all of them instead of skewing one: req/s is over all rounds, p50 and p99 are
the medians of the rounds' values.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fido_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/1")
PREFIX = os.environ.get("BENCH_CACHE_PREFIX", "fido_bench")
PORT = int(os.environ.get("BENCH_PORT", "8000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
BASE = f"http://127.0.0.1:{PORT}"

# (id, label, path, wrk mode, token); (b) and (d) are warmed first so every request is a HIT.
SCENARIOS = [
    ("a", "(a) floor: bare DRF view, one cache.get", "/api/v1/bench/cache-ping/", "get", "read"),
    ("b", "(b) analytics, cached", "/api/v1/users/2/analytics/", "get", "read"),
    ("c_light", "(c) analytics, uncached, 100-row user", "/api/v1/users/2/analytics/", "unique", "read"),
    ("c_heavy", "(c) analytics, uncached, 500,000-row user", "/api/v1/users/1/analytics/", "unique", "read"),
    ("overview", "(f) overview, uncached, 1,000,000 rows", "/api/v1/analytics/overview/", "unique", "read"),
    ("d", "(d) history page, cached", "/api/v1/users/2/transactions/", "get", "read"),
    ("e", "(e) transaction create", "/api/v1/transactions/", "create", "write"),
]


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def recreate_database() -> None:
    url = urllib.parse.urlsplit(DATABASE_URL)
    name = url.path.lstrip("/")
    admin_url = urllib.parse.urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def service_env() -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "REDIS_", "CELERY_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=Fernet.generate_key().decode(),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        FIELD_HASH_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=BROKER_URL,
        CACHE_KEY_PREFIX=PREFIX,
        ALLOWED_HOSTS="127.0.0.1",
        BENCH_ENDPOINTS="1",
        ANALYTICS_CACHE_TTL="900",
        LOG_LEVEL="WARNING",
        # Throttling stays on (its cache increment is part of every request's cost) at a rate the
        # benchmark's single client cannot reach; no .env of the checkout leaks in.
        THROTTLE_RATE_USER="100000000/min",
        ENV_FILE="",
    )
    return env


def json_line(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"no result line in:\n{output}")


def get(path: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(BASE + path, headers={"Authorization": f"Token {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  (127.0.0.1 only)
        return response.status, response.headers.get("X-Cache", "")


def wait_until_up(server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            urllib.request.urlopen(BASE + "/healthz", timeout=2)  # noqa: S310
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer within 60 s")


def wrk(path: str, mode: str, token: str, seconds: int) -> dict:
    result = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "wrk.lua"),
            BASE + path,
        ],
        env={**os.environ, "BENCH_TOKEN": token, "BENCH_MODE": mode},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    stats = json_line(result.stdout)
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    stats["p50_ms"] = stats["p50_us"] / 1000
    stats["p99_ms"] = stats["p99_us"] / 1000
    return stats


def combine(rounds: list[dict]) -> dict:
    def median(values):
        values = sorted(values)
        return values[len(values) // 2]

    return {
        "requests": sum(r["requests"] for r in rounds),
        "non_2xx": sum(r["non_2xx"] for r in rounds),
        "socket_errors": sum(r["socket_errors"] for r in rounds),
        "rps": sum(r["requests"] for r in rounds) / (sum(r["duration_us"] for r in rounds) / 1e6),
        "p50_ms": median([r["p50_ms"] for r in rounds]),
        "p99_ms": median([r["p99_ms"] for r in rounds]),
        "rounds": rounds,
    }


def clear_cache_prefix() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
        client.delete(key)


def write_results(seed: dict, stats: dict) -> dict:
    ratios = {
        "b/a": stats["b"]["rps"] / stats["a"]["rps"],
        "c_heavy/c_light (p50)": stats["c_heavy"]["p50_ms"] / stats["c_light"]["p50_ms"],
        "overview/c_heavy (p50)": stats["overview"]["p50_ms"] / stats["c_heavy"]["p50_ms"],
        "e/a": stats["e"]["rps"] / stats["a"]["rps"],
    }
    lines = [
        "| scenario | req/s | p50 ms | p99 ms | non-2xx |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label, *_ in SCENARIOS:
        row = stats[key]
        lines.append(f"| {label} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['non_2xx']} |")
    lines += [
        "",
        f"Ratios: b/a = {ratios['b/a']:.2f} (target ≥ 0.8); "
        f"c-heavy/c-light p50 = {ratios['c_heavy/c_light (p50)']:.2f} (target ≤ 2); "
        f"overview/c-heavy p50 = {ratios['overview/c_heavy (p50)']:.2f} (target ≤ 2); "
        f"e/a = {ratios['e/a']:.2f}.",
        "",
        f"Seeding: {seed['rows']:,} transactions, {seed['users']:,} users, {seed['user_days']:,} user-days "
        f"over {seed['days']} days in {seed['seconds']} s (insert {seed['insert_seconds']} s), "
        f"seeding process peak memory {seed['peak_mb']} MB.",
        "",
        f"Setup: gunicorn `fido.wsgi` with {WORKERS} sync workers, DEBUG=0, PostgreSQL and Redis on 127.0.0.1; "
        f"wrk 2 threads, {CONNECTIONS} connections; {ROUNDS} interleaved rounds of {SECONDS} s per scenario "
        f"after a 2 s warm-up; "
        f"{os.cpu_count()} CPU cores shared with the load generator and the databases.",
    ]
    table = "\n".join(lines) + "\n"
    (RESULTS / "results.md").write_text(table)
    (RESULTS / "results.json").write_text(
        json.dumps(
            {"seed": {k: v for k, v in seed.items() if "token" not in k}, "stats": stats, "ratios": ratios}, indent=2
        )
        + "\n"
    )
    chart(stats)
    print(table)
    return ratios


def chart(stats: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label.split(" ", 1)[1] for _, label, *_ in SCENARIOS]
    keys = [key for key, *_ in SCENARIOS]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    left.barh(labels, [stats[key]["rps"] for key in keys], color="#4c72b0")
    left.set_xlabel("requests per second (higher is better)")
    left.invert_yaxis()
    positions = range(len(keys))
    right.barh([p - 0.2 for p in positions], [stats[key]["p50_ms"] for key in keys], height=0.4, label="p50")
    right.barh([p + 0.2 for p in positions], [stats[key]["p99_ms"] for key in keys], height=0.4, label="p99")
    right.set_yticks(list(positions), [""] * len(keys))
    right.invert_yaxis()
    right.set_xlabel("latency, ms (lower is better)")
    right.legend()
    fig.suptitle("make bench: 1,000,000 transactions, gunicorn + PostgreSQL + Redis")
    fig.tight_layout()
    fig.savefig(RESULTS / "chart.png", dpi=110)


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    env = service_env()
    log(f"recreating {DATABASE_URL}")
    recreate_database()
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    log("seeding 1,000,000 transactions")
    seeded = subprocess.run(  # noqa: S603
        [PYTHON, "bench/seed.py"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    seed = json_line(seeded.stdout)
    log(f"seeded in {seed['seconds']} s, peak {seed['peak_mb']} MB")
    clear_cache_prefix()
    tokens = {"read": seed["read_token"], "write": seed["write_token"]}
    log(f"starting gunicorn with {WORKERS} workers on {BASE}")
    server = subprocess.Popen(  # noqa: S603
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "fido.wsgi:application",
            "-w",
            str(WORKERS),
            "-b",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    runs = {key: [] for key, *_ in SCENARIOS}
    try:
        wait_until_up(server)
        for _key, label, path, mode, scope in SCENARIOS:
            if mode == "get":
                get(path, tokens[scope])
                status, cache_state = get(path, tokens[scope])
                log(f"{label}: warmed, status {status}, X-Cache {cache_state or '-'}")
            wrk(path, mode, tokens[scope], 2)
        for round_number in range(1, ROUNDS + 1):
            for key, label, path, mode, scope in SCENARIOS:
                runs[key].append(wrk(path, mode, tokens[scope], SECONDS))
                log(f"round {round_number} {label}: {runs[key][-1]['rps']:.0f} req/s")
        stats = {key: combine(rounds) for key, rounds in runs.items()}
        for key, _, path, mode, scope in SCENARIOS:
            if mode == "get":
                stats[key]["x_cache_after"] = get(path, tokens[scope])[1]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    ratios = write_results(seed, stats)
    for name, value in ratios.items():
        print(f"{name} = {value:.2f}")
    log(f"done in {time.monotonic() - started:.0f} s; results in {RESULTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
