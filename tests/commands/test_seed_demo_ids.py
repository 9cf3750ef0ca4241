"""`seed_demo` finds ids for its users whatever ids are in use: above the highest when there is room, else the
lowest free ones (a transaction for user 2^63-1 used to stop it with "Not enough user ids left")."""

import datetime as dt
from decimal import Decimal

import pytest

from analytics.selectors import user_analytics
from transactions.demo import UserIds
from transactions.models import Transaction
from transactions.rules import MAX_USER_ID
from transactions.services import transaction_create

pytestmark = pytest.mark.django_db


def existing(user_id: int) -> None:
    transaction_create(
        user_id=user_id,
        full_name="Kofi Boateng",
        transaction_date=dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC),
        transaction_amount=Decimal("10.00"),
        transaction_type="credit",
    )


def seeded_users(before: set[int]) -> list[int]:
    return sorted(set(Transaction.objects.values_list("user_id", flat=True)) - before)


def test_a_transaction_of_the_largest_user_id_leaves_the_lowest_ids_to_seed(run):
    existing(MAX_USER_ID)

    out = run("seed_demo", users=3, transactions=30, seed=2, force=True).stdout

    assert "Seeded 30 transactions for 3 users (ids 1 to 3)" in out
    assert seeded_users({MAX_USER_ID}) == [1, 2, 3]
    assert Transaction.objects.filter(user_id=MAX_USER_ID).count() == 1  # nobody was added to it
    for user_id in (1, 2, 3):
        rows = Transaction.objects.filter(user_id=user_id).count()
        assert user_analytics(user_id=user_id)["transaction_count"] == rows


def test_ids_in_use_below_the_top_are_skipped(run):
    for user_id in (1, 3, 4, MAX_USER_ID - 1):
        existing(user_id)

    out = run("seed_demo", users=4, transactions=20, seed=2, force=True).stdout

    assert "for 4 users (ids 2 to 7, skipping ids in use)" in out
    assert seeded_users({1, 3, 4, MAX_USER_ID - 1}) == [2, 5, 6, 7]
    assert Transaction.objects.filter(user_id__in=[1, 3, 4, MAX_USER_ID - 1]).count() == 4


def test_room_above_the_highest_id_is_still_used_first(run):
    existing(500)

    out = run("seed_demo", users=2, transactions=4, seed=2, force=True).stdout

    assert "(ids 501 to 502)" in out


def test_user_ids_index_across_ranges():
    ids = UserIds([range(2, 3), range(5, 5), range(7, 10)])

    assert len(ids) == 4
    assert [ids[n] for n in range(4)] == [2, 7, 8, 9]
    assert ids[-1] == 9
    with pytest.raises(IndexError):
        ids[4]
