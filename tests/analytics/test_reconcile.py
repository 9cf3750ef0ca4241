"""The periodic reconciliation: changes made in SQL reach the figures, the cached answers and the overview."""

import datetime as dt
import threading
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.db import connection

from analytics.models import UserDayFigures
from analytics.tasks import reconcile_analytics
from transactions import services
from transactions.models import Transaction

from .test_figures import maintained, recomputed

# Real commits: generations are replaced after the reconciliation has committed, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

ANALYTICS = "/api/v1/users/{}/analytics/"
OVERVIEW = "/api/v1/analytics/overview/"
TABLE = Transaction._meta.db_table


def sql(statement: str, params=()) -> None:
    """A change made behind the API: no service, no signal."""
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=connection.ops.quote_name(TABLE)), params)


def warm(client, user_id: int) -> dict:
    client.get(ANALYTICS.format(user_id))
    response = client.get(ANALYTICS.format(user_id))
    assert response["X-Cache"] == "HIT"
    return response.json()


def test_raw_update_of_an_amount(create, read_client):
    txn = create(transaction_amount="10.00")
    create(transaction_amount="5.00")
    assert warm(read_client, 42)["credit"] == {"count": 2, "total": "15.00"}
    sql("UPDATE {table} SET transaction_amount = %s WHERE id = %s", [Decimal("99.99"), txn["id"]])

    corrected = reconcile_analytics()

    assert corrected == [42]
    assert maintained() == recomputed()
    response = read_client.get(ANALYTICS.format(42))
    assert response["X-Cache"] == "MISS"
    assert response.json()["credit"] == {"count": 2, "total": "104.99"}
    assert read_client.get(OVERVIEW).json()["credit"] == {"count": 2, "total": "104.99"}


def test_raw_insert(create, read_client):
    txn = Transaction.objects.get(pk=create(transaction_amount="10.00")["id"])
    warm(read_client, 42)
    # A copy of the row under a new id, for another day and as a debit.
    sql(
        "INSERT INTO {table} (user_id, full_name, full_name_hash, transaction_date, transaction_amount, "
        "transaction_type, created_at, updated_at) "
        "SELECT user_id, full_name, full_name_hash, %s, %s, %s, created_at, updated_at FROM {table} WHERE id = %s",
        [dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC), Decimal("3.50"), "debit", txn.pk],
    )

    assert reconcile_analytics() == [42]

    assert maintained() == recomputed()
    response = read_client.get(ANALYTICS.format(42))
    assert response["X-Cache"] == "MISS"
    body = response.json()
    assert (body["transaction_count"], body["debit"]) == (2, {"count": 1, "total": "3.50"})
    overview = read_client.get(OVERVIEW).json()
    assert (overview["transaction_count"], overview["debit"]["total"]) == (2, "3.50")


def test_raw_delete(create, read_client):
    create(transaction_amount="10.00")
    other = create(user_id=7, transaction_amount="4.00")
    warm(read_client, 7)
    sql("DELETE FROM {table} WHERE id = %s", [other["id"]])

    assert reconcile_analytics() == [7]

    assert maintained() == recomputed()
    assert not UserDayFigures.objects.filter(user_id=7).exists()  # an emptied row is deleted
    response = read_client.get(ANALYTICS.format(7))
    assert (response.status_code, response["X-Cache"]) == (HTTPStatus.NOT_FOUND, "MISS")
    overview = read_client.get(OVERVIEW).json()
    assert (overview["user_count"], overview["credit"]["total"]) == (1, "10.00")


def test_raw_move_to_another_user_and_day(create, read_client):
    txn = create(transaction_amount="10.00", transaction_date="2026-03-01T10:00:00Z")
    create(user_id=7, transaction_amount="1.00", transaction_date="2026-03-05T10:00:00Z")
    warm(read_client, 42)
    warm(read_client, 7)
    sql(
        "UPDATE {table} SET user_id = %s, transaction_date = %s WHERE id = %s",
        [7, dt.datetime(2026, 3, 9, 10, tzinfo=dt.UTC), txn["id"]],
    )

    assert reconcile_analytics() == [7, 42]

    assert maintained() == recomputed()
    assert read_client.get(ANALYTICS.format(42)).status_code == HTTPStatus.NOT_FOUND
    response = read_client.get(ANALYTICS.format(7))
    assert response["X-Cache"] == "MISS"
    assert response.json()["credit"] == {"count": 2, "total": "11.00"}
    overview = read_client.get(OVERVIEW, {"date_from": "2026-03-09", "date_to": "2026-03-09"}).json()
    assert (overview["user_count"], overview["credit"]["total"]) == (1, "10.00")
    overview = read_client.get(OVERVIEW, {"date_from": "2026-03-01", "date_to": "2026-03-01"}).json()
    assert (overview["user_count"], overview["transaction_count"]) == (0, 0)


def test_nothing_to_correct_bumps_nothing(create, read_client):
    create(transaction_amount="10.00")
    create(user_id=7, transaction_amount="2.00", transaction_type="debit")
    warm(read_client, 42)
    before = maintained()

    assert reconcile_analytics() == []

    assert maintained() == before
    assert read_client.get(ANALYTICS.format(42))["X-Cache"] == "HIT"


@pytest.mark.services
def test_reconciling_while_writing_loses_and_doubles_nothing():
    writers, per_writer = 4, 25
    done = threading.Event()
    errors: list[Exception] = []
    runs = []

    def write(index):
        try:
            for number in range(per_writer):
                services.transaction_create(
                    user_id=1 + (index + number) % 3,
                    full_name="Ama",
                    transaction_date=dt.datetime(2026, 3, 1 + number % 2, 12, tzinfo=dt.UTC),
                    transaction_amount=Decimal("1.01"),
                    transaction_type="credit" if number % 3 else "debit",
                )
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    def reconcile():
        try:
            while not done.is_set():
                runs.append(reconcile_analytics())
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    reconciler = threading.Thread(target=reconcile)
    reconciler.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reconciler.join()

    assert errors == []
    assert runs  # it did run meanwhile
    assert Transaction.objects.count() == writers * per_writer
    assert maintained() == recomputed()
    assert all(run == [] for run in runs)  # the figures were never wrong, so nothing was corrected


def test_statistics_and_credit_profile_follow_a_fix_in_sql(create, read_client):
    from analytics import statistics
    from analytics.models import UserStatistics

    txn = create(transaction_amount="10.00")
    statistics.refresh_users(user_ids=[42])  # as a processed write leaves them (no worker in services mode)
    before = read_client.get(f"/api/v1/users/{42}/credit-profile/").json()
    sql(
        "UPDATE {table} SET transaction_type = 'debit', transaction_amount = %s WHERE id = %s",
        [Decimal("900.00"), txn["id"]],
    )

    assert reconcile_analytics() == [42]

    stats = UserStatistics.objects.get(user_id=42)
    assert (stats.credit_count, stats.debit_count, stats.debit_total) == (0, 1, Decimal("900.00"))
    after = read_client.get(f"/api/v1/users/{42}/credit-profile/").json()
    assert after["computed_at"] != before["computed_at"]
    assert after["inputs"] != before["inputs"]
