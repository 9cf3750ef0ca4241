"""Seed the benchmark database: 1,000,000 transactions in SQL, then the analytics figures in SQL.

User 1 holds 500,000 transactions, user 2 exactly 100, users 3..10001 the other 499,900 (about 50
each): 10,000 users besides the heavy one. Dates spread over the last 365 days. Names are real
Fernet tokens under the configured key (one per user, encrypted once) with their keyed hash.
Prints one JSON line: seconds taken, this process's peak memory, the clients' tokens.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fido.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402

from analytics import figures, overview  # noqa: E402
from transactions.clients import api_client_create  # noqa: E402
from transactions.fields import encrypt_str, name_hash  # noqa: E402
from transactions.models import Transaction  # noqa: E402

TOTAL = 1_000_000
HEAVY_ROWS = 500_000
LIGHT_ROWS = 100
OTHER_USERS = 9_999


def main() -> None:
    started = time.monotonic()
    users = [(user_id, f"Bench User {user_id}") for user_id in range(1, OTHER_USERS + 3)]
    table = connection.ops.quote_name(Transaction._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_users (user_id bigint PRIMARY KEY, token text, hash text)")
        with cursor.copy("COPY bench_users (user_id, token, hash) FROM STDIN") as copy:
            for user_id, name in users:
                copy.write_row((user_id, encrypt_str(name), name_hash(name)))
        cursor.execute(
            f"""
            INSERT INTO {table} (user_id, full_name, full_name_hash, transaction_date, transaction_amount,
                                 transaction_type, created_at, updated_at)
            SELECT u.user_id, u.token, u.hash,
                   now() - interval '1 hour' - random() * interval '365 days',
                   round((1 + random() * 999)::numeric, 2),
                   CASE WHEN random() < 0.6 THEN 'credit' ELSE 'debit' END,
                   now(), now()
            FROM generate_series(1, %s) AS g
            JOIN bench_users u ON u.user_id = CASE
                WHEN g <= %s THEN 1
                WHEN g <= %s THEN 2
                ELSE 3 + (g %% %s) END
            """,  # noqa: S608
            [TOTAL, HEAVY_ROWS, HEAVY_ROWS + LIGHT_ROWS, OTHER_USERS],
        )
        inserted = time.monotonic()
        user_days = figures.rebuild_user_figures()
        days = overview.rebuild()
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("ANALYZE")
    read = api_client_create(name="bench-read", scope="read").key
    write = api_client_create(name="bench-write", scope="write").key
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "BENCH_JSON "
        + json.dumps(
            {
                "rows": Transaction.objects.count(),
                "users": len(users),
                "user_days": user_days,
                "days": days,
                "insert_seconds": round(inserted - started, 1),
                "seconds": round(time.monotonic() - started, 1),
                "peak_mb": round(peak_mb, 1),
                "read_token": read,
                "write_token": write,
            }
        )
    )


if __name__ == "__main__":
    main()
