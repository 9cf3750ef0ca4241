"""`manage.py create_api_client NAME --scope read|write`: a new API client; its token on the last line."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from transactions.clients import SCOPES, api_client_create


class Command(BaseCommand):
    help = (
        "Create an API client and print its token alone on the last line (shown this once: only its digest "
        "is stored). --scope read grants view permissions; --scope write also add, change and delete."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="A unique name for the client, such as 'ledger-service'.")
        parser.add_argument("--scope", choices=SCOPES, required=True, help="read or write.")

    def handle(self, *args, name: str, scope: str, **options):
        name = name.strip()
        if not name or len(name) > 150:
            raise CommandError("NAME must be 1 to 150 characters.")
        if get_user_model().objects.filter(username=name).exists():
            raise CommandError(f"A user or client named '{name}' already exists.")
        token = api_client_create(name=name, scope=scope)
        self.stderr.write(f"Created {scope} client '{name}'. Its token (keep it secret):")
        self.stdout.write(token.key)
