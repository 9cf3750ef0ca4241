"""`make bench`: the service measured against an independent floor, in one run, on 127.0.0.1.

1. Seeds a throw-away PostgreSQL database with 1,000,000 transactions (bench/seed.py, then the
   service's own `rebuild_analytics` and `create_api_client`), and the floor's database
   (bench/floor/, a stock Django project with one stock DRF view).
2. For each server configuration (the shipped `deploy/gunicorn.conf.py`: gthread with keep-alive;
   then 2 sync workers), starts the service and the floor side by side with the same gunicorn
   command and measures every scenario with wrk, interleaved with the floor: each round runs
   floor, scenario, floor, scenario, ..., floor, so every scenario is bracketed by two floor slots
   and background load hits both. A scenario's ratio is its req/s over the mean of its two floors,
   per round; the reported ratio is the median over the rounds.
3. In-process (bench/inprocess.py): SQL statements, Redis commands and round trips per request,
   with a cProfile breakdown of a cached analytics hit; then the heavy user grows to 1,000,000 rows
   and one outbox event of it is processed by the Celery task, timed (median of several).
4. Prints the table of ratios with the targets and PASS/FAIL, and writes bench/results/
   (results.md, results.json, chart.png, profile_analytics_cached.txt).

Environment (defaults in brackets): BENCH_DATABASE_URL [postgres://postgres@127.0.0.1:5432/fido_bench]
and BENCH_FLOOR_DATABASE_URL [.../fido_bench_floor] (both dropped and recreated, dropped again at the
end unless BENCH_KEEP_DATABASES=1), BENCH_REDIS_URL [redis://127.0.0.1:6379/0] (the cache of both; keys
under their own prefixes, deleted at the end), BENCH_BROKER_URL [a redis-server of the benchmark's own
on a free port, so that the creates' messages never land on a shared broker], BENCH_GTHREAD_WORKERS [2]
and BENCH_GTHREAD_THREADS [4] (the shipped configuration on a 2-core machine), BENCH_ROUNDS [4],
BENCH_SECONDS [2] per slot, BENCH_CONNECTIONS [16], BENCH_PROCESS_RUNS [7].
"""

import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
FLOOR = BENCH / "floor"
RESULTS = BENCH / "results"
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).parent / "gunicorn")
GUNICORN_CONF = str(ROOT / "deploy" / "gunicorn.conf.py")

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fido_bench")
FLOOR_DATABASE_URL = os.environ.get("BENCH_FLOOR_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fido_bench_floor")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "")
KEEP_DATABASES = os.environ.get("BENCH_KEEP_DATABASES", "") == "1"
GTHREAD_WORKERS = int(os.environ.get("BENCH_GTHREAD_WORKERS", "2"))
GTHREAD_THREADS = int(os.environ.get("BENCH_GTHREAD_THREADS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
PROCESS_RUNS = int(os.environ.get("BENCH_PROCESS_RUNS", "7"))
RUN_ID = f"bench_{int(time.time())}_{os.getpid()}"
SERVICE_PREFIX = f"{RUN_ID}_service"
FLOOR_PREFIX = f"{RUN_ID}_floor"

HEAVY_USER, LIGHT_USER = 1, 2
PROCESS_USER_ROWS = 1_000_000

# The two server configurations: the same gunicorn command for the service and the floor.
CONFIGS = [
    {
        "key": "gthread",
        "label": (
            f"shipped configuration (deploy/gunicorn.conf.py: gthread, keep-alive 5 s), "
            f"GUNICORN_WORKERS={GTHREAD_WORKERS} GUNICORN_THREADS={GTHREAD_THREADS}"
        ),
        "workers": GTHREAD_WORKERS,
        "args": [],
        "env": {"GUNICORN_WORKERS": str(GTHREAD_WORKERS), "GUNICORN_THREADS": str(GTHREAD_THREADS)},
    },
    {
        "key": "sync",
        "label": "2 sync workers (deploy/gunicorn.conf.py with -k sync -w 2 --threads 1)",
        # --threads 1: with more threads gunicorn silently turns a sync worker into gthread.
        "workers": 2,
        "args": ["-k", "sync", "-w", "2", "--threads", "1"],
        "env": {},
    },
]

# (key, label, path, wrk mode, token). Cached ones are warmed first and checked to be hits.
FLOOR_SCENARIO = ("floor", "floor: stock DRF view, TokenAuthentication + IsAuthenticated + one cache get", "/ping/")
SCENARIOS = [
    ("analytics_cached", "cached analytics, 500,000-row user", f"/api/v1/users/{HEAVY_USER}/analytics/", "get", "read"),
    ("history_cached", "cached history page", f"/api/v1/users/{HEAVY_USER}/transactions/", "get", "read"),
    ("analytics_light", "uncached analytics, 100-row user", f"/api/v1/users/{LIGHT_USER}/analytics/", "unique", "read"),
    (
        "analytics_heavy",
        "uncached analytics, 500,000-row user",
        f"/api/v1/users/{HEAVY_USER}/analytics/",
        "unique",
        "read",
    ),
    ("overview", "uncached overview, 1,000,000 rows", "/api/v1/analytics/overview/", "unique", "read"),
    ("create", "create", "/api/v1/transactions/", "create", "write"),
]
LABELS = {key: label for key, label, *_ in SCENARIOS} | {"floor": FLOOR_SCENARIO[1]}

# The service's performance targets (docs/performance.md), the ratios checked in every configuration.
RATIO_TARGETS = {"analytics_cached": 0.9, "history_cached": 0.9, "create": 0.3}
HEAVY_LIGHT_MAX = 2.0
PROCESS_MAX_MS = 50.0
# Beyond the floor: a comparable FastAPI implementation's cached analytics on this machine class.
REFERENCE_RPS = 1650


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:5.0f} s] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def json_line(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON ") :])
    raise RuntimeError(f"no result line in:\n{output[-3000:]}")


def admin_connection(url: str):
    parts = urllib.parse.urlsplit(url)
    return psycopg.connect(urllib.parse.urlunsplit(parts._replace(path="/postgres")), autocommit=True)


def recreate_database(url: str) -> None:
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    with admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    with admin_connection(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_cache_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def base_env() -> dict:
    """The caller's environment without anything that could point a server at another database or cache."""
    prefixes = ("DATABASE_", "REDIS_", "CELERY_", "GUNICORN_", "FLOOR_", "CACHE_")
    return {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}


def service_env(broker_url: str) -> dict:
    return base_env() | {
        "ENV_FILE": "",  # no .env of the checkout leaks in
        "DEBUG": "0",
        "SECRET_KEY": Fernet.generate_key().decode(),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FIELD_HASH_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_QUEUE": RUN_ID,
        "CACHE_KEY_PREFIX": SERVICE_PREFIX,
        "ALLOWED_HOSTS": "127.0.0.1",
        # Longer than the run, so that cached entries stay hits without a beat refreshing them.
        "ANALYTICS_CACHE_TTL": "900",
        # Throttling stays on (its cache round trips are part of every request's cost) at a rate the
        # benchmark cannot reach. Logging stays at its shipped level: one JSON line per request.
        "THROTTLE_RATE_USER": "100000000/min",
    }


def floor_env() -> dict:
    return base_env() | {
        "FLOOR_SECRET_KEY": Fernet.generate_key().decode(),
        "FLOOR_DATABASE_URL": FLOOR_DATABASE_URL,
        "FLOOR_REDIS_URL": REDIS_URL,
        "FLOOR_CACHE_PREFIX": FLOOR_PREFIX,
    }


def run(args: list[str], env: dict, cwd: Path = ROOT) -> str:
    result = subprocess.run(  # noqa: S603
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1].strip()


# --- Servers ----------------------------------------------------------------------------------


class Server:
    """One gunicorn (its own process group), stopped by its PID."""

    def __init__(self, name: str, app: str, cwd: Path, env: dict, config: dict, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"{name}-{config['key']}.log", "w")  # noqa: SIM115 (closed in stop)
        self.workers = config["workers"]
        args = [GUNICORN, "--config", GUNICORN_CONF, "-b", f"127.0.0.1:{self.port}", *config["args"], app]
        self.process = subprocess.Popen(  # noqa: S603
            args,
            cwd=cwd,
            # At info, gunicorn notes each worker it boots: the count of restarts comes from there.
            env=env | config["env"] | {"GUNICORN_LOG_LEVEL": "info"},
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,
        )

    def log_tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def wait_until_up(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited:\n{self.log_tail()}")
            try:
                urllib.request.urlopen(self.base + path, timeout=2)  # noqa: S310 (127.0.0.1 only)
                return
            except urllib.error.HTTPError:
                return  # it answers (401 without a token)
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.name}: gunicorn did not answer within 60 s")

    def stop(self) -> dict:
        """Stop the server; returns the worker class it used and how many workers it recycled."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()
        text = Path(self.log.name).read_text(errors="replace")
        worker = re.search(r"Using worker: (\w+)", text)
        return {
            "worker_class": worker.group(1) if worker else "unknown",
            "recycled_workers": max(text.count("Booting worker with pid") - self.workers, 0),
        }


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    """A redis-server of the benchmark's own, for the broker: the creates' messages stay out of shared ones."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "broker.log"),
        ],
        start_new_session=True,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            return process, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("the benchmark's own redis-server did not start")


def request(base: str, path: str, token: str) -> tuple[int, str]:
    req = urllib.request.Request(base + path, headers={"Authorization": f"Token {token}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 (127.0.0.1 only)
        return response.status, response.headers.get("X-Cache", "")


# --- wrk ---------------------------------------------------------------------------------------

_sequence = 0


def wrk(url: str, mode: str, token: str, seconds: int) -> dict:
    global _sequence
    _sequence += 1
    result = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "/usr/bin/wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "wrk.lua"),
            url,
        ],
        env=os.environ | {"BENCH_TOKEN": token, "BENCH_MODE": mode, "BENCH_SEQUENCE": str(_sequence * 200_000)},
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    stats = json_line(result.stdout)
    return {
        "requests": stats["requests"],
        "seconds": stats["duration_us"] / 1e6,
        "rps": stats["requests"] / (stats["duration_us"] / 1e6),
        "p50_ms": stats["p50_us"] / 1000,
        "p99_ms": stats["p99_us"] / 1000,
        "errors": stats["non_2xx"] + stats["socket_errors"],
    }


def measure_config(config: dict, tokens: dict, envs: dict, log_dir: Path) -> dict:
    """Start both servers with this configuration, warm up, run the interleaved rounds, stop them."""
    service = Server("service", "fido.wsgi:application", ROOT, envs["service"], config, log_dir)
    floor = Server("floor", "floor.wsgi:application", FLOOR, envs["floor"], config, log_dir)
    try:
        service.wait_until_up("/healthz")
        floor.wait_until_up("/ping/")
        floor_url = floor.base + FLOOR_SCENARIO[2]
        checks = {"floor": request(floor.base, FLOOR_SCENARIO[2], tokens["floor"])[0]}
        for key, _label, path, mode, scope in SCENARIOS:
            if mode == "get":
                request(service.base, path, tokens[scope])
                status, cache_state = request(service.base, path, tokens[scope])
                checks[key] = f"{status} X-Cache {cache_state or '-'}"
                if cache_state and cache_state != "HIT":
                    raise RuntimeError(f"{key}: the second request is not a cache hit ({cache_state})")
        log(f"{config['key']}: servers up, warm-up ({checks})")
        wrk(floor_url, "get", tokens["floor"], 1)
        for _key, _label, path, mode, scope in SCENARIOS:
            wrk(service.base + path, mode, tokens[scope], 1)
        rounds = []
        for number in range(ROUNDS):
            # Rotate the order, so that no scenario always follows the same one.
            order = SCENARIOS[number % len(SCENARIOS) :] + SCENARIOS[: number % len(SCENARIOS)]
            slots = {"floor": wrk(floor_url, "get", tokens["floor"], SECONDS)}
            for key, _label, path, mode, scope in order:
                slots[key] = wrk(service.base + path, mode, tokens[scope], SECONDS)
                slots[f"floor_after_{key}"] = wrk(floor_url, "get", tokens["floor"], SECONDS)
            rounds.append(slots)
            # The floor slot before each scenario: the previous scenario's "after" (or the first one).
            summary = ", ".join(f"{key} {slots[key]['rps']:.0f}" for key, *_ in order)
            log(f"{config['key']} round {number + 1}/{ROUNDS}: floor {slots['floor']['rps']:.0f} req/s; {summary}")
        for key, _label, path, mode, scope in SCENARIOS:
            if mode == "get":
                checks[f"{key}_after"] = request(service.base, path, tokens[scope])[1] or "-"
    finally:
        servers = {"service": service.stop(), "floor": floor.stop()}
    for name, server in servers.items():
        if server["worker_class"] != config["key"]:
            raise RuntimeError(f"{name} ran {server['worker_class']} workers, not {config['key']}")
    result = summarize(rounds, config, checks)
    result["load_after"] = load_average()
    result["worker_restarts"] = {name: server["recycled_workers"] for name, server in servers.items()}
    return result


def summarize(rounds: list[dict], config: dict, checks: dict) -> dict:
    scenarios = {}
    floor_slots = []
    for slots in rounds:
        floor_slots += [slot for name, slot in slots.items() if name.startswith("floor")]
    for key, *_ in SCENARIOS:
        per_round = []
        for slots in rounds:
            names = list(slots)
            position = names.index(key)
            before, after = slots[names[position - 1]], slots[names[position + 1]]
            floor_rps = (before["rps"] + after["rps"]) / 2
            per_round.append({**slots[key], "floor_rps": floor_rps, "ratio": slots[key]["rps"] / floor_rps})
        ratios = [slot["ratio"] for slot in per_round]
        scenarios[key] = {
            "rps": sum(s["requests"] for s in per_round) / sum(s["seconds"] for s in per_round),
            "floor_rps": statistics.mean(s["floor_rps"] for s in per_round),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "p50_ms": statistics.median(s["p50_ms"] for s in per_round),
            "p99_ms": statistics.median(s["p99_ms"] for s in per_round),
            "errors": sum(s["errors"] for s in per_round),
            "rounds": per_round,
        }
    floor = {
        "rps": sum(s["requests"] for s in floor_slots) / sum(s["seconds"] for s in floor_slots),
        "rps_min": min(s["rps"] for s in floor_slots),
        "rps_max": max(s["rps"] for s in floor_slots),
        "p50_ms": statistics.median(s["p50_ms"] for s in floor_slots),
        "p99_ms": statistics.median(s["p99_ms"] for s in floor_slots),
        "errors": sum(s["errors"] for s in floor_slots),
        "slots": len(floor_slots),
    }
    heavy, light = scenarios["analytics_heavy"], scenarios["analytics_light"]
    return {
        "label": config["label"],
        "floor": floor,
        "scenarios": scenarios,
        "heavy_light_p50": heavy["p50_ms"] / light["p50_ms"],
        "checks": checks,
    }


# --- Targets and results ------------------------------------------------------------------------


def verdicts(configs: dict, processing: dict) -> list[dict]:
    rows = []
    for config_key, result in configs.items():
        for key, target in RATIO_TARGETS.items():
            value = result["scenarios"][key]["ratio"]
            rows.append(
                {
                    "config": config_key,
                    "target": f"{LABELS[key]} >= {target}x floor",
                    "value": f"{value:.2f}x",
                    "pass": value >= target and result["scenarios"][key]["errors"] == 0,
                }
            )
        value = result["heavy_light_p50"]
        rows.append(
            {
                "config": config_key,
                "target": f"uncached analytics p50, 500,000 rows / 100 rows <= {HEAVY_LIGHT_MAX:g}",
                "value": f"{value:.2f}",
                "pass": value <= HEAVY_LIGHT_MAX,
            }
        )
    gthread = configs["gthread"]["scenarios"]["analytics_cached"]["rps"]
    rows.append(
        {
            "config": "gthread",
            "target": f"cached analytics, keep-alive: ahead of {REFERENCE_RPS:,} req/s (reference, machine-dependent)",
            "value": f"{gthread:,.0f} req/s",
            "pass": gthread > REFERENCE_RPS,
        }
    )
    rows.append(
        {
            "config": "in-process",
            "target": f"processing one event, user with {PROCESS_USER_ROWS:,} rows <= {PROCESS_MAX_MS:g} ms",
            "value": f"{processing['median_ms']:.1f} ms",
            "pass": processing["median_ms"] <= PROCESS_MAX_MS,
        }
    )
    return rows


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"# make bench, {env['date']}",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores, Python {env['python']}; load average before "
        f"{env['load_before']}, after {env['load_after']}. Full run {report['seconds']:.0f} s.",
        "",
    ]
    for config_key, result in report["configs"].items():
        floor = result["floor"]
        lines += [
            f"## {config_key}: {result['label']}",
            "",
            f"Load average at the end of these rounds: {result['load_after']}. Workers recycled (max_requests) "
            f"during them: service {result['worker_restarts']['service']}, floor {result['worker_restarts']['floor']}.",
            "",
            f"Floor: {floor['rps']:,.0f} req/s over {floor['slots']} slots (from {floor['rps_min']:,.0f} to "
            f"{floor['rps_max']:,.0f}), p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms, "
            f"{floor['errors']} errors.",
            "",
            "| scenario | req/s | floor req/s | ratio (rounds: min-max) | p50 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key, label, *_ in SCENARIOS:
            row = result["scenarios"][key]
            lines.append(
                f"| {label} | {row['rps']:,.0f} | {row['floor_rps']:,.0f} | **{row['ratio']:.2f}x** "
                f"({row['ratio_min']:.2f}-{row['ratio_max']:.2f}) | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
                f"| {row['errors']} |"
            )
        lines += ["", f"Uncached analytics p50, 500,000-row user / 100-row user: {result['heavy_light_p50']:.2f}.", ""]
    processing = report["processing"]
    lines += [
        "## Processing one outbox event",
        "",
        f"`{processing['task']}` applied in-process to the events of creates for a user with "
        f"{processing['user_rows']:,} rows: median **{processing['median_ms']:.1f} ms** "
        f"(runs: {', '.join(f'{value:.0f}' for value in processing['runs_ms'])} ms).",
        "",
        "## Targets",
        "",
        "| configuration | target | measured | verdict |",
        "|---|---|---:|---|",
    ]
    for row in report["targets"]:
        lines.append(f"| {row['config']} | {row['target']} | {row['value']} | {'PASS' if row['pass'] else 'FAIL'} |")
    counts = report["counts"]
    lines += [
        "",
        "## Per request, in-process (Django's handler, the service's full stack)",
        "",
        "| request | SQL statements | PostgreSQL round trips | Redis cache commands (round trips) "
        "| broker commands | ms (CPU ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, row in counts.items():
        if key.startswith("profile"):
            continue
        statements = row["django_queries"] - row["django_queries_by_verb"].get("BEGIN", 0)
        statements -= row["django_queries_by_verb"].get("COMMIT", 0)
        commands = ", ".join(f"{name} {n:g}" for name, n in row["redis_cache_commands_by_name"].items())
        broker = ", ".join(f"{name} {n:g}" for name, n in row["redis_broker_commands_by_name"].items()) or "-"
        lines.append(
            f"| {LABELS.get(key, key)} | {statements:g} | {row['sql_round_trips']:g} | "
            f"{row['redis_cache_commands']:g}: {commands} ({row['redis_cache_round_trips']:g}) | {broker} | "
            f"{row['ms_median']:.2f} ({row['cpu_ms_median']:.2f}) |"
        )
    lines += [
        "",
        "PostgreSQL round trips: the statements, the connection health check (`SELECT 1`, once per request "
        "with CONN_HEALTH_CHECKS), and BEGIN and COMMIT of each transaction.",
    ]
    profile = counts.get("profile_analytics_cached")
    if profile:
        parts = ", ".join(f"{label} {share:g}%" for label, share in profile["percent"].items())
        lines += [
            "",
            f"Where a cached analytics hit spends its time (cProfile, {profile['requests']} hits, "
            f"bench/results/profile_analytics_cached.txt): {parts}.",
        ]
    seed = report["seed"]
    lines += [
        "",
        "## Setup",
        "",
        f"Seeding: {seed['rows']:,} transactions in {seed['seconds']} s (insert), `rebuild_analytics` "
        f"{seed['rebuild_seconds']} s. wrk {CONNECTIONS} connections, 2 threads; {ROUNDS} rounds per "
        f"configuration of floor/scenario slots of {SECONDS} s; service and floor on the same gunicorn command, "
        f"PostgreSQL and Redis on 127.0.0.1, everything sharing {env['cores']} cores.",
        "",
    ]
    return "\n".join(lines)


def chart(report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key, *_ in SCENARIOS]
    labels = [LABELS[key] for key in keys]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    height = 0.38
    for offset, (config_key, result) in zip((-height / 2, height / 2), report["configs"].items(), strict=True):
        ax.barh(
            [index + offset for index in range(len(keys))],
            [result["scenarios"][key]["ratio"] for key in keys],
            height=height,
            label=config_key,
        )
    for key, target in RATIO_TARGETS.items():
        index = keys.index(key)
        ax.plot([target, target], [index - 0.45, index + 0.45], color="black", linewidth=1.5)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(keys)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("req/s as a ratio of the independent floor (black marks: targets)")
    ax.legend()
    ax.set_title(f"make bench, {report['environment']['date']}: 1,000,000 transactions")
    fig.tight_layout()
    fig.savefig(RESULTS / "chart.png", dpi=100)
    plt.close(fig)


def print_table(report: dict) -> None:
    print()
    print(
        f"{'scenario':<42}"
        + "".join(f"{key + ' ratio':>15}{'req/s':>9}{'p50':>8}{'p99':>8}" for key in report["configs"])
    )
    for key, label, *_ in [("floor", FLOOR_SCENARIO[1]), *SCENARIOS]:
        line = f"{label[:41]:<42}"
        for result in report["configs"].values():
            row = result["floor"] if key == "floor" else result["scenarios"][key]
            ratio = "1.00" if key == "floor" else f"{row['ratio']:.2f}"
            line += f"{ratio:>15}{row['rps']:>9.0f}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}"
        print(line)
    print()
    for row in report["targets"]:
        print(f"{'PASS' if row['pass'] else 'FAIL'}  [{row['config']}] {row['target']}: {row['value']}")
    print()


# --- The run ------------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def prepare(envs: dict) -> tuple[dict, dict]:
    service, floor = envs["service"], envs["floor"]
    log(f"recreating {DATABASE_URL} and {FLOOR_DATABASE_URL}")
    recreate_database(DATABASE_URL)
    recreate_database(FLOOR_DATABASE_URL)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], service)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], floor, cwd=FLOOR)
    log("seeding 1,000,000 transactions")
    seed = json_line(run([PYTHON, "bench/seed.py"], service))
    started = time.monotonic()
    log(run([PYTHON, "manage.py", "rebuild_analytics"], service).strip())
    seed["rebuild_seconds"] = round(time.monotonic() - started, 1)
    tokens = {
        "read": last_line(run([PYTHON, "manage.py", "create_api_client", "bench-read", "--scope", "read"], service)),
        "write": last_line(run([PYTHON, "manage.py", "create_api_client", "bench-write", "--scope", "write"], service)),
        "floor": last_line(run([PYTHON, "manage.py", "floor_client", "bench-floor"], floor, cwd=FLOOR)),
    }
    return seed, tokens


def in_process(envs: dict, tokens: dict) -> dict:
    log("in-process: statements and round trips per request, profile of a cached analytics hit")
    token_env = {"BENCH_READ_TOKEN": tokens["read"], "BENCH_WRITE_TOKEN": tokens["write"]}
    counts = json_line(
        run(
            [
                PYTHON,
                "bench/inprocess.py",
                "counts",
                "service",
                "--profile",
                str(RESULTS / "profile_analytics_cached.txt"),
            ],
            envs["service"] | token_env,
        )
    )
    floor = json_line(
        run([PYTHON, "bench/inprocess.py", "counts", "floor"], envs["floor"] | {"BENCH_FLOOR_TOKEN": tokens["floor"]})
    )
    return floor | counts


def processing(envs: dict, tokens: dict) -> dict:
    log(f"growing user {HEAVY_USER} to {PROCESS_USER_ROWS:,} rows, then rebuild_analytics")
    grown = json_line(run([PYTHON, "bench/seed.py", "--grow-heavy-to", str(PROCESS_USER_ROWS)], envs["service"]))
    run([PYTHON, "manage.py", "rebuild_analytics"], envs["service"])
    log(f"processing one outbox event of user {HEAVY_USER} ({grown['heavy_rows']:,} rows), {PROCESS_RUNS} runs")
    env = envs["service"] | {"BENCH_WRITE_TOKEN": tokens["write"], "BENCH_PROCESS_RUNS": str(PROCESS_RUNS)}
    return json_line(run([PYTHON, "bench/inprocess.py", "process"], env))


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (make bench installs it: apt-get install -y wrk)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    environment = {
        "date": dt.date.today().isoformat(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load_average(),
    }
    log(f"load average before: {environment['load_before']}")
    workdir = Path(tempfile.mkdtemp(prefix="fido-bench-"))
    broker = None
    broker_url = BROKER_URL
    try:
        if not broker_url:
            broker, broker_url = start_redis(workdir)
        envs = {"service": service_env(broker_url), "floor": floor_env()}
        seed, tokens = prepare(envs)
        configs = {}
        for config in CONFIGS:
            log(f"measuring with {config['label']}")
            configs[config["key"]] = measure_config(config, tokens, envs, workdir)
        counts = in_process(envs, tokens)
        processed = processing(envs, tokens)
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(timeout=10)
        delete_cache_keys(SERVICE_PREFIX)
        delete_cache_keys(FLOOR_PREFIX)
        if not KEEP_DATABASES:
            drop_database(DATABASE_URL)
            drop_database(FLOOR_DATABASE_URL)
        shutil.rmtree(workdir, ignore_errors=True)
    environment["load_after"] = load_average()
    report = {
        "environment": environment,
        "seconds": time.monotonic() - started,
        "settings": {"rounds": ROUNDS, "seconds": SECONDS, "connections": CONNECTIONS, "wrk_threads": 2},
        "seed": seed,
        "configs": configs,
        "counts": counts,
        "processing": processed,
    }
    report["targets"] = verdicts(configs, processed)
    (RESULTS / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "results.md").write_text(markdown(report))
    chart(report)
    print_table(report)
    log(
        f"load average after: {environment['load_after']}; done in {report['seconds']:.0f} s; results in bench/results/"
    )


if __name__ == "__main__":
    main()
