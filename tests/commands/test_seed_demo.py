"""`seed_demo`: realistic rows in batches, repeatable with --seed, analytics exact, bad input refused."""

import datetime as dt
import os
import threading
import time
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import CommandError
from django.test import override_settings
from django.utils import timezone

from analytics.selectors import user_analytics
from transactions.demo import FEMALE_NAMES, MALE_NAMES, SURNAMES
from transactions.models import Transaction

from .conftest import manage

pytestmark = pytest.mark.django_db

GIVEN_NAMES = set(MALE_NAMES) | set(FEMALE_NAMES)


def rows(**filters) -> list[tuple]:
    return [
        (txn.user_id, txn.full_name, txn.transaction_date, txn.transaction_amount, txn.transaction_type)
        for txn in Transaction.objects.filter(**filters).order_by("id")
    ]


def test_seeds_realistic_rows_for_every_user(run):
    out = run("seed_demo", users=20, transactions=600, seed=3, force=True).stdout
    assert "Seeded 600 transactions for 20 users (ids 1 to 20)" in out
    seeded = rows()
    assert len(seeded) == 600
    names = defaultdict(set)
    now = timezone.now()
    for user_id, name, date, amount, kind in seeded:
        names[user_id].add(name)
        *given, surname = name.split()
        assert surname in SURNAMES and set(given) <= GIVEN_NAMES
        assert Decimal("1.00") <= amount <= Decimal("250000.00") and amount == amount.quantize(Decimal("0.01"))
        assert now - dt.timedelta(days=366) <= date < now
        assert kind in ("credit", "debit")
    assert sorted(names) == list(range(1, 21))
    assert all(len(user_names) == 1 for user_names in names.values()), "one name per user"
    assert {kind for *_, kind in seeded} == {"credit", "debit"}


def test_analytics_are_exact_when_it_exits(run):
    run("seed_demo", users=4, transactions=300, seed=5, batch_size=64, force=True)
    for user_id in range(1, 5):
        mine = Transaction.objects.filter(user_id=user_id)
        credits = [txn.transaction_amount for txn in mine if txn.transaction_type == "credit"]
        debits = [txn.transaction_amount for txn in mine if txn.transaction_type == "debit"]
        figures = user_analytics(user_id=user_id)
        assert figures["transaction_count"] == len(credits) + len(debits)
        assert figures["credit"] == {"count": len(credits), "total": str(sum(credits, Decimal("0.00")))}
        assert figures["net"] == str(sum(credits, Decimal("0.00")) - sum(debits, Decimal("0.00")))


def test_same_seed_same_rows_other_seed_other_rows(run):
    run("seed_demo", users=5, transactions=80, seed=11, force=True)
    run("seed_demo", users=5, transactions=80, seed=11, force=True)
    run("seed_demo", users=5, transactions=80, seed=12, force=True)

    def relative(batch: list[tuple], first_user_id: int) -> list[tuple]:
        return [(user_id - first_user_id, *rest) for user_id, *rest in batch]

    first = relative(rows(user_id__lte=5), 1)
    second = relative(rows(user_id__gt=5, user_id__lte=10), 6)
    other = relative(rows(user_id__gt=10), 11)
    assert first == second
    assert first != other


def test_if_empty_seeds_only_an_empty_database(run):
    assert "Seeded 10" in run("seed_demo", users=2, transactions=10, if_empty=True, force=True).stdout
    assert "nothing seeded" in run("seed_demo", users=2, transactions=10, if_empty=True, force=True).stdout
    assert Transaction.objects.count() == 10


def test_quiet_when_not_on_a_terminal(run):
    assert run("seed_demo", users=2, transactions=10, force=True).stderr == ""


@override_settings(DEBUG=False)
def test_refuses_with_debug_off_unless_forced(run):
    with pytest.raises(CommandError, match="--force"):
        run("seed_demo", users=1, transactions=1)
    assert not Transaction.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "--users: 0 is out of range"),
        (["--users", "many"], "--users: 'many' is not a whole number"),
        (["--transactions", "-5"], "--transactions: -5 is out of range"),
        (["--users", "10", "--transactions", "5"], r"--transactions \(5\) must be at least --users \(10\)"),
        (["--batch-size", "0"], "--batch-size: 0 is out of range"),
        (["--end-date", "2026-02-30"], "--end-date: '2026-02-30' is not a date"),
        (["--end-date", "2999-01-01"], "--end-date must not be after today"),
        (["--seed", "x"], "--seed: invalid int value"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(run, args, message):
    with pytest.raises(CommandError, match=message):
        run("seed_demo", *args, "--force")
    assert not Transaction.objects.exists()


def test_bad_argument_exits_non_zero_from_the_command_line():
    result = manage("seed_demo", "--users", "0")
    assert result.returncode != 0
    assert "--users: 0 is out of range: use 1 to 10,000,000" in result.stderr


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="measures memory through /proc (Linux)")
def test_seeding_100000_rows_keeps_memory_flat(run, capsys, settings):
    """Peak resident memory while seeding, sampled every 20 ms (tracemalloc would make this 10x slower)."""
    baseline = peak = resident_bytes()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, resident_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        run("seed_demo", users=1000, transactions=100_000, seed=1, force=True)
    finally:
        done.set()
        sampler.join()
    elapsed = time.monotonic() - started
    in_memory_db = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    with capsys.disabled():
        print(
            f"\nseed_demo, 100,000 rows in batches of 5,000: peak resident memory {peak / 2**20:.0f} MiB, "
            f"{(peak - baseline) / 2**20:.0f} MiB above the {baseline / 2**20:.0f} MiB before it"
            f"{' (this includes the in-memory SQLite test database itself)' if in_memory_db else ''}; {elapsed:.1f} s"
        )
    assert Transaction.objects.count() == 100_000
    assert peak - baseline < 400 * 2**20, "memory should stay near one batch, not grow with the row count"


def test_help_explains_the_options():
    result = manage("seed_demo", "--help")
    assert result.returncode == 0
    for words in ("--users", "--transactions", "--seed", "repeatable", "Example: manage.py seed_demo"):
        assert words in result.stdout
