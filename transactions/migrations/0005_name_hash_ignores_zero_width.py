"""The name hash leaves out zero-width characters (``rules.ZERO_WIDTH``): names stored before, that hold one,
get their hash recomputed, so that an exact-name search finds them again.

Every name is decrypted with the configured keys (``FIELD_ENCRYPTION_KEYS``) to find those few, in batches by
primary key, each row's update committed on its own (recomputing is idempotent: an interrupted run is simply
run again). Nothing else changes (not ``updated_at``). A value no key opens is left as it was and counted
(``rotate_encryption_keys --check`` names such rows). Reversible: backwards, the old hash is put back.
Both normalisations are frozen here, as migrations must be; the key is the configured ``FIELD_HASH_KEY``.
"""

import hashlib
import hmac
import sys
import unicodedata

from django.conf import settings
from django.db import migrations
from django.db.models import TextField
from django.db.models.functions import Cast

BATCH = 2000
# Soft hyphen, zero-width space, non-joiner, joiner, LRM, RLM, word joiner, invisible operators, BOM.
ZERO_WIDTH = frozenset(map(chr, [0x00AD, *range(0x200B, 0x2010), *range(0x2060, 0x2065), 0xFEFF]))
WITHOUT_ZERO_WIDTH = dict.fromkeys(map(ord, ZERO_WIDTH))


def _old_form(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


def _new_form(name: str) -> str:
    return _old_form(name.translate(WITHOUT_ZERO_WIDTH))


def _hash(form: str) -> str:
    return hmac.new(settings.FIELD_HASH_KEY.encode("utf-8"), form.encode("utf-8"), hashlib.sha256).hexdigest()


def _rehash(apps, normalize) -> None:
    from transactions.fields import DecryptionError, decrypt_str  # the configured keys; no key is in a migration

    transaction_model = apps.get_model("transactions", "Transaction")
    # Cast keeps the raw token: the field's own conversion would fail the whole batch on one bad value.
    rows = transaction_model.objects.annotate(token=Cast("full_name", output_field=TextField())).order_by("pk")
    last_pk, changed, unreadable = 0, 0, 0
    while batch := list(rows.filter(pk__gt=last_pk).values_list("pk", "token", "full_name_hash")[:BATCH]):
        last_pk = batch[-1][0]
        for pk, token, stored in batch:
            try:
                name = decrypt_str(token)
            except DecryptionError:
                unreadable += 1
                continue
            if ZERO_WIDTH.isdisjoint(name):
                continue  # the same under both normalisations
            fresh = _hash(normalize(name))
            if fresh != stored:
                transaction_model.objects.filter(pk=pk).update(full_name_hash=fresh)
                changed += 1
    if changed or unreadable:
        sys.stdout.write(f"\n  Name hashes recomputed: {changed}; names no configured key opens: {unreadable}.")


def forward(apps, schema_editor):
    _rehash(apps, _new_form)


def backward(apps, schema_editor):
    _rehash(apps, _old_form)


class Migration(migrations.Migration):
    atomic = False  # each row's update commits on its own; a run over millions of rows holds no long transaction

    dependencies = [
        ("transactions", "0004_audit_record"),
    ]

    operations = [migrations.RunPython(forward, backward)]
