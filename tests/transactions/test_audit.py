"""The audit trail: every write of every path recorded in its own transaction, append-only,
readable after a delete, names only as ciphertext."""

import datetime as dt
import os
import subprocess
import sys
from http import HTTPStatus
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from fido.logs import request_id_var
from tests.conftest import _client_with_token
from transactions import audit, services
from transactions.clients import api_client_create
from transactions.models import AuditRecord, AuditRecordImmutable, Transaction
from transactions.tasks import purge_audit_records

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db

AUDIT_TABLE = AuditRecord._meta.db_table


def history_of(txn_id: int) -> str:
    return f"{detail_url(txn_id)}history/"


def history(client, txn_id: int) -> list[dict]:
    response = client.get(history_of(txn_id))
    assert response.status_code == HTTPStatus.OK, response.content
    assert set(response.json()) == {"results"}
    return response.json()["results"]


def staff_session(username: str, *codenames: str) -> APIClient:
    staff = get_user_model().objects.create_user(username, is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(content_type__app_label="transactions", codename__in=codenames)
    )
    client = APIClient()
    client.force_login(staff)
    return client


# --- Every write of the API recorded, with its actor and request id ------------------------------------------


def test_create_update_delete_through_the_api_each_append_one_record(write_client, read_client, txn_body):
    created = write_client.post(LIST_URL, txn_body, format="json", HTTP_X_REQUEST_ID="req-create-1")
    txn_id = created.json()["id"]
    patched = write_client.patch(detail_url(txn_id), {"transaction_amount": "150"}, format="json")
    put = write_client.put(
        detail_url(txn_id), {**txn_body, "full_name": "Kofi Boateng", "transaction_type": "debit"}, format="json"
    )
    deleted = write_client.delete(detail_url(txn_id))
    assert [created.status_code, patched.status_code, put.status_code, deleted.status_code] == [201, 200, 200, 204]

    records = history(read_client, txn_id)

    assert [record["action"] for record in records] == ["created", "updated", "updated", "deleted"]
    assert {record["actor"] for record in records} == {"writer"}
    assert [record["request_id"] for record in records] == [
        "req-create-1",
        patched["X-Request-ID"],
        put["X-Request-ID"],
        deleted["X-Request-ID"],
    ]
    assert records[0]["changes"] == {
        "user_id": {"from": None, "to": 42},
        "full_name": {"from": None, "to": "Ama Mensah"},
        "transaction_date": {"from": None, "to": "2026-11-20T14:03:00Z"},
        "transaction_amount": {"from": None, "to": "125.50"},
        "transaction_type": {"from": None, "to": "credit"},
    }
    assert records[1]["changes"] == {"transaction_amount": {"from": "125.50", "to": "150.00"}}
    assert records[2]["changes"] == {
        "full_name": {"from": "Ama Mensah", "to": "Kofi Boateng"},
        "transaction_amount": {"from": "150.00", "to": "125.50"},
        "transaction_type": {"from": "credit", "to": "debit"},
    }
    assert records[3]["changes"] == {
        "user_id": {"from": 42, "to": None},
        "full_name": {"from": "Kofi Boateng", "to": None},
        "transaction_date": {"from": "2026-11-20T14:03:00Z", "to": None},
        "transaction_amount": {"from": "125.50", "to": None},
        "transaction_type": {"from": "debit", "to": None},
    }
    ats = [dt.datetime.fromisoformat(record["at"]) for record in records]
    assert ats == sorted(ats)
    assert all(record["at"].endswith("Z") for record in records)
    assert set(AuditRecord.objects.values_list("actor_kind", flat=True)) == {AuditRecord.ActorKind.CLIENT}


def test_an_update_that_changes_nothing_is_still_recorded_with_no_changes(write_client, read_client, create_txn):
    txn = create_txn()
    write_client.patch(detail_url(txn["id"]), {"transaction_amount": "125.5", "user_id": 42}, format="json")

    last = history(read_client, txn["id"])[-1]
    assert (last["action"], last["actor"], last["changes"]) == ("updated", "writer", {})


def test_a_move_to_another_user_records_both_user_ids(write_client, read_client, create_txn):
    txn = create_txn(user_id=7)
    write_client.patch(detail_url(txn["id"]), {"user_id": 8}, format="json")
    assert history(read_client, txn["id"])[-1]["changes"] == {"user_id": {"from": 7, "to": 8}}


def test_a_write_refused_by_validation_records_nothing(write_client, create_txn):
    txn = create_txn()
    before = AuditRecord.objects.count()

    assert write_client.patch(detail_url(txn["id"]), {"transaction_amount": "-1"}, format="json").status_code == 400
    assert write_client.post(LIST_URL, {"user_id": 0}, format="json").status_code == 400
    assert AuditRecord.objects.count() == before


@pytest.mark.parametrize("path", ["create", "update", "delete"])
def test_the_record_is_in_the_writes_own_database_transaction(path, write_client, create_txn, txn_body, monkeypatch):
    """A write that fails after its record was appended leaves neither the change nor the record."""
    txn = create_txn()
    rows, records = list(Transaction.objects.values_list("id", "transaction_amount")), AuditRecord.objects.count()

    def fail(**kwargs):
        raise RuntimeError("the outbox is broken")

    monkeypatch.setattr(services.outbox, "record", fail)
    client = _client_with_token(api_client_create(name="unlucky", scope="write").key)
    client.raise_request_exception = False
    if path == "create":
        response = client.post(LIST_URL, txn_body, format="json")
    elif path == "update":
        response = client.patch(detail_url(txn["id"]), {"transaction_amount": "99.00"}, format="json")
    else:
        response = client.delete(detail_url(txn["id"]))

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert list(Transaction.objects.values_list("id", "transaction_amount")) == rows
    assert AuditRecord.objects.count() == records


def test_an_idempotent_replay_writes_and_records_nothing_more(write_client, txn_body):
    first = write_client.post(LIST_URL, txn_body, format="json", HTTP_IDEMPOTENCY_KEY="audit-1")
    replay = write_client.post(LIST_URL, txn_body, format="json", HTTP_IDEMPOTENCY_KEY="audit-1")
    assert replay["Idempotent-Replayed"] == "true"
    assert list(AuditRecord.objects.values_list("transaction_id", "request_id")) == [
        (first.json()["id"], first["X-Request-ID"])
    ]


def test_a_write_outside_any_request_or_command_is_recorded_as_system(txn_body):
    txn = services.transaction_create(
        **{**txn_body, "transaction_date": dt.datetime(2026, 11, 20, 14, 3, tzinfo=dt.UTC), "transaction_amount": 5}
    )
    record = AuditRecord.objects.get(transaction_id=txn.pk)
    assert (record.actor, record.actor_kind) == ("system", AuditRecord.ActorKind.SYSTEM)


def test_one_audit_insert_per_write_and_no_other_audit_statement(write_client, create_txn, txn_body):
    txn = create_txn()
    writes = [
        lambda: write_client.post(LIST_URL, txn_body, format="json"),
        lambda: write_client.patch(detail_url(txn["id"]), {"transaction_amount": "1.00"}, format="json"),
        lambda: write_client.delete(detail_url(txn["id"])),
    ]
    for write in writes:
        with CaptureQueriesContext(connection) as queries:
            assert write().status_code < 300
        touching = [query["sql"] for query in queries.captured_queries if AUDIT_TABLE in query["sql"]]
        assert len(touching) == 1, touching
        assert touching[0].lstrip().upper().startswith("INSERT")


# --- Bulk loads and commands ----------------------------------------------------------------------------------


def test_a_bulk_load_is_one_record_per_batch_with_its_row_count_command_and_run_id(read_client):
    call_command("seed_demo", users=3, transactions=25, batch_size=10, seed=1, force=True, stdout=StringIO())

    batches = list(AuditRecord.objects.order_by("id"))
    assert [record.row_count for record in batches] == [10, 10, 5]
    assert {(record.actor, record.actor_kind, record.action) for record in batches} == {
        ("manage.py seed_demo", AuditRecord.ActorKind.COMMAND, AuditRecord.Action.CREATED)
    }
    assert len({record.request_id for record in batches}) == 1
    assert len(batches[0].request_id) == 32
    assert all(record.transaction_id is None and record.changes == {} for record in batches)
    ids = list(Transaction.objects.order_by("id").values_list("id", flat=True))
    assert [record.id_ranges for record in batches] == [[[ids[0], ids[9]]], [[ids[10], ids[19]]], [[ids[20], ids[24]]]]
    # A seeded row's history starts with its batch's record.
    entries = history(read_client, ids[12])
    assert entries == [
        {
            "at": entries[0]["at"],
            "actor": "manage.py seed_demo",
            "action": "created",
            "request_id": batches[0].request_id,
            "changes": {},
        }
    ]


def test_a_command_runs_under_its_own_request_id_which_its_log_lines_carry_too():
    outside = request_id_var.get()
    with audit.command_context("seed_demo") as run_id:
        assert request_id_var.get() == run_id  # what fido.logs.JsonFormatter writes on every line
        assert audit.current_actor() == audit.Actor("manage.py seed_demo", AuditRecord.ActorKind.COMMAND)
    assert request_id_var.get() == outside


def test_id_runs_are_exact_when_other_writes_interleave():
    assert audit.id_runs([5, 3, 4, 9, 10, 12]) == [[3, 5], [9, 10], [12, 12]]
    assert audit.id_runs([]) == []


def test_a_batch_names_only_the_ids_it_inserted():
    """Another write's id inside a batch's span is not the batch's: its history shows its own create only."""
    services.transactions_bulk_create(
        rows=[
            {
                "user_id": 5,
                "full_name": "Esi Ofori",
                "transaction_date": dt.datetime(2026, 1, day, tzinfo=dt.UTC),
                "transaction_amount": "1.00",
                "transaction_type": "credit",
            }
            for day in (1, 2)
        ]
    )
    first, second = Transaction.objects.order_by("id").values_list("id", flat=True)
    batch = AuditRecord.objects.get(row_count=2)
    assert batch.id_ranges == [[first, second]]
    # A load whose span holds `second` though its runs skip it (a concurrent write took that id meanwhile).
    skipping = AuditRecord.objects.create(
        actor="manage.py seed_demo",
        actor_kind="command",
        action="created",
        row_count=2,
        id_ranges=[[first, first], [second + 1, second + 1]],
        first_id=first,
        last_id=second + 1,
    )

    assert [record.pk for record in audit.audit_history(txn_id=second)] == [batch.pk]
    assert [record.pk for record in audit.audit_history(txn_id=first)] == [batch.pk, skipping.pk]


# --- Reading the history --------------------------------------------------------------------------------------


def test_history_stays_readable_after_the_delete_and_404_only_for_an_id_never_used(
    read_client, write_client, create_txn
):
    txn = create_txn()
    write_client.delete(detail_url(txn["id"]))

    assert read_client.get(detail_url(txn["id"])).status_code == HTTPStatus.NOT_FOUND
    assert [record["action"] for record in history(read_client, txn["id"])] == ["created", "deleted"]
    for never in (txn["id"] + 1, 2**63 - 1, 2**63, 10**30):
        response = read_client.get(history_of(never))
        assert response.status_code == HTTPStatus.NOT_FOUND, never
        assert response.json()["errors"][0]["code"] == "not_found"
    assert read_client.get(f"{LIST_URL}abc/history/").status_code == HTTPStatus.NOT_FOUND


def test_a_transaction_older_than_the_audit_has_an_empty_history(read_client):
    txn = Transaction(
        user_id=1,
        full_name="Abena Owusu",
        transaction_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        transaction_amount="1.00",
        transaction_type="credit",
    )
    txn.save()  # straight to the table, as rows written before the audit existed

    assert history(read_client, txn.pk) == []


def test_history_needs_the_view_permission_and_takes_no_query_parameter(anon_client, read_client, create_txn):
    txn = create_txn()
    assert anon_client.get(history_of(txn["id"])).status_code == HTTPStatus.UNAUTHORIZED
    assert staff_session("nobody").get(history_of(txn["id"])).status_code == HTTPStatus.FORBIDDEN

    response = read_client.get(history_of(txn["id"]), {"page_size": 10, "actor": "x"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["type"] == "validation_error"
    assert {(error["attr"], error["code"]) for error in response.json()["errors"]} == {
        ("page_size", "unknown_parameter"),
        ("actor", "unknown_parameter"),
    }


def test_names_are_masked_for_staff_without_the_name_permission(write_client, create_txn):
    txn = create_txn(full_name="Ama Mensah")
    write_client.patch(detail_url(txn["id"]), {"full_name": "Kofi Boateng"}, format="json")

    clerk = history(staff_session("clerk", "view_transaction"), txn["id"])
    auditor = history(staff_session("auditor", "view_transaction", "view_full_name"), txn["id"])

    assert clerk[0]["changes"]["full_name"] == {"from": None, "to": "A*** M*****"}
    assert clerk[1]["changes"]["full_name"] == {"from": "A*** M*****", "to": "K*** B******"}
    assert auditor[1]["changes"]["full_name"] == {"from": "Ama Mensah", "to": "Kofi Boateng"}


def test_the_api_cannot_change_or_delete_the_history(write_client, read_client, create_txn):
    txn = create_txn()
    before = history(read_client, txn["id"])
    url = history_of(txn["id"])

    for method in ("post", "put", "patch", "delete"):
        response = getattr(write_client, method)(url, {"action": "deleted"}, format="json")
        assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED, method
    assert history(read_client, txn["id"]) == before


# --- Append-only in the ORM; no plain name at rest ----------------------------------------------------------


def test_the_orm_refuses_to_change_or_delete_records(create_txn):
    create_txn()
    record = AuditRecord.objects.get()

    record.actor = "someone else"
    with pytest.raises(AuditRecordImmutable):
        record.save()
    with pytest.raises(AuditRecordImmutable):
        record.delete()
    with pytest.raises(AuditRecordImmutable):
        AuditRecord.objects.filter(pk=record.pk).update(actor="someone else")
    with pytest.raises(AuditRecordImmutable):
        AuditRecord.objects.all().delete()
    # Each in a savepoint of its own: these run inside an atomic block, which the refusal breaks.
    with pytest.raises(AuditRecordImmutable), transaction.atomic():
        AuditRecord.objects.bulk_update([record], ["actor"])
    with pytest.raises(AuditRecordImmutable), transaction.atomic():
        AuditRecord.objects.update_or_create(pk=record.pk, defaults={"actor": "someone else"})

    assert AuditRecord.objects.get().actor == "writer"


NAMES = ["Zanele Okonkwo-Vasquez", "Kwabena Thorsdottir", "Ingrid Nakamura-Osei"]


def _sqlite_dump() -> str:
    """What `sqlite3 db .dump` prints: the schema and every row as SQL, from the test database itself."""
    connection.ensure_connection()
    return "\n".join(connection.connection.iterdump())


@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3", reason="SQLite dump")
def test_a_dump_of_the_database_holds_no_plain_name(write_client, txn_body):
    created = write_client.post(LIST_URL, {**txn_body, "full_name": NAMES[0]}, format="json")
    url = detail_url(created.json()["id"])
    write_client.patch(url, {"full_name": NAMES[1]}, format="json")
    write_client.put(url, {**txn_body, "full_name": NAMES[2]}, format="json")
    write_client.delete(url)
    call_command("seed_demo", users=2, transactions=5, seed=4, force=True, stdout=StringIO())
    seeded = list(Transaction.objects.values_list("full_name", flat=True))

    dump = _sqlite_dump()

    assert f'INSERT INTO "{AUDIT_TABLE}"' in dump
    assert AuditRecord.objects.count() == 5
    for name in [*NAMES, *seeded]:
        for form in (name, name.casefold(), name.split()[0], name.split()[-1]):
            assert form not in dump, form


# --- Retention --------------------------------------------------------------------------------------------------


def _aged_record(days: int) -> AuditRecord:
    return AuditRecord.objects.create(
        at=timezone.now() - dt.timedelta(days=days),
        actor="writer",
        actor_kind="client",
        action="created",
        transaction_id=1,
        changes={},
    )


def test_the_purge_deletes_only_records_past_retention(settings):
    settings.AUDIT_RETENTION_DAYS = 7 * 365 + 2
    old, kept = _aged_record(8 * 365), _aged_record(6 * 365)

    purge_audit_records.apply()  # here, in this process: what beat has a worker run

    assert list(AuditRecord.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not AuditRecord.objects.filter(pk=old.pk).exists()
    assert "transactions.tasks.purge_audit_records" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }


def test_the_purge_command_counts_then_deletes_and_keeps_everything_at_zero_days(settings):
    _aged_record(3000)
    _aged_record(10)
    out = StringIO()
    call_command("purge_audit_records", "--dry-run", stdout=out)
    assert "1 audit record(s) older than" in out.getvalue()
    assert AuditRecord.objects.count() == 2

    settings.AUDIT_RETENTION_DAYS = 0
    call_command("purge_audit_records", stdout=out)
    assert "kept forever" in out.getvalue()
    assert AuditRecord.objects.count() == 2

    settings.AUDIT_RETENTION_DAYS = 2557
    call_command("purge_audit_records", stdout=out)
    assert AuditRecord.objects.count() == 1


def test_the_purge_never_takes_records_younger_than_a_year():
    _aged_record(200)
    with pytest.raises(ValueError, match="at least 365 days"):
        audit.audit_purge(before=timezone.now() - dt.timedelta(days=100))
    assert AuditRecord.objects.count() == 1


@pytest.mark.parametrize("value", ["30", "-1"])
def test_a_retention_under_a_year_is_a_start_up_error(value):
    env = {**os.environ, "AUDIT_RETENTION_DAYS": value, "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "AUDIT_RETENTION_DAYS must be 0 (keep forever) or at least 365" in result.stderr
