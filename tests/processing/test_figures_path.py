"""Processing reads the per-day figures, not the rows: statistics, credit inputs and the "previous average" of
the alert rule must equal what the raw rows give, across day boundaries of any TIME_ZONE, same-moment
ordering, moves between days and users, and deletes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import alerts, statistics
from analytics.credit import credit_score
from analytics.figures import cents
from analytics.models import Alert, CreditProfile, OverviewChange, ServiceDayFigures, UserDayFigures, UserStatistics
from fido.dates import local_day
from transactions import services
from transactions.models import Transaction

pytestmark = pytest.mark.django_db

# America/St_Johns, 2006-10-29: at 00:01 NDT (02:31 UTC) clocks went back to 23:01 NST on the 28th, so the
# local date runs Sat 23:59 -> Sun 00:00 -> Sat 23:01 ... Sat 23:59 -> Sun 00:00 again.
ST_JOHNS_BACK = dt.datetime(2006, 10, 29, 2, 31, tzinfo=dt.UTC)
ZONES = ["UTC", "America/St_Johns", "Asia/Kolkata", "Pacific/Chatham"]


def raw_previous(txn: Transaction) -> tuple[int, int]:
    """Count and cents of the user's rows before `txn` in history order, from every raw row."""
    earlier = [
        row
        for row in Transaction.objects.filter(user_id=txn.user_id)
        if (row.transaction_date, row.id) < (txn.transaction_date, txn.id)
    ]
    return len(earlier), sum(cents(row.transaction_amount) for row in earlier)


def raw_figures(user_id: int) -> dict | None:
    """A user's lifetime figures from every raw row, as the credit formula takes them."""
    rows = list(Transaction.objects.filter(user_id=user_id))
    if not rows:
        return None
    credit = [row.transaction_amount for row in rows if row.transaction_type == "credit"]
    debit = [row.transaction_amount for row in rows if row.transaction_type == "debit"]
    return {
        "transaction_count": len(rows),
        "credit_count": len(credit),
        "credit_total": sum(credit, Decimal("0.00")),
        "debit_count": len(debit),
        "debit_total": sum(debit, Decimal("0.00")),
        "first_transaction_at": min(row.transaction_date for row in rows),
        "last_transaction_at": max(row.transaction_date for row in rows),
        "active_months": len({local_day(row.transaction_date).replace(day=1) for row in rows}),
    }


def previous_of(txn: Transaction) -> tuple[int, int]:
    return alerts.previous_figures(
        {"id": txn.id, "user_id": txn.user_id, "transaction_date": txn.transaction_date}
        | {"transaction_amount": txn.transaction_amount}
    )


def assert_processing_matches_raw_rows(user_ids) -> None:
    for txn in Transaction.objects.all():
        assert previous_of(txn) == raw_previous(txn), (txn.id, txn.transaction_date)
    statistics.refresh_users(user_ids=user_ids)
    for user_id in user_ids:
        expected = raw_figures(user_id)
        stats = UserStatistics.objects.get(user_id=user_id)
        if expected is None:
            assert (stats.transaction_count, stats.first_transaction_at) == (0, None)
            assert not CreditProfile.objects.filter(user_id=user_id).exists()
            continue
        assert {field: getattr(stats, field) for field in expected if field != "active_months"} == {
            field: value for field, value in expected.items() if field != "active_months"
        }
        score, inputs = credit_score(expected)
        profile = CreditProfile.objects.get(user_id=user_id)
        assert (profile.score, profile.inputs) == (score, inputs)


def create(user_id: int, when: dt.datetime, amount: str = "10.00", kind: str = "credit") -> Transaction:
    return services.transaction_create(
        user_id=user_id,
        full_name="Ama Mensah",
        transaction_date=when,
        transaction_amount=Decimal(amount),
        transaction_type=kind,
    )


fields = st.fixed_dictionaries(
    {
        "user_id": st.integers(1, 3),
        # Around a local midnight in each zone (and the St_Johns repeat), several rows sharing a moment.
        "transaction_date": st.integers(-40, 40).map(lambda step: ST_JOHNS_BACK + dt.timedelta(minutes=step * 15)),
        "transaction_amount": st.integers(1, 100_000).map(lambda amount: Decimal(amount).scaleb(-2)),
        "transaction_type": st.sampled_from(["credit", "debit"]),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), fields),
        st.tuples(st.just("update"), st.integers(0, 30), fields),
        st.tuples(st.just("move"), st.integers(0, 30), st.integers(1, 3)),
        st.tuples(st.just("delete"), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(ZONES), operations)
def test_figures_give_what_the_raw_rows_give_in_any_time_zone(zone, ops):
    for model in (Transaction, UserDayFigures, ServiceDayFigures, OverviewChange, UserStatistics, CreditProfile):
        model.objects.all().delete()
    with override_settings(TIME_ZONE=zone):
        ids: list[int] = []
        for op in ops:
            if op[0] == "create":
                ids.append(services.transaction_create(full_name="Ama", **op[1]).pk)
            elif ids and op[0] == "update":
                services.transaction_update(txn_id=ids[op[1] % len(ids)], **op[2])
            elif ids and op[0] == "move":
                services.transaction_update(txn_id=ids[op[1] % len(ids)], user_id=op[2])
            elif ids and op[0] == "delete":
                services.transaction_delete(txn_id=ids.pop(op[1] % len(ids)))

        assert_processing_matches_raw_rows([1, 2, 3])


@override_settings(TIME_ZONE="America/St_Johns")
def test_the_repeated_hour_of_a_day_is_counted_by_moment_not_by_calendar_day():
    minute = dt.timedelta(minutes=1)
    saturday = create(1, ST_JOHNS_BACK - 60 * minute, "10.00")  # Sat 23:01 NDT
    sunday_minute = create(1, ST_JOHNS_BACK - 30 * dt.timedelta(seconds=1), "20.00")  # Sun 00:00:30 NDT
    repeated = create(1, ST_JOHNS_BACK + 29 * minute, "40.00")  # Sat 23:30 NST, after the Sunday minute
    sunday = create(1, ST_JOHNS_BACK + 90 * minute, "80.00")  # Sun 00:31 NST
    assert [local_day(txn.transaction_date).day for txn in (saturday, sunday_minute, repeated, sunday)] == [
        28,
        29,
        28,
        29,
    ]

    assert previous_of(sunday_minute) == (1, 1000)
    assert previous_of(repeated) == (2, 3000)  # the Sunday minute came before it
    assert previous_of(sunday) == (3, 7000)
    assert_processing_matches_raw_rows([1])


@override_settings(TIME_ZONE="Asia/Kolkata")
def test_a_local_day_boundary_inside_one_utc_day(write_api):
    # 18:20 and 18:40 UTC are 23:50 on the 1st and 00:10 on the 2nd in Kolkata (UTC+05:30).
    write_api.create(transaction_amount="100.00", transaction_date="2026-03-01T18:20:00Z")
    late = write_api.create(transaction_amount="1000.00", transaction_date="2026-03-01T18:40:00Z")
    # Ten times the average of the two before it (550.00) would be 5,500.00.
    early_next = write_api.create(transaction_amount="5499.99", transaction_date="2026-03-01T18:50:00Z")

    assert sorted(UserDayFigures.objects.values_list("day", "credit_count")) == [
        (dt.date(2026, 3, 1), 1),
        (dt.date(2026, 3, 2), 2),
    ]
    assert list(Alert.objects.filter(rule=Alert.Rule.UNUSUAL_AMOUNT).values_list("transaction_id", flat=True)) == [
        late["id"]
    ]
    assert previous_of(Transaction.objects.get(pk=early_next["id"])) == (2, 110000)
    assert_processing_matches_raw_rows([42])


@pytest.mark.parametrize("hour", [1, 23], ids=["early in its day", "late in its day"])
def test_rows_of_the_same_day_and_moment_count_by_history_order(hour):
    day = dt.datetime(2026, 3, 5, hour, tzinfo=dt.UTC)
    create(1, day - dt.timedelta(days=2), "30.00")
    before_it = create(1, day - dt.timedelta(minutes=30), "50.00")
    same_moment_first = create(1, day, "70.00")
    txn = create(1, day, "90.00")
    create(1, day, "11.00")  # same moment, larger id: after it
    create(1, day + dt.timedelta(minutes=30), "13.00")  # later that day
    create(1, day + dt.timedelta(days=1), "17.00")

    assert previous_of(txn) == (3, 3000 + 5000 + 7000)
    assert previous_of(same_moment_first) == (2, 8000)
    assert previous_of(before_it) == (1, 3000)
    assert_processing_matches_raw_rows([1])


@override_settings(TIME_ZONE="Pacific/Chatham")
def test_updates_that_move_a_transaction_across_days_and_users_and_deletes(write_api):
    # Chatham is UTC+13:45 in March: 10:00 UTC is 23:45 local, 10:30 UTC is 00:15 the next day.
    first = write_api.create(user_id=1, transaction_amount="100.00", transaction_date="2026-03-01T10:00:00Z")
    second = write_api.create(user_id=1, transaction_amount="300.00", transaction_date="2026-03-01T10:30:00Z")
    write_api.create(user_id=2, transaction_amount="5.00", transaction_date="2026-03-01T09:00:00Z")
    assert_processing_matches_raw_rows([1, 2])

    write_api.patch(first["id"], transaction_date="2026-03-01T10:20:00Z")  # across local midnight
    assert_processing_matches_raw_rows([1, 2])
    write_api.patch(second["id"], user_id=2, transaction_type="debit")  # to another user
    assert_processing_matches_raw_rows([1, 2])
    unusual = write_api.create(user_id=2, transaction_amount="1020.00", transaction_date="2026-03-02T10:00:00Z")
    # User 2 had 5.00 and 300.00 before it: an average of 152.50, and 1,020.00 is less than ten times that.
    assert not Alert.objects.filter(transaction_id=unusual["id"]).exists()

    write_api.delete(second["id"])
    assert_processing_matches_raw_rows([1, 2])
    write_api.delete(first["id"])
    assert_processing_matches_raw_rows([1, 2])
    assert UserStatistics.objects.get(user_id=1).transaction_count == 0
