"""`manage.py rotate_encryption_keys`: re-encrypt every encrypted column under the first key."""

import base64
import binascii
import sys
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from tqdm import tqdm

from transactions import audit
from transactions.fields import DecryptionError, EncryptedTextField, decrypt_str, rotate_token

from .seed_demo import bounded_int

SHOWN_IDS = 10


def signed_by_key(token: str, key: str) -> bool:
    """Whether a Fernet token was made with `key`, checked by its HMAC alone: nothing is decrypted.

    Fernet tokens do not name their key; per the Fernet spec the last 32 bytes are an HMAC-SHA256,
    under the first half of the key, of everything before them.
    """
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        signing_key = base64.urlsafe_b64decode(key.encode("ascii"))[:16]
    except (binascii.Error, UnicodeError, ValueError):
        return False
    if len(raw) < 57 or raw[0] != 0x80:
        return False
    mac = HMAC(signing_key, hashes.SHA256())
    mac.update(raw[:-32])
    try:
        mac.verify(raw[-32:])
    except InvalidSignature:
        return False
    return True


def encrypted_columns() -> list[tuple[type, EncryptedTextField]]:
    """Every encrypted column of every installed model, so a new encrypted field is rotated too."""
    return [
        (model, model_field)
        for model in apps.get_models()
        for model_field in model._meta.concrete_fields
        if isinstance(model_field, EncryptedTextField)
    ]


@dataclass
class Tally:
    total: int = 0
    done: int = 0
    current: int = 0
    failed_ids: list = field(default_factory=list)
    failed: int = 0

    def fail(self, pk) -> None:
        self.failed += 1
        if len(self.failed_ids) < SHOWN_IDS:
            self.failed_ids.append(pk)


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value (transaction names, stored idempotent responses) under the first "
        "key of FIELD_ENCRYPTION_KEYS, touching nothing else (not even updated_at). To rotate: put a new key "
        "(from generate_encryption_key) first in FIELD_ENCRYPTION_KEYS, keep the old ones after it, deploy, "
        "run this command, run it again with --check, then remove the old keys. It works in batches, each "
        "committed on its own, and skips values already under the first key, so an interrupted run is "
        "simply run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing: try to decrypt every value with the configured keys, report how many are "
            "still under an older key, and exit non-zero if any cannot be decrypted at all.",
        )
        parser.add_argument(
            "--batch-size",
            type=bounded_int(1, 50_000),
            default=1000,
            help="Rows read and rewritten per database transaction (default 1000).",
        )

    def handle(self, *args, check: bool, batch_size: int, **options):
        first_key = settings.FIELD_ENCRYPTION_KEYS[0]
        failed = 0
        for model, model_field in encrypted_columns():
            label = f"{model._meta.label}.{model_field.name}"
            tally = self.walk(model, model_field, first_key=first_key, batch_size=batch_size, check=check)
            if check:
                self.stdout.write(
                    f"{label}: {tally.total} values, {tally.total - tally.failed} decrypt, "
                    f"{tally.total - tally.current - tally.failed} of them still under an older key."
                )
            else:
                self.stdout.write(
                    f"{label}: {tally.total} values, {tally.done} re-encrypted, {tally.current} already under the "
                    "first key."
                )
            if tally.failed:
                failed += tally.failed
                self.stderr.write(f"{label}: {tally.failed} cannot be decrypted, for example ids {tally.failed_ids}.")
        if failed:
            raise CommandError(
                f"{failed} encrypted value(s) cannot be decrypted with the keys in FIELD_ENCRYPTION_KEYS: "
                "add back the key they were written with."
            )

    def walk(self, model, model_field, *, first_key: str, batch_size: int, check: bool) -> Tally:
        """Go through one column by primary key ranges; rewrite (or, with check, just test) each value."""
        tally = Tally()
        column = model_field.column
        # Cast keeps the raw token: the field's own conversion would decrypt every value.
        rows = (
            model._default_manager.exclude(**{f"{model_field.name}__isnull": True})
            .annotate(raw_token=Cast(model_field.name, output_field=TextField()))
            .order_by("pk")
        )
        sql = "UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s".format(  # noqa: S608
            table=connection.ops.quote_name(model._meta.db_table),
            column=connection.ops.quote_name(column),
            pk=connection.ops.quote_name(model._meta.pk.column),
        )
        last_pk = None
        with tqdm(
            total=rows.count(), desc=model._meta.label, unit="row", disable=not sys.stderr.isatty(), file=sys.stderr
        ) as bar:
            while True:
                page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
                batch = list(page.values_list("pk", "raw_token")[:batch_size])
                if not batch:
                    return tally
                last_pk = batch[-1][0]
                updates = []
                for pk, token in batch:
                    tally.total += 1
                    if signed_by_key(token, first_key):
                        tally.current += 1
                        continue
                    try:
                        if check:
                            decrypt_str(token)
                        else:
                            updates.append((rotate_token(token), pk, token))
                    except DecryptionError:
                        tally.fail(pk)
                if updates:
                    with transaction.atomic(), connection.cursor() as cursor:
                        # Audit records are append-only; their ciphertext columns may be rewrapped, nothing else.
                        audit.allow_reencryption()
                        # The old token in WHERE: a value rewritten meanwhile by the app is left as it is.
                        cursor.executemany(sql, updates)
                    tally.done += len(updates)
                bar.update(len(batch))
