"""Seed the benchmark database with raw transactions in SQL (`python bench/seed.py [--grow-heavy-to N]`).

Without arguments: 1,000,000 transactions. User 1 holds 500,000, user 2 exactly 100, users 3..10001
the other 499,900 (about 50 each). With ``--grow-heavy-to N``: add rows to user 1 until it holds N.
Dates spread over the last 365 days. Names are real Fernet tokens under the configured key (one per
user, encrypted once) with their keyed hash.

Only raw rows are written: the derived analytics tables are the job of `manage.py rebuild_analytics`,
which the benchmark runs next, so this script follows the service's public commands, not its internals.
Prints one JSON line: rows, seconds taken, this process's peak memory.
"""

import argparse
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

from transactions.fields import encrypt_str, name_hash  # noqa: E402
from transactions.models import Transaction  # noqa: E402

TOTAL = 1_000_000
HEAVY_USER = 1
HEAVY_ROWS = 500_000
LIGHT_ROWS = 100
OTHER_USERS = 9_999

INSERT = """
    INSERT INTO {table} (user_id, full_name, full_name_hash, transaction_date, transaction_amount,
                         transaction_type, created_at, updated_at)
    SELECT u.user_id, u.token, u.hash,
           now() - interval '1 hour' - random() * interval '365 days',
           round((1 + random() * 999)::numeric, 2),
           CASE WHEN random() < 0.6 THEN 'credit' ELSE 'debit' END,
           now(), now()
    FROM generate_series(1, %s) AS g
    JOIN bench_users u ON u.user_id = {user_of_g}
"""


def load_names(cursor, user_ids: list[int]) -> None:
    """A temporary table of each user's encrypted name and name hash, for the INSERT ... SELECT."""
    cursor.execute("CREATE TEMP TABLE bench_users (user_id bigint PRIMARY KEY, token text, hash text)")
    with cursor.copy("COPY bench_users (user_id, token, hash) FROM STDIN") as copy:
        for user_id in user_ids:
            name = f"Bench User {user_id}"
            copy.write_row((user_id, encrypt_str(name), name_hash(name)))


def seed(cursor, table: str) -> int:
    load_names(cursor, list(range(1, OTHER_USERS + 3)))
    user_of_g = "CASE WHEN g <= %s THEN 1 WHEN g <= %s THEN 2 ELSE 3 + (g %% %s) END"
    bounds = [TOTAL, HEAVY_ROWS, HEAVY_ROWS + LIGHT_ROWS, OTHER_USERS]
    cursor.execute(INSERT.format(table=table, user_of_g=user_of_g), bounds)
    return TOTAL


def grow_heavy(cursor, table: str, target: int) -> int:
    cursor.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s", [HEAVY_USER])  # noqa: S608
    missing = target - cursor.fetchone()[0]
    if missing <= 0:
        return 0
    load_names(cursor, [HEAVY_USER])
    cursor.execute(INSERT.format(table=table, user_of_g=str(HEAVY_USER)), [missing])
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grow-heavy-to", type=int, help="add rows to user 1 until it holds this many")
    options = parser.parse_args()
    started = time.monotonic()
    table = connection.ops.quote_name(Transaction._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        target = options.grow_heavy_to
        inserted = grow_heavy(cursor, table, target) if target else seed(cursor, table)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "BENCH_JSON "
        + json.dumps(
            {
                "inserted": inserted,
                "rows": Transaction.objects.count(),
                "heavy_rows": Transaction.objects.filter(user_id=HEAVY_USER).count(),
                "seconds": round(time.monotonic() - started, 1),
                "peak_mb": round(peak_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
