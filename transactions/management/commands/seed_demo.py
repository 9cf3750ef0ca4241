"""`manage.py seed_demo`: realistic demo transactions, inserted in batches with analytics kept exact."""

import argparse
import datetime as dt
import itertools
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max
from django.utils import timezone
from tqdm import tqdm

from transactions import audit
from transactions.demo import DEFAULT_DAYS, UserIds, demo_rows
from transactions.models import Transaction
from transactions.rules import MAX_USER_ID
from transactions.services import transactions_bulk_create

MAX_USERS = 10_000_000
MAX_TRANSACTIONS = 100_000_000
MAX_BATCH = 50_000
HELP = {
    "users": "How many users to invent (default 200). Each gets one name and at least one transaction.",
    "count": "How many transactions in total, spread unevenly over the users (default 20000).",
    "seed": "Make the data repeatable: the same seed, counts and --end-date give the same rows.",
    "days": f"Spread the dates over this many whole days before --end-date (default {DEFAULT_DAYS}).",
    "end_date": "The day after the last seeded day, YYYY-MM-DD, at most today (the default).",
    "batch_size": "Rows generated and inserted per database transaction (default 5000).",
}


def bounded_int(low: int, high: int):
    """An argparse type: an integer from `low` to `high`, with a message that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: use {low:,} to {high:,}")
        return value

    return parse


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date in the form YYYY-MM-DD") from None


def free_user_ids(count: int) -> UserIds:
    """`count` user ids no transaction uses: after the highest one in use when there is room (one query), else
    the lowest free ones, found by walking the ids in use in order (the user_id index) until enough gaps add up."""
    top = Transaction.objects.aggregate(top=Max("user_id"))["top"] or 0
    if top + count <= MAX_USER_ID:
        return UserIds([range(top + 1, top + count + 1)])
    blocks, needed, next_free = [], count, 1
    in_use = Transaction.objects.order_by("user_id").values_list("user_id", flat=True).distinct()
    for used in itertools.chain(in_use.iterator(chunk_size=10_000), [MAX_USER_ID + 1]):
        if used > next_free:
            taken = min(needed, used - next_free)
            blocks.append(range(next_free, next_free + taken))
            needed -= taken
            if not needed:
                return UserIds(blocks)
        next_free = used + 1
    raise CommandError(f"Only {count - needed:,} user ids are free; ask for fewer --users.")


class Command(BaseCommand):
    help = (
        "Fill the database with made-up but realistic transactions for demos and load tests: Ghanaian "
        "names, cedi amounts of mobile-money size, dates over the last year. Rows are inserted in "
        "batches (memory stays flat however many you ask for) through the same bulk service as every "
        "import, so per-user analytics are exact when the command exits. New users get free ids (above the "
        "highest in use, else the lowest). Example: manage.py seed_demo --users 200 --transactions 20000 --seed 1"
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=bounded_int(1, MAX_USERS), default=200, help=HELP["users"])
        parser.add_argument("--transactions", type=bounded_int(1, MAX_TRANSACTIONS), default=20_000, help=HELP["count"])
        parser.add_argument("--seed", type=int, help=HELP["seed"])
        parser.add_argument("--days", type=bounded_int(1, 36_500), default=DEFAULT_DAYS, help=HELP["days"])
        parser.add_argument("--end-date", type=iso_date, help=HELP["end_date"])
        parser.add_argument("--batch-size", type=bounded_int(1, MAX_BATCH), default=5000, help=HELP["batch_size"])
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds transactions (used by `make run`).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Allow seeding with DEBUG off. Demo rows are indistinguishable from real ones: never in production.",
        )

    def execute(self, *args, **options):
        # Each batch's audit record names this command and one request id for the whole run.
        with audit.command_context("seed_demo"):
            return super().execute(*args, **options)

    def handle(self, *args, **options):
        users, count = options["users"], options["transactions"]
        if count < users:
            raise CommandError(
                f"--transactions ({count}) must be at least --users ({users}): every user gets at least one."
            )
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "DEBUG is off, so this may be a production database; seed_demo writes made-up transactions. "
                "Pass --force if you are sure."
            )
        if options["if_empty"] and Transaction.objects.exists():
            self.stdout.write("The database already holds transactions; nothing seeded (--if-empty).")
            return
        user_ids = free_user_ids(users)
        end_date = options["end_date"] or timezone.localdate()
        if end_date > timezone.localdate():
            raise CommandError("--end-date must not be after today: transactions cannot be in the future.")

        rows = demo_rows(
            user_ids=user_ids,
            transactions=count,
            end_date=end_date,
            days=options["days"],
            seed=options["seed"],
        )
        batch_size = options["batch_size"]
        started = time.monotonic()
        with tqdm(total=count, unit="row", unit_scale=True, disable=not sys.stderr.isatty(), file=sys.stderr) as bar:
            while batch := list(itertools.islice(rows, batch_size)):
                transactions_bulk_create(rows=batch, batch_size=batch_size)
                bar.update(len(batch))
        skipping = ", skipping ids in use" if len(user_ids.ranges) > 1 else ""
        self.stdout.write(
            f"Seeded {count:,} transactions for {users:,} users (ids {user_ids[0]} to {user_ids[-1]}{skipping}) "
            f"in {time.monotonic() - started:.1f} s."
        )
