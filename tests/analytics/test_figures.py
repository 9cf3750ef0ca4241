"""The maintained figures always equal a recomputation from raw rows, under any mix and under concurrency."""

import datetime as dt
import threading
from decimal import Decimal
from http import HTTPStatus
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics import selectors, service_figures
from analytics.figures import figures_from_raw_rows
from analytics.models import OverviewChange, ServiceDayFigures, UserDayFigures, UserStatistics
from transactions import services
from transactions.models import Transaction

BASE = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def maintained() -> set[tuple]:
    return {
        (row[0], str(row[1]), *row[2:])
        for row in UserDayFigures.objects.values_list(
            "user_id", "day", "credit_count", "credit_cents", "debit_count", "debit_cents"
        )
    }


def recomputed() -> set[tuple]:
    return {(row[0], str(row[1]), *row[2:]) for row in figures_from_raw_rows()}


def raw_overview() -> dict:
    rows = list(Transaction.objects.values_list("user_id", "transaction_amount", "transaction_type"))
    return {
        "transaction_count": len(rows),
        "user_count": len({user_id for user_id, _, _ in rows}),
        "credit_total": selectors.money(sum((a for _, a, t in rows if t == "credit"), Decimal(0))),
    }


fields = st.fixed_dictionaries(
    {
        "user_id": st.integers(1, 4),
        "transaction_date": st.integers(0, 96).map(lambda hours: BASE + dt.timedelta(hours=hours * 7)),
        "transaction_amount": st.integers(1, 100_000).map(lambda cents: Decimal(cents).scaleb(-2)),
        "transaction_type": st.sampled_from(["credit", "debit"]),
    }
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), fields),
        st.tuples(st.just("update"), st.integers(0, 50), fields),
        st.tuples(st.just("patch_user"), st.integers(0, 50), st.integers(1, 4)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("bulk"), st.lists(fields, min_size=1, max_size=8)),
    ),
    max_size=25,
)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_maintained_figures_equal_a_recomputation(ops):
    # Each example starts from an empty service (a bare delete bypasses the services' bookkeeping).
    for model in (Transaction, UserDayFigures, ServiceDayFigures, OverviewChange):
        model.objects.all().delete()
    ids: list[int] = []
    for op in ops:
        kind = op[0]
        if kind == "create":
            ids.append(services.transaction_create(full_name="Ama", **op[1]).pk)
        elif kind == "bulk":
            ids += [
                facts.id for facts in services.transactions_bulk_create(rows=[{"full_name": "Ama", **f} for f in op[1]])
            ]
        elif ids and kind == "update":
            services.transaction_update(txn_id=ids[op[1] % len(ids)], **op[2])
        elif ids and kind == "patch_user":
            services.transaction_update(txn_id=ids[op[1] % len(ids)], user_id=op[2])
        elif ids and kind == "delete":
            services.transaction_delete(txn_id=ids.pop(op[1] % len(ids)))

    assert maintained() == recomputed()
    assert not any(count == 0 for *_, credit, _, debit, _ in maintained() for count in [credit + debit])
    service_figures.apply_changes()  # as processing the writes' events does
    overview = selectors.overview()
    expected = raw_overview()
    assert (overview["transaction_count"], overview["user_count"], overview["credit"]["total"]) == (
        expected["transaction_count"],
        expected["user_count"],
        expected["credit_total"],
    )


@pytest.mark.django_db
def test_rebuild_analytics_restores_figures_changed_behind_the_api(create, read_client):
    create(transaction_amount="10.00")
    create(user_id=7, transaction_amount="5.00", transaction_type="debit")
    call_command("rebuild_analytics", stdout=StringIO())
    assert UserStatistics.objects.get(user_id=7).debit_total == Decimal("5.00")
    with connection.cursor() as cursor:  # a fix in SQL
        cursor.execute("UPDATE transactions_transaction SET transaction_amount = 6.00 WHERE user_id = 7")
    UserDayFigures.objects.filter(user_id=42).delete()  # and a lost row
    out = StringIO()

    call_command("rebuild_analytics", stdout=out)

    assert "Rebuilt 2 user-day rows" in out.getvalue()
    assert maintained() == recomputed()
    assert read_client.get("/api/v1/users/42/analytics/").json()["credit"]["total"] == "10.00"
    assert read_client.get("/api/v1/users/7/analytics/").json()["debit"]["total"] == "6.00"
    assert read_client.get("/api/v1/analytics/overview/").json()["user_count"] == 2
    stats = UserStatistics.objects.get(user_id=7)
    assert (stats.debit_count, stats.debit_total) == (1, Decimal("6.00"))
    profile = read_client.get("/api/v1/users/7/credit-profile/")
    assert profile.status_code == HTTPStatus.OK
    assert profile.json()["inputs"]["debit_total"] == "6.00"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_for_one_user_and_day_lose_nothing():
    threads_count, per_thread = 8, 15
    errors = []
    start = threading.Barrier(threads_count)

    def write():
        try:
            start.wait()
            for _ in range(per_thread):
                services.transaction_create(
                    user_id=42,
                    full_name="Ama",
                    transaction_date=BASE,
                    transaction_amount=Decimal("1.01"),
                    transaction_type="credit",
                )
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    row = UserDayFigures.objects.get(user_id=42, day=BASE.date())
    assert (row.credit_count, row.credit_cents) == (threads_count * per_thread, threads_count * per_thread * 101)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_and_deletes_stay_exact():
    ids = [
        services.transaction_create(
            user_id=1 + i % 2,
            full_name="Ama",
            transaction_date=BASE,
            transaction_amount=Decimal("2.00"),
            transaction_type="debit",
        ).pk
        for i in range(40)
    ]
    errors = []

    def work(chunk, index):
        try:
            for number, txn_id in enumerate(chunk):
                if (number + index) % 2:
                    services.transaction_delete(txn_id=txn_id)
                else:
                    services.transaction_update(txn_id=txn_id, user_id=3 - (1 + txn_id % 2))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ids[i::4], i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert maintained() == recomputed()
