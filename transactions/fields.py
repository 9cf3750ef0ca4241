"""Encryption at rest for personal data: a Fernet-encrypted text field and the keyed name hash.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (first encrypts, all decrypt), so rotation is:
prepend a new key, run ``rotate_encryption_keys``, then drop the old key. Nothing here ever reaches
a migration: the field's deconstruction carries no key.
"""

import hashlib
import hmac
import unicodedata
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

from .rules import ZERO_WIDTH


class DecryptionError(Exception):
    """A stored token that none of the configured keys opens; never answered with ciphertext."""


@lru_cache(maxsize=1)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    """The MultiFernet for the configured keys, the first of which encrypts."""
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(value: str) -> str:
    """Encrypt text under the first key; a fresh IV each time, so equal names differ in the database."""
    return fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_str(token: str) -> str:
    """Decrypt a token with any configured key, or raise DecryptionError."""
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise DecryptionError("The stored value cannot be decrypted with the configured keys.") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt a token under the first key (raises DecryptionError if no key opens it)."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError) as exc:
        raise DecryptionError("The stored value cannot be decrypted with the configured keys.") from exc


# Left out of the hash: what looks the same must be found by the same search (rules.ZERO_WIDTH says which).
_WITHOUT_ZERO_WIDTH = dict.fromkeys(map(ord, ZERO_WIDTH))


def normalize_name(value: str) -> str:
    """The form of a name that the hash sees: NFC, zero-width characters left out, trimmed, inner spaces
    collapsed, case-folded. A change here needs a migration that re-hashes the stored names (see 0004)."""
    return " ".join(unicodedata.normalize("NFC", value.translate(_WITHOUT_ZERO_WIDTH)).split()).casefold()


def name_hash(value: str) -> str:
    """Keyed HMAC-SHA256 of the normalised name: lets staff find a name by exact match, reveals nothing."""
    return hmac.new(
        settings.FIELD_HASH_KEY.encode("utf-8"), normalize_name(value).encode("utf-8"), hashlib.sha256
    ).hexdigest()


class EncryptedTextField(models.TextField):
    """Text stored as a Fernet token; plain in Python, ciphertext in the database.

    Only ``isnull`` lookups are allowed: any other lookup would compare against ciphertext and
    silently match nothing, so it raises instead. Search by value through a hash column.
    """

    description = "Text encrypted with Fernet"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt_str(str(value))

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt_str(value)

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise NotImplementedError(
                f"EncryptedTextField does not support the '{lookup_name}' lookup; search through the hash column."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        raise NotImplementedError("EncryptedTextField does not support transforms.")


@receiver(setting_changed)
def _reset_keys(*, setting, **kwargs):
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet_for.cache_clear()
