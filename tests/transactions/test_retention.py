"""Retention: idempotency records go after their 24 hours, and at once with the transaction their stored
response shows; done outbox events go after OUTBOX_RETENTION_DAYS; pending and failed ones stay. The purge
deletes in bounded batches through indexes (query plans on PostgreSQL) and logs one line per run.

The timing on 1,000,000 rows is measured by scripts/retention_bench.py (docs/metrics.md)."""

import datetime as dt
import logging
from http import HTTPStatus
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fido.celery import app as celery_app
from transactions import retention
from transactions.models import IdempotencyRecord, OutboxEvent, Transaction

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)
PURGE_TASK = "transactions.tasks.purge_expired"


def post(client, body, key):
    return client.post(LIST_URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def age(queryset, delta: dt.timedelta) -> None:
    queryset.update(created_at=timezone.now() - delta)


def purge_command() -> str:
    out = StringIO()
    call_command("purge_expired", stdout=out)
    return out.getvalue()


# --- Idempotency records ------------------------------------------------------------------------------------


def test_idempotency_records_past_their_24_hours_are_purged_and_younger_ones_kept(write_client, txn_body):
    for key in ("old", "young", "abandoned"):
        assert post(write_client, {**txn_body, "user_id": len(key)}, key).status_code == HTTPStatus.CREATED
    age(IdempotencyRecord.objects.filter(key="old"), DAY + dt.timedelta(seconds=1))
    age(IdempotencyRecord.objects.filter(key="young"), DAY - dt.timedelta(minutes=1))
    # A claim whose request died before finishing, long ago.
    IdempotencyRecord.objects.filter(key="abandoned").update(
        state=IdempotencyRecord.State.IN_PROGRESS, created_at=timezone.now() - 2 * DAY
    )

    output = purge_command()

    assert "Deleted 2 idempotency records and 0 done outbox events" in output
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["young"]
    assert post(write_client, {**txn_body, "user_id": 5}, "young")["Idempotent-Replayed"] == "true"
    assert Transaction.objects.count() == 3  # the purge deletes records, never transactions


def test_deleting_a_transaction_deletes_the_stored_response_that_shows_it_at_once(write_client, txn_body):
    deleted = post(write_client, {**txn_body, "full_name": "Kofi Boateng"}, "k-deleted").json()
    kept = post(write_client, txn_body, "k-kept").json()
    assert IdempotencyRecord.objects.get(key="k-deleted").transaction_id == deleted["id"]

    assert write_client.delete(detail_url(deleted["id"])).status_code == HTTPStatus.NO_CONTENT

    assert list(IdempotencyRecord.objects.values_list("key", "transaction_id")) == [("k-kept", kept["id"])]
    replay = post(write_client, txn_body, "k-kept")
    assert (replay["Idempotent-Replayed"], replay.json()) == ("true", kept)
    # With the record gone the key is free: a repeat is a new request (the transaction it made is deleted).
    again = post(write_client, {**txn_body, "full_name": "Kofi Boateng"}, "k-deleted")
    assert again.status_code == HTTPStatus.CREATED
    assert "Idempotent-Replayed" not in again


def test_a_failed_request_stores_no_transaction_and_a_reused_key_forgets_the_old_one(write_client, txn_body):
    first = post(write_client, txn_body, "k").json()
    age(IdempotencyRecord.objects.all(), DAY + dt.timedelta(seconds=1))
    second = post(write_client, {**txn_body, "transaction_amount": "7.00"}, "k").json()
    assert IdempotencyRecord.objects.get().transaction_id == second["id"]

    write_client.delete(detail_url(first["id"]))

    replay = post(write_client, {**txn_body, "transaction_amount": "7.00"}, "k")
    assert (replay["Idempotent-Replayed"], replay.json()) == ("true", second)


# --- Outbox events ----------------------------------------------------------------------------------------------


def make_events(write_client, txn_body, count: int) -> list[OutboxEvent]:
    # In a test's transaction the commit never comes: each write leaves its event pending.
    for user_id in range(1, count + 1):
        write_client.post(LIST_URL, {**txn_body, "user_id": user_id}, format="json")
    return list(OutboxEvent.objects.order_by("id"))


def test_done_events_past_retention_are_purged_pending_and_failed_ones_never(write_client, txn_body, settings):
    settings.OUTBOX_RETENTION_DAYS = 7
    old_done, young_done, old_failed, old_pending = make_events(write_client, txn_body, 4)
    OutboxEvent.objects.filter(pk__in=[old_done.pk, young_done.pk]).update(status=OutboxEvent.Status.DONE)
    OutboxEvent.objects.filter(pk=old_failed.pk).update(status=OutboxEvent.Status.FAILED)
    age(OutboxEvent.objects.filter(pk__in=[old_done.pk, old_failed.pk, old_pending.pk]), 7 * DAY + dt.timedelta(1))
    age(OutboxEvent.objects.filter(pk=young_done.pk), 7 * DAY - dt.timedelta(minutes=1))

    output = purge_command()

    assert "Deleted 0 idempotency records and 1 done outbox events" in output
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {young_done.pk, old_failed.pk, old_pending.pk}


def test_the_retention_is_configurable(write_client, txn_body, settings):
    make_events(write_client, txn_body, 1)
    OutboxEvent.objects.update(status=OutboxEvent.Status.DONE)
    age(OutboxEvent.objects.all(), 2 * DAY)

    settings.OUTBOX_RETENTION_DAYS = 3
    assert retention.purge().outbox_events == 0
    settings.OUTBOX_RETENTION_DAYS = 1
    assert retention.purge().outbox_events == 1
    assert not OutboxEvent.objects.exists()


# --- How it deletes ------------------------------------------------------------------------------------------


def expire_everything(write_client, txn_body, count: int) -> None:
    for user_id in range(1, count + 1):
        post(write_client, {**txn_body, "user_id": user_id}, f"key-{user_id}")
    OutboxEvent.objects.update(status=OutboxEvent.Status.DONE)
    age(OutboxEvent.objects.all(), (django_settings.OUTBOX_RETENTION_DAYS + 1) * DAY)
    age(IdempotencyRecord.objects.all(), 2 * DAY)


def test_rows_are_deleted_in_bounded_batches(write_client, txn_body):
    expire_everything(write_client, txn_body, 5)

    with CaptureQueriesContext(connection) as queries:
        purged = retention.purge(batch_size=2)

    assert (purged.idempotency_records, purged.outbox_events, purged.complete) == (5, 5, True)
    deletes = [query["sql"] for query in queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 6  # 2 + 2 + 1 rows of each table, one statement each


def test_a_run_stops_at_its_time_budget_and_the_next_one_goes_on(write_client, txn_body, caplog):
    expire_everything(write_client, txn_body, 5)

    with caplog.at_level(logging.INFO, logger="transactions.retention"):
        first = retention.purge(batch_size=2, seconds=0)
        second = retention.purge(batch_size=2)

    assert (first.idempotency_records, first.outbox_events, first.complete) == (2, 0, False)
    assert (second.idempotency_records, second.outbox_events, second.complete) == (3, 5, True)
    lines = [record for record in caplog.records if record.name == "transactions.retention"]
    assert len(lines) == 2  # one line per run
    assert lines[0].getMessage().endswith("more left for the next run")
    assert (lines[1].idempotency_records, lines[1].outbox_events, lines[1].complete) == (3, 5, True)
    assert "3 idempotency records and 5 done outbox events deleted" in lines[1].getMessage()


def test_beat_runs_the_purge_task_that_workers_register(write_client, txn_body):
    [entry] = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == PURGE_TASK]
    assert entry["schedule"] == django_settings.RETENTION_PURGE_INTERVAL
    celery_app.loader.import_default_modules()  # what a worker does at start: the apps' tasks modules
    expire_everything(write_client, txn_body, 2)

    result = celery_app.tasks[PURGE_TASK].apply().get()

    assert (result["idempotency_records"], result["outbox_events"], result["complete"]) == (2, 2, True)
    assert not IdempotencyRecord.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_the_command_refuses_a_bad_batch_size():
    with pytest.raises(CommandError, match="--batch-size: 0 is out of range"):
        call_command("purge_expired", "--batch-size", "0")


@pytest.mark.services
def test_the_purge_and_the_metrics_read_through_indexes_on_postgresql(django_user_model):
    """On tables where a scan would be the expensive choice: 60,000 outbox events, almost all done, and
    60,000 idempotency records, a fifth of them expired."""
    client = django_user_model.objects.create(username="bulk-client")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO transactions_idempotencyrecord
                (client_id, key, request_fingerprint, state, owner_token, locked_until, response_location, created_at)
            SELECT %s, 'key-' || n, '', 'completed', '', now(), '', now() - make_interval(secs => n * 1.8)
            FROM generate_series(1, 60000) AS n
            """,
            [client.pk],
        )
        cursor.execute(
            """
            INSERT INTO transactions_outboxevent
                (kind, transaction_id, user_id, status, attempts, last_error, created_at)
            SELECT 'created', n, n,
                   CASE WHEN n % 1000 = 0 THEN 'pending' WHEN n % 997 = 0 THEN 'failed' ELSE 'done' END,
                   0, '', now() - make_interval(secs => 60000 - n) - interval '3 days'
            FROM generate_series(1, 60000) AS n
            """
        )
        cursor.execute("ANALYZE transactions_outboxevent")
        cursor.execute("ANALYZE transactions_idempotencyrecord")
    now = timezone.now()
    oldest = OutboxEvent.objects.order_by("created_at").values_list("created_at", flat=True)

    plans = {
        "purge outbox": retention.expired_outbox_events(now=now).order_by("created_at").values_list("pk")[:2000],
        "purge idempotency": retention.expired_idempotency_records(now=now)
        .order_by("created_at")
        .values_list("pk")[:2000],
        "oldest pending": oldest.filter(status=OutboxEvent.Status.PENDING)[:1],
        "oldest done": oldest.filter(status=OutboxEvent.Status.DONE)[:1],
    }

    for name, queryset in plans.items():
        plan = queryset.explain()
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
        assert "_idx" in plan, f"{name}:\n{plan}"
    assert "outbox_status_created_idx" in plans["purge outbox"].explain()
    assert "idempotency_created_idx" in plans["purge idempotency"].explain()
