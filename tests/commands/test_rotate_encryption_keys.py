"""`rotate_encryption_keys`: every encrypted value moves to the first key, nothing else changes."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError
from django.db import connection
from django.test import override_settings

from tests.admin.conftest import make_txn
from transactions import fields
from transactions.models import IdempotencyRecord, Transaction

from .conftest import manage

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
NAMES = ["Ama Mensah", "Kofi Boateng", "Yaa Asantewaa", "Kwame Nkrumah", "Efua Sutherland"]


def raw_tokens(model=Transaction, column="full_name") -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {model._meta.db_table} WHERE {column} IS NOT NULL")  # noqa: S608
        return dict(cursor.fetchall())


def snapshot() -> list[tuple]:
    return list(
        Transaction.objects.order_by("id").values_list(
            "id", "user_id", "full_name_hash", "transaction_date", "transaction_amount", "updated_at", "created_at"
        )
    )


@pytest.fixture
def under_old_key(write_client, txn_body):
    """Names and a stored idempotent response, all written under the old key."""
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        for user_id, name in enumerate(NAMES, start=1):
            make_txn(user_id=user_id, full_name=name)
        response = write_client.post("/api/v1/transactions/", txn_body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        assert response.status_code == 201
    assert IdempotencyRecord.objects.filter(response_body__isnull=False).count() == 1


def test_rotation_then_check_passes_with_only_the_new_key_and_fails_with_only_the_old(run, under_old_key):
    before_tokens, before = raw_tokens(), snapshot()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        out = run("rotate_encryption_keys", batch_size=2).stdout
    assert "transactions.Transaction.full_name: 6 values, 6 re-encrypted, 0 already under the first key." in out
    assert "transactions.IdempotencyRecord.response_body: 1 values, 1 re-encrypted" in out
    # The audit keeps each created row's name as ciphertext too: rotated like the rest (and on PostgreSQL
    # past the audit's append-only trigger, which lets rotation rewrite those columns and nothing else).
    assert "transactions.AuditRecord.name_to: 6 values, 6 re-encrypted" in out

    after_tokens = raw_tokens()
    assert after_tokens.keys() == before_tokens.keys()
    assert all(after_tokens[pk] != before_tokens[pk] for pk in before_tokens)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert snapshot() == before, "nothing but the ciphertext changes, not even updated_at"
        assert sorted(Transaction.objects.values_list("full_name", flat=True)) == sorted([*NAMES, "Ama Mensah"])
        assert "0 of them still under an older key" in run("rotate_encryption_keys", check=True).stdout

    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]), pytest.raises(CommandError) as failure:
        run("rotate_encryption_keys", check=True)
    assert "13 encrypted value(s) cannot be decrypted" in str(failure.value)  # 6 names, 1 response, 6 audit names


def test_check_reports_values_under_an_older_key_and_changes_nothing(run, under_old_key):
    before = raw_tokens()
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        out = run("rotate_encryption_keys", check=True).stdout
    assert "transactions.Transaction.full_name: 6 values, 6 decrypt, 6 of them still under an older key." in out
    assert raw_tokens() == before


def test_an_interrupted_rotation_resumes(run, under_old_key, monkeypatch):
    real_rotate = fields.rotate_token
    calls = []

    def rotate_then_crash(token):
        calls.append(token)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real_rotate(token)

    monkeypatch.setattr("transactions.management.commands.rotate_encryption_keys.rotate_token", rotate_then_crash)
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]), pytest.raises(KeyboardInterrupt):
        run("rotate_encryption_keys", batch_size=2)
    monkeypatch.undo()

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        out = run("rotate_encryption_keys", batch_size=2).stdout
    assert "transactions.Transaction.full_name: 6 values, 4 re-encrypted, 2 already under the first key." in out
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        run("rotate_encryption_keys", check=True)


def test_a_value_no_key_opens_is_reported_and_the_rest_rotated(run, under_old_key):
    stranger = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEYS=[stranger]):
        lost = make_txn(user_id=99, full_name="Lost Key")
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]), pytest.raises(CommandError) as failure:
        run("rotate_encryption_keys")
    assert "2 encrypted value(s) cannot be decrypted" in str(failure.value)  # the row's name and its audit record's
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]), pytest.raises(CommandError) as failure:
        run("rotate_encryption_keys", check=True)
    assert "2 encrypted value(s)" in str(failure.value)
    assert Transaction.objects.filter(pk=lost.pk).exists()


def test_bad_arguments(run):
    with pytest.raises(CommandError, match="--batch-size: 0 is out of range"):
        run("rotate_encryption_keys", "--batch-size", "0")
    with pytest.raises(CommandError, match="unrecognized arguments: --now"):
        run("rotate_encryption_keys", "--now")


def test_bad_argument_exits_non_zero_from_the_command_line():
    result = manage("rotate_encryption_keys", "--batch-size", "lots")
    assert result.returncode != 0
    assert "--batch-size: 'lots' is not a whole number" in result.stderr
