"""The retention purge and the /metrics queries on 1,000,000 rows (PostgreSQL): the figures of docs/metrics.md.

    .venv/bin/python scripts/retention_bench.py [--rows 1000000] [--server postgres://postgres@127.0.0.1:5432]

Creates a database of its own on the server (dropped at the end), migrates it, and fills it with SQL:
`rows` outbox events (70 % done and past OUTBOX_RETENTION_DAYS, 28.9 % done and recent, 1 % pending,
0.1 % failed), `rows` idempotency records (half past their 24 hours) and `rows` alerts (delivered, 1 % pending
and failing). Then prints the query plans, the time of the /metrics database queries (median of 5), and
the time of a purge until done, with the slowest single statement (no statement holds locks for long), and of
the purge run that follows (nothing left: what every later run costs). Not part of the test suite.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    name = f"fido_retention_bench_{os.getpid()}"
    os.environ.update(
        ENV_FILE="", DEBUG="1", DATABASE_URL=f"{args.server}/{name}", DJANGO_SETTINGS_MODULE="fido.settings"
    )
    for variable in ("REDIS_URL", "CELERY_BROKER_URL", "DATABASE_REPLICA_URLS"):
        os.environ.pop(variable, None)
    sys.path.insert(0, str(BASE_DIR))

    import psycopg

    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        return run(args.rows)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def run(rows: int) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from analytics.models import Alert
    from fido import service_metrics
    from transactions import retention
    from transactions.models import IdempotencyRecord, OutboxEvent

    call_command("migrate", verbosity=0)
    client = get_user_model().objects.create(username="bench-client")
    retention_days = settings.OUTBOX_RETENTION_DAYS
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO transactions_outboxevent
                (kind, transaction_id, user_id, status, attempts, last_error, created_at)
            SELECT 'created', n, n %% 50000 + 1,
                   CASE WHEN n %% 100 = 0 THEN 'pending' WHEN n %% 1000 = 1 THEN 'failed' ELSE 'done' END, 0, '',
                   now() - make_interval(days => %s + 1) * (1.0 - n::float / %s) * 3
            FROM generate_series(1, %s) AS n
            """,
            [retention_days, rows, rows],
        )
        cursor.execute(
            """
            INSERT INTO transactions_idempotencyrecord
                (client_id, key, request_fingerprint, state, owner_token, locked_until, response_location, created_at)
            SELECT %s, 'key-' || n, md5(n::text), 'completed', '', now(), '',
                   now() - make_interval(hours => 48) * (1.0 - n::float / %s)
            FROM generate_series(1, %s) AS n
            """,
            [client.pk, rows, rows],
        )
        cursor.execute(
            """
            INSERT INTO analytics_alert (rule, user_id, transaction_id, transaction_amount, created_at, acknowledged,
                delivery_id, delivery_status, delivery_attempts, delivery_last_error)
            SELECT 'large_amount', n %% 50000 + 1, n, 25000, now(), false, gen_random_uuid(),
                   CASE WHEN n %% 100 = 0 THEN 'pending' ELSE 'delivered' END,
                   CASE WHEN n %% 100 = 0 THEN 2 ELSE 1 END, ''
            FROM generate_series(1, %s) AS n
            """,
            [rows],
        )
    connection.cursor().execute("VACUUM ANALYZE")
    print(f"filled {rows:,} outbox events, idempotency records and alerts in {time.perf_counter() - started:.1f} s")
    now = timezone.now()
    expected_events = retention.expired_outbox_events(now=now).count()
    expected_records = retention.expired_idempotency_records(now=now).count()
    print(f"expired: {expected_events:,} done outbox events, {expected_records:,} idempotency records")

    print("\n== query plans")
    oldest = OutboxEvent.objects.order_by("created_at").values_list("created_at", flat=True)
    for label, queryset in {
        "purge: done events past retention": retention.expired_outbox_events(now=now)
        .order_by("created_at")
        .values_list("pk")[: settings.RETENTION_BATCH_SIZE],
        "purge: expired idempotency records": retention.expired_idempotency_records(now=now)
        .order_by("created_at")
        .values_list("pk")[: settings.RETENTION_BATCH_SIZE],
        "metrics: oldest pending event": oldest.filter(status=OutboxEvent.Status.PENDING)[:1],
        "metrics: oldest idempotency record": IdempotencyRecord.objects.order_by("created_at").values("created_at")[:1],
        "metrics: the latest alerts' pushes": Alert.objects.filter(
            pk__in=Alert.objects.order_by("-pk").values("pk")[: service_metrics.RECENT_ALERTS]
        )
        .values_list("delivery_status")
        .annotate(count=Count("*"))
        .order_by(),
    }.items():
        print(f"-- {label}\n{queryset.explain(analyze=True)}")

    print("\n== /metrics database queries (median of 5)")
    for label, collect in (
        ("outbox and retention", service_metrics.outbox_metrics),
        ("webhook pushes", service_metrics.webhook_metrics),
    ):
        seconds = statistics.median(timed(lambda collect=collect: list(collect())) for _ in range(5))
        print(f"{label}: {seconds * 1000:.1f} ms")

    print("\n== purge until done")
    statements: list[float] = []

    def time_statement(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(time.perf_counter() - began)

    with connection.execute_wrapper(time_statement):
        purged = retention.purge(now=now, seconds=float("inf"))
    if (purged.outbox_events, purged.idempotency_records) != (expected_events, expected_records):
        print(f"FAIL: the purge deleted {purged}, expected {expected_events:,} events and {expected_records:,} records")
        return 1
    deleted = purged.outbox_events + purged.idempotency_records
    print(
        f"deleted {purged.idempotency_records:,} idempotency records and {purged.outbox_events:,} done outbox events "
        f"in {purged.seconds:.1f} s ({deleted / purged.seconds:,.0f} rows/s), "
        f"batches of {settings.RETENTION_BATCH_SIZE:,}: {len(statements):,} statements, "
        f"slowest {max(statements) * 1000:.0f} ms, median {statistics.median(statements) * 1000:.1f} ms"
    )
    again = retention.purge(seconds=float("inf"))
    print(f"the next run (nothing left): {again.seconds * 1000:.0f} ms")
    left = OutboxEvent.objects.count(), IdempotencyRecord.objects.count()
    print(f"left: {left[0]:,} outbox events, {left[1]:,} idempotency records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
