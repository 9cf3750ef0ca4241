"""Names: bidirectional overrides and isolates are refused, zero-width characters are left out of the search hash
(and migration 0004 re-hashes the names stored before that rule)."""

import hashlib
import hmac
import unicodedata
from http import HTTPStatus

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from transactions.fields import name_hash, normalize_name
from transactions.models import Transaction
from transactions.rules import BIDI_CONTROLS, MESSAGES, ZERO_WIDTH, name_error

from .conftest import LIST_URL, detail_url

pytestmark = pytest.mark.django_db

BIDI = [chr(code) for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]


def test_the_bidi_controls_are_exactly_the_overrides_embeddings_and_isolates():
    assert set(BIDI) == BIDI_CONTROLS
    assert {unicodedata.name(char).split()[-1] for char in BIDI} >= {"EMBEDDING", "OVERRIDE", "ISOLATE"}


@pytest.mark.parametrize("char", BIDI, ids=[f"U+{ord(char):04X}" for char in BIDI])
def test_a_name_with_a_bidi_override_or_isolate_is_a_400(write_client, txn_body, char):
    response = write_client.post(LIST_URL, {**txn_body, "full_name": f"Ama {char}hsneM"}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    (error,) = response.json()["errors"]
    assert error == {"code": "bidi_controls", "detail": MESSAGES["bidi_controls"], "attr": "full_name"}
    assert not Transaction.objects.exists()


def test_a_bidi_override_is_refused_on_update_too(write_client, create_txn):
    txn = create_txn()

    response = write_client.patch(detail_url(txn["id"]), {"full_name": "Ama \u202emoc.live"}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert Transaction.objects.get().full_name == "Ama Mensah"


@pytest.mark.parametrize("name", ["\u200f\u05d3\u05d5\u05d3 \u05db\u05d4\u05df", "\u0639\u0644\u064a \u200e(Ali)"])
def test_right_to_left_names_and_directional_marks_are_accepted(write_client, txn_body, name):
    response = write_client.post(LIST_URL, {**txn_body, "full_name": name}, format="json")

    assert response.status_code == HTTPStatus.CREATED, response.content
    assert response.json()["full_name"] == name


@pytest.mark.parametrize("name", ["\u200b", "\u200b \ufeff", " \u00ad\u2060 "])
def test_a_name_of_nothing_but_invisible_characters_is_blank(write_client, txn_body, name):
    response = write_client.post(LIST_URL, {**txn_body, "full_name": name}, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["errors"][0]["attr"] == "full_name"
    assert response.json()["errors"][0]["detail"] == MESSAGES["blank"]


def test_a_blank_name_gets_the_rules_words(write_client, txn_body):
    response = write_client.post(LIST_URL, {**txn_body, "full_name": "   "}, format="json")

    assert response.json()["errors"] == [{"code": "blank", "detail": MESSAGES["blank"], "attr": "full_name"}]


@pytest.mark.parametrize("char", sorted(ZERO_WIDTH), ids=[f"U+{ord(char):04X}" for char in sorted(ZERO_WIDTH)])
def test_the_search_hash_ignores_each_zero_width_character(char):
    assert normalize_name(f"Ama{char} Men{char}sah{char}") == "ama mensah"
    assert name_hash(f"{char}Ama Mensah") == name_hash("ama  MENSAH")


def test_the_zero_width_set_is_what_the_docs_say():
    assert {f"U+{ord(char):04X}" for char in ZERO_WIDTH} == {
        "U+00AD",
        "U+200B",
        "U+200C",
        "U+200D",
        "U+200E",
        "U+200F",
        "U+2060",
        "U+2061",
        "U+2062",
        "U+2063",
        "U+2064",
        "U+FEFF",
    }
    assert all(name_error(f"A{char}B") is None for char in ZERO_WIDTH)  # kept in the name, only the hash skips them


def test_a_name_keeps_its_zero_width_characters_but_is_found_without_them(write_client, txn_body, admin_client):
    created = write_client.post(LIST_URL, {**txn_body, "full_name": "Ama\u200b Men\u200dsah"}, format="json")
    assert created.json()["full_name"] == "Ama\u200b Men\u200dsah"

    page = admin_client.get("/admin/transactions/transaction/", {"q": "Ama Mensah"})

    assert page.status_code == HTTPStatus.OK
    assert f"/admin/transactions/transaction/{created.json()['id']}/change/" in page.content.decode()


# --- Migration 0004: the hashes stored before the rule ----------------------------------------------------------
def _old_hash(name: str) -> str:
    form = " ".join(unicodedata.normalize("NFC", name).split()).casefold()
    return hmac.new(settings.FIELD_HASH_KEY.encode(), form.encode(), hashlib.sha256).hexdigest()


BEFORE = ("transactions", "0003_hashed_client_tokens")
AFTER = ("transactions", "0005_name_hash_ignores_zero_width")


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(target if isinstance(target, list) else [target])


@pytest.mark.django_db(transaction=True)
def test_migration_0004_rehashes_the_names_that_hold_zero_width_characters():
    plain, hidden = "Kofi Boateng", "Ama\u200b Mensah\ufeff"
    _migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("transactions", "Transaction")
        common = {"transaction_date": "2026-01-01T00:00Z", "transaction_amount": "1.00", "transaction_type": "credit"}
        kept = old.objects.create(user_id=1, full_name=plain, full_name_hash=_old_hash(plain), **common)
        fixed = old.objects.create(user_id=2, full_name=hidden, full_name_hash=_old_hash(hidden), **common)
        stamp = Transaction.objects.values_list("updated_at", flat=True).get(pk=fixed.pk)
        assert _old_hash(hidden) != name_hash("Ama Mensah")  # before: the search missed this row

        _migrate(AFTER)

        rows = Transaction.objects.in_bulk([kept.pk, fixed.pk])
        assert rows[fixed.pk].full_name_hash == name_hash("Ama Mensah")
        assert rows[fixed.pk].full_name == hidden  # the name itself is untouched
        assert rows[fixed.pk].updated_at == stamp
        assert rows[kept.pk].full_name_hash == _old_hash(plain) == name_hash(plain)

        _migrate(BEFORE)  # reversible: the old hash comes back

        assert Transaction.objects.values_list("full_name_hash", flat=True).get(pk=fixed.pk) == _old_hash(hidden)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_migration_0004_leaves_a_value_no_key_opens_alone(capsys):
    _migrate(BEFORE)
    try:
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("transactions", "Transaction")
        row = old.objects.create(
            user_id=1,
            full_name="Ama\u200bMensah",
            full_name_hash="x" * 64,
            transaction_date="2026-01-01T00:00Z",
            transaction_amount="1.00",
            transaction_type="credit",
        )
        with connection.cursor() as cursor:
            cursor.execute("UPDATE transactions_transaction SET full_name = %s WHERE id = %s", ["not-a-token", row.pk])

        _migrate(AFTER)

        assert Transaction.objects.values_list("full_name_hash", flat=True).get(pk=row.pk) == "x" * 64
        assert "names no configured key opens: 1" in capsys.readouterr().out
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
