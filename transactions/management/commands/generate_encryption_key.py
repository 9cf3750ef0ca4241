"""`manage.py generate_encryption_key`: print a new Fernet key for FIELD_ENCRYPTION_KEYS."""

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Print a new random key for FIELD_ENCRYPTION_KEYS (a Fernet key: 32 random bytes, URL-safe base64), "
        "alone on one line. To rotate keys, put it first in FIELD_ENCRYPTION_KEYS, keep the old keys after "
        "it, then run rotate_encryption_keys. Keep keys secret: anyone with one can read the names."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        self.stdout.write(Fernet.generate_key().decode("ascii"))
