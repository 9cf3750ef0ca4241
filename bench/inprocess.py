"""In-process measurements of `make bench`, run by bench/run.py against the seeded databases.

    python bench/inprocess.py counts service|floor [--profile FILE]
        SQL statements, PostgreSQL round trips, Redis commands and round trips (cache and broker
        apart), and in-process time, per request: cached analytics, cached history page and create
        (service), the floor's view (floor). With --profile, a cProfile breakdown of cached analytics hits.
    python bench/inprocess.py process
        Processing one outbox event for the heavy user: transactions created through the API
        in-process, then the Celery task `analytics.tasks.process_event` applied in-process and timed.

Each prints one line `BENCH_JSON {...}`. Requests go through Django's full handler (middleware,
authentication, throttling, logging) with Django's test client; before each one the database
connections are checked as at the start of a real request, so the connection health check counts.
"""

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY_USER = 1
PROCESS_TASK = "analytics.tasks.process_event"


def setup_django(target: str) -> None:
    if target == "floor":
        sys.path.insert(0, str(ROOT / "bench" / "floor"))
        os.environ["DJANGO_SETTINGS_MODULE"] = "floor.settings"
    else:
        sys.path.insert(0, str(ROOT))
        os.environ["DJANGO_SETTINGS_MODULE"] = "fido.settings"
    import django

    django.setup()


class Wire:
    """Counts what leaves the process: statements and transactions on PostgreSQL; commands and round
    trips per Redis endpoint (host:port/db), as the client sends them (a script's inner calls are not
    commands sent; a pipeline is one round trip)."""

    def __init__(self) -> None:
        import psycopg
        import redis.connection

        self.sql = 0
        self.transactions = 0
        self.redis_commands = Counter()
        self.redis_round_trips = Counter()
        wire = self

        def counted(method, bump):
            def wrapper(self, *args, **kwargs):
                bump(self, args)
                return method(self, *args, **kwargs)

            return wrapper

        def bump_sql(_cursor, _args):
            wire.sql += 1

        def bump_transaction(_connection, _args):
            wire.transactions += 1

        def endpoint(connection) -> str:
            host, port = getattr(connection, "host", "?"), getattr(connection, "port", "?")
            return f"{host}:{port}/{getattr(connection, 'db', 0)}"

        def bump_command(connection, args):
            wire.redis_commands[(endpoint(connection), str(args[0]).upper())] += 1

        def bump_pipeline(connection, args):
            for command in args[0]:
                wire.redis_commands[(endpoint(connection), str(command[0]).upper())] += 1

        def bump_round_trip(connection, _args):
            wire.redis_round_trips[endpoint(connection)] += 1

        psycopg.Cursor.execute = counted(psycopg.Cursor.execute, bump_sql)
        psycopg.Cursor.executemany = counted(psycopg.Cursor.executemany, bump_sql)
        psycopg.Connection.commit = counted(psycopg.Connection.commit, bump_transaction)
        psycopg.Connection.rollback = counted(psycopg.Connection.rollback, bump_transaction)
        connection_class = redis.connection.AbstractConnection
        connection_class.send_command = counted(connection_class.send_command, bump_command)
        connection_class.pack_commands = counted(connection_class.pack_commands, bump_pipeline)
        connection_class.send_packed_command = counted(connection_class.send_packed_command, bump_round_trip)

    def reset(self) -> None:
        self.sql = 0
        self.transactions = 0
        self.redis_commands.clear()
        self.redis_round_trips.clear()


def redis_endpoint(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}/{int(parts.path.lstrip('/') or 0)}"


def client_for(token: str):
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")


def do_request(client, method: str, path: str, body: dict | None = None):
    from django.db import close_old_connections

    # What Django's WSGI handler does at request_started (the test client skips it): it re-arms the
    # connection health check, which then costs one round trip at the request's first query.
    close_old_connections()
    if method == "POST":
        return client.post(path, data=json.dumps(body), content_type="application/json")
    return client.get(path)


def create_body(number: int, user_id: int) -> dict:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, minutes=number)
    return {
        "user_id": user_id,
        "full_name": f"Bench User {user_id}",
        "transaction_date": moment.isoformat().replace("+00:00", "Z"),
        "transaction_amount": f"{10 + number % 90}.25",
        "transaction_type": "credit" if number % 2 else "debit",
    }


def measure(wire: Wire, client, method: str, path: str, *, requests: int) -> dict:
    """Per-request counts and timings of `requests` requests (after two warm-up requests)."""
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def body(number):
        return create_body(number, 300_000 + number) if method == "POST" else None

    for number in range(2):
        response = do_request(client, method, path, body(number))
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.content[:300]!r}")
    wire.reset()
    statements = Counter()
    elapsed = []
    cpu = []
    cache_states = Counter()
    for number in range(2, requests + 2):
        with CaptureQueriesContext(connection) as queries:
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            response = do_request(client, method, path, body(number))
            elapsed.append(time.perf_counter() - wall_start)
            cpu.append(time.process_time() - cpu_start)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code}")
        cache_states[response.headers.get("X-Cache", "-")] += 1
        for query in queries.captured_queries:
            statements[query["sql"].split()[0].upper()] += 1
    cache = redis_endpoint(settings.CACHES["default"]["LOCATION"])

    def per_request(counter: Counter) -> dict:
        return {name: round(count / requests, 2) for name, count in sorted(counter.items())}

    cache_commands = Counter({name: n for (where, name), n in wire.redis_commands.items() if where == cache})
    other_commands = Counter({name: n for (where, name), n in wire.redis_commands.items() if where != cache})
    cache_round_trips = wire.redis_round_trips[cache]
    return {
        "requests": requests,
        "x_cache": dict(cache_states),
        # Django's own count (CaptureQueriesContext), which on PostgreSQL lists BEGIN and COMMIT too.
        "django_queries": round(sum(statements.values()) / requests, 2),
        "django_queries_by_verb": per_request(statements),
        # Every execute on a psycopg cursor (Django's statements plus the connection health check),
        # plus BEGIN and COMMIT (or ROLLBACK) of each transaction.
        "sql_round_trips": round((wire.sql + 2 * wire.transactions) / requests, 2),
        "sql_transactions": round(wire.transactions / requests, 2),
        "redis_cache_commands": round(sum(cache_commands.values()) / requests, 2),
        "redis_cache_commands_by_name": per_request(cache_commands),
        "redis_cache_round_trips": round(cache_round_trips / requests, 2),
        # The Celery broker (a publish), when it is Redis.
        "redis_broker_commands": round(sum(other_commands.values()) / requests, 2),
        "redis_broker_commands_by_name": per_request(other_commands),
        "redis_broker_round_trips": round((sum(wire.redis_round_trips.values()) - cache_round_trips) / requests, 2),
        "ms_median": round(statistics.median(elapsed) * 1000, 2),
        "cpu_ms_median": round(statistics.median(cpu) * 1000, 2),
    }


# Where a cached analytics hit spends its time: (label, file suffix, function name), cumulative.
PROFILE_PARTS = [
    ("token authentication", "rest_framework/request.py", "_authenticate"),
    ("permission check", "rest_framework/views.py", "check_permissions"),
    ("throttling", "rest_framework/views.py", "check_throttles"),
    ("content negotiation", "rest_framework/views.py", "perform_content_negotiation"),
    ("view handler (the cache read and its checks)", "views.py", "get"),
    ("response rendering", "rest_framework/response.py", "rendered_content"),
    ("DRF dispatch in total", "rest_framework/views.py", "dispatch"),
]


def profile(client, path: str, requests: int, out: Path) -> dict:
    """cProfile `requests` cached hits; the share of the time of each part of the request, and a top list."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        do_request(client, "GET", path)
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    shares = {}
    for label, file_suffix, function in PROFILE_PARTS:
        cumulative = 0.0
        for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
            if name != function:
                continue
            if not filename.endswith(file_suffix):
                continue
            if file_suffix == "views.py" and "/site-packages/" in filename:
                continue  # the service's own view handlers only
            cumulative += ct
        shares[label] = round(100 * cumulative / total, 1)
    shares["outside DRF (middleware, Django's handler, test client)"] = round(100 - shares["DRF dispatch in total"], 1)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(45)
    report = text.getvalue()
    # Paths relative to the checkout and to site-packages, as they would read in any checkout.
    for directory in sys.path:
        if directory.endswith("site-packages"):
            report = report.replace(directory + "/", "")
    report = report.replace(str(ROOT) + "/", "")
    out.write_text(
        f"cProfile of {requests} cached hits of GET {path} in-process ({total / requests * 1000:.2f} ms each"
        " under the profiler)\n\n" + report
    )
    return {"requests": requests, "ms_per_request_profiled": round(total / requests * 1000, 2), "percent": shares}


def counts(target: str, profile_file: str | None) -> dict:
    wire = Wire()
    setup_django(target)
    requests = int(os.environ.get("BENCH_COUNT_REQUESTS", "200"))
    if target == "floor":
        return {"floor": measure(wire, client_for(os.environ["BENCH_FLOOR_TOKEN"]), "GET", "/ping/", requests=requests)}
    reader = client_for(os.environ["BENCH_READ_TOKEN"])
    writer = client_for(os.environ["BENCH_WRITE_TOKEN"])
    analytics = f"/api/v1/users/{HEAVY_USER}/analytics/"
    history = f"/api/v1/users/{HEAVY_USER}/transactions/"
    result = {
        "analytics_cached": measure(wire, reader, "GET", analytics, requests=requests),
        "history_cached": measure(wire, reader, "GET", history, requests=requests),
        "create": measure(wire, writer, "POST", "/api/v1/transactions/", requests=max(requests // 4, 20)),
    }
    if profile_file:
        result["profile_analytics_cached"] = profile(reader, analytics, requests, Path(profile_file))
    return result


def process_events() -> dict:
    """Median time of the Celery task applied in-process to events of the heavy user's creates."""
    setup_django("service")
    from django.apps import apps
    from django.db.models import Max
    from django.utils.module_loading import autodiscover_modules

    from fido import celery_app

    autodiscover_modules("tasks")
    task = celery_app.tasks[PROCESS_TASK]
    event_model = next(model for model in apps.get_models() if model.__name__ == "OutboxEvent")
    transaction_model = apps.get_model("transactions", "Transaction")
    writer = client_for(os.environ["BENCH_WRITE_TOKEN"])
    runs = int(os.environ.get("BENCH_PROCESS_RUNS", "7"))
    timings = []
    for number in range(runs + 1):  # the first run warms up the process
        before = event_model.objects.aggregate(last=Max("pk"))["last"] or 0
        response = do_request(writer, "POST", "/api/v1/transactions/", create_body(number, HEAVY_USER))
        if response.status_code != 201:
            raise RuntimeError(f"create for the heavy user: {response.status_code} {response.content[:300]!r}")
        event_ids = list(event_model.objects.filter(pk__gt=before).values_list("pk", flat=True))
        if len(event_ids) != 1:
            raise RuntimeError(f"expected one outbox event for the create, found {len(event_ids)}")
        pending = getattr(event_model.objects.get(pk=event_ids[0]), "status", None)
        started = time.perf_counter()
        outcome = task.apply(args=[event_ids[0]])
        elapsed = time.perf_counter() - started
        status = getattr(event_model.objects.get(pk=event_ids[0]), "status", None)
        # The task records failures on the event instead of raising: a processed event changed state.
        if not outcome.successful() or (status == pending and status is not None):
            raise RuntimeError(f"event {event_ids[0]} not processed: {outcome.state}, status {status}")
        if number:
            timings.append(elapsed * 1000)
    return {
        "task": PROCESS_TASK,
        "user_rows": transaction_model.objects.filter(user_id=HEAVY_USER).count(),
        "runs_ms": [round(value, 1) for value in timings],
        "median_ms": round(statistics.median(timings), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    count_parser = commands.add_parser("counts")
    count_parser.add_argument("target", choices=["service", "floor"])
    count_parser.add_argument("--profile", help="write a cProfile report of cached analytics hits to this file")
    commands.add_parser("process")
    options = parser.parse_args()
    result = counts(options.target, options.profile) if options.command == "counts" else process_events()
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
