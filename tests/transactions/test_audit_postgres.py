"""The audit's database-level guard on real PostgreSQL: a trigger refuses UPDATE and DELETE of audit records,
except the two narrow, transaction-local ways through (retention purge of old records, key rotation of the
ciphertext columns); and a pg_dump of the database holds no plain name."""

import datetime as dt
import os
import shutil
import subprocess
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from transactions import audit, fields
from transactions.models import AuditRecord

from .conftest import LIST_URL, detail_url

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TABLE = AuditRecord._meta.db_table


def sql(statement: str, params=(), *, setting: str | None = None) -> int:
    """Run one statement in a transaction of its own (with a transaction-local setting on); rows affected."""
    with transaction.atomic(), connection.cursor() as cursor:
        if setting:
            cursor.execute("SELECT set_config(%s, 'on', true)", [setting])
        cursor.execute(statement, params)
        return cursor.rowcount


def aged(days: int, **fields) -> AuditRecord:
    return AuditRecord.objects.create(
        at=timezone.now() - dt.timedelta(days=days),
        actor="writer",
        actor_kind="client",
        action="created",
        transaction_id=1,
        **fields,
    )


def test_sql_cannot_update_or_delete_a_record(create_txn):
    create_txn()
    record = AuditRecord.objects.get()

    for statement in (
        f"UPDATE {TABLE} SET actor = 'someone else' WHERE id = %s",  # noqa: S608
        f"UPDATE {TABLE} SET name_to = NULL WHERE id = %s",  # noqa: S608
        f"DELETE FROM {TABLE} WHERE id = %s",  # noqa: S608
    ):
        with pytest.raises(IntegrityError, match="append-only"):
            sql(statement, [record.pk])

    assert AuditRecord.objects.get().actor == "writer"
    assert AuditRecord.objects.get().name_to == "Ama Mensah"


def test_the_purge_setting_lets_only_old_records_go():
    old, young = aged(8 * 365), aged(300)

    with pytest.raises(IntegrityError, match="append-only"):
        sql(f"DELETE FROM {TABLE} WHERE id = %s", [young.pk], setting="fido.audit_purge")  # noqa: S608
    assert sql(f"DELETE FROM {TABLE} WHERE id = %s", [old.pk], setting="fido.audit_purge") == 1  # noqa: S608
    assert list(AuditRecord.objects.values_list("pk", flat=True)) == [young.pk]


def test_the_purge_setting_ends_with_its_transaction():
    old = aged(8 * 365)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('fido.audit_purge', 'on', true)")
    with pytest.raises(IntegrityError, match="append-only"):
        sql(f"DELETE FROM {TABLE} WHERE id = %s", [old.pk])  # noqa: S608


def test_audit_purge_goes_through_the_trigger_in_batches():
    olds = [aged(8 * 365) for _ in range(5)]
    young = aged(400)

    assert audit.audit_purge(before=timezone.now() - dt.timedelta(days=7 * 365), batch_size=2) == len(olds)
    assert list(AuditRecord.objects.values_list("pk", flat=True)) == [young.pk]


def test_the_reencrypt_setting_lets_only_the_ciphertext_columns_change():
    record = aged(1, name_to="Ama Mensah")
    rewrapped = fields.encrypt_str("Ama Mensah")  # what rotation writes: the same name, new ciphertext
    update = f"UPDATE {TABLE} SET name_to = %s{{also}} WHERE id = %s"  # noqa: S608

    with pytest.raises(IntegrityError, match="append-only"):
        sql(update.format(also=", actor = 'someone else'"), [rewrapped, record.pk], setting="fido.audit_reencrypt")
    with pytest.raises(IntegrityError, match="append-only"):
        sql(update.format(also=""), [rewrapped, record.pk])  # without the setting
    assert sql(update.format(also=""), [rewrapped, record.pk], setting="fido.audit_reencrypt") == 1

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name_to, actor FROM {TABLE} WHERE id = %s", [record.pk])  # noqa: S608
        assert cursor.fetchone() == (rewrapped, "writer")
    assert AuditRecord.objects.get().name_to == "Ama Mensah"


def test_key_rotation_rewrites_audit_ciphertext_past_the_trigger(write_client, txn_body):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[old_key]):
        created = write_client.post(LIST_URL, txn_body, format="json")
        write_client.patch(detail_url(created.json()["id"]), {"full_name": "Kofi Boateng"}, format="json")

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        out = StringIO()
        call_command("rotate_encryption_keys", stdout=out)
    assert "transactions.AuditRecord.name_to: 2 values, 2 re-encrypted" in out.getvalue()
    assert "transactions.AuditRecord.name_from: 1 values, 1 re-encrypted" in out.getvalue()

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        call_command("rotate_encryption_keys", check=True, stdout=StringIO())
        names = list(AuditRecord.objects.order_by("id").values_list("name_from", "name_to"))
    assert names == [(None, "Ama Mensah"), ("Ama Mensah", "Kofi Boateng")]


NAMES = ["Zanele Okonkwo-Vasquez", "Kwabena Thorsdottir"]


def test_a_pg_dump_of_the_database_holds_no_plain_name(write_client, txn_body):
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump (postgresql-client) is needed in services mode"
    created = write_client.post(LIST_URL, {**txn_body, "full_name": NAMES[0]}, format="json")
    url = detail_url(created.json()["id"])
    write_client.patch(url, {"full_name": NAMES[1]}, format="json")
    write_client.delete(url)
    assert AuditRecord.objects.count() == 3

    db = connection.settings_dict
    dump = subprocess.run(  # noqa: S603 - our own command line, the test database's own settings
        [
            pg_dump,
            "--data-only",
            "--host",
            db["HOST"] or "localhost",
            "--port",
            str(db["PORT"] or 5432),
            "--username",
            db["USER"],
            db["NAME"],
        ],
        env={**os.environ, "PGPASSWORD": db["PASSWORD"] or ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout

    assert f"COPY public.{TABLE} " in dump
    assert created["X-Request-ID"] in dump  # the audit rows are in it
    for name in NAMES:
        for form in (name, name.casefold(), name.split()[0], name.split()[-1]):
            assert form not in dump, form
