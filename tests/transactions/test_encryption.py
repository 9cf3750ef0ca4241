"""The encrypted name field (STYLE §5): Fernet at rest, rotatable keys, loud failure, no lookups."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection
from django.test import override_settings

from transactions.fields import DecryptionError, decrypt_str, encrypt_str, name_hash, rotate_token
from transactions.models import Transaction

from .conftest import detail_url

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _raw_name(txn_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT full_name FROM transactions_transaction WHERE id = %s", [txn_id])
        return cursor.fetchone()[0]


def _create(name: str = "Ama Mensah") -> Transaction:
    return Transaction.objects.create(
        user_id=1,
        full_name=name,
        transaction_date="2026-11-20T14:03:00Z",
        transaction_amount="1.00",
        transaction_type="credit",
    )


def test_round_trip_stores_a_fernet_token_and_reads_the_plain_name():
    txn = _create("Zoë Ọlá")

    raw = _raw_name(txn.pk)

    # A Fernet token is URL-safe base64 (version byte 0x80 first): no trace of the name's characters.
    assert raw.startswith("gAAAAA")
    assert raw.isascii()
    assert "Zoë Ọlá".encode().hex() not in raw.encode().hex()
    assert decrypt_str(raw) == "Zoë Ọlá"
    assert Transaction.objects.get(pk=txn.pk).full_name == "Zoë Ọlá"


def test_equal_names_get_different_ciphertexts():
    assert _raw_name(_create().pk) != _raw_name(_create().pk)


def test_rotation_with_two_keys():
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        old = _create("Old Key Person")
    old_token = _raw_name(old.pk)

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        # The old key's token still reads once a new key is prepended...
        assert Transaction.objects.get(pk=old.pk).full_name == "Old Key Person"
        # ...new writes use the new key only...
        new = _create("New Key Person")
        assert Fernet(NEW_KEY.encode()).decrypt(_raw_name(new.pk).encode()) == b"New Key Person"
        # ...and rotating re-encrypts an old token under the new key.
        rotated = rotate_token(old_token)
        assert Fernet(NEW_KEY.encode()).decrypt(rotated.encode()) == b"Old Key Person"

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert decrypt_str(rotated) == "Old Key Person"
        with pytest.raises(DecryptionError):
            Transaction.objects.get(pk=old.pk)


@pytest.mark.parametrize("token", ["garbage", "", "gAAAAABnot-a-real-token", "é"])
def test_a_token_no_key_opens_raises_and_never_returns_ciphertext(token):
    txn = _create()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE transactions_transaction SET full_name = %s WHERE id = %s", [token, txn.pk])

    with pytest.raises(DecryptionError) as excinfo:
        Transaction.objects.get(pk=txn.pk)
    assert not token or token not in str(excinfo.value)


def test_an_undecryptable_row_is_a_json_500_through_the_api(write_client):
    txn = _create()
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD_KEY]):
        token = encrypt_str("Other Key Person")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE transactions_transaction SET full_name = %s WHERE id = %s", [token, txn.pk])
    write_client.raise_request_exception = False

    response = write_client.get(detail_url(txn.pk))

    assert response.status_code == 500
    assert response.json()["type"] == "server_error"
    assert token not in response.content.decode()
    assert "Other Key Person" not in response.content.decode()


@pytest.mark.parametrize("lookup", ["full_name", "full_name__exact", "full_name__icontains", "full_name__startswith"])
def test_lookups_other_than_isnull_are_refused(lookup):
    with pytest.raises(NotImplementedError):
        Transaction.objects.filter(**{lookup: "Ama Mensah"}).exists()


def test_isnull_lookup_works():
    _create()

    assert Transaction.objects.filter(full_name__isnull=False).count() == 1
    assert not Transaction.objects.filter(full_name__isnull=True).exists()


def test_name_hash_finds_a_name_by_exact_match_after_normalisation():
    txn = _create("Ama  Mensah")

    for form in ["ama mensah", " AMA MENSAH ", "Ama\tMensah"]:
        assert Transaction.objects.filter(full_name_hash=name_hash(form)).get().pk == txn.pk
    assert name_hash("Zoe\u0308") == name_hash("Zoë")  # NFC
    assert name_hash("Ama Mensah") != name_hash("Ama Mensa")
    with override_settings(FIELD_HASH_KEY="another-secret"):
        assert name_hash("Ama Mensah") != txn.full_name_hash


def test_no_key_is_in_any_migration():
    secrets = [*settings.FIELD_ENCRYPTION_KEYS, settings.FIELD_HASH_KEY]
    migrations = [
        path
        for app in ("transactions", "analytics")
        for path in (Path(settings.BASE_DIR) / app).glob("migrations/*.py")
    ]

    assert migrations
    for path in migrations:
        text = path.read_text()
        assert not any(secret in text for secret in secrets), path
    assert Transaction._meta.get_field("full_name").deconstruct()[3] == {}
