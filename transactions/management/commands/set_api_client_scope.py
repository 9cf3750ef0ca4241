"""`manage.py set_api_client_scope NAME --scope read|write`: change what a client may do (every worker: ≤ 10 s)."""

from django.core.management.base import BaseCommand, CommandError

from fido.authentication import CLIENT_CACHE_SECONDS
from transactions.clients import SCOPES, ApiClientError, api_client_set_scope


class Command(BaseCommand):
    help = (
        "Change an API client's scope (read: view permissions; write: also add, change and delete). Its "
        f"token stays the same; every worker applies the new scope within {int(CLIENT_CACHE_SECONDS)} seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The client's name, as list_api_clients shows it.")
        parser.add_argument("--scope", choices=SCOPES, required=True, help="read or write.")

    def handle(self, *args, name: str, scope: str, **options):
        try:
            api_client_set_scope(name=name.strip(), scope=scope)
        except ApiClientError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"API client '{name.strip()}' now has scope {scope}; every worker applies it within "
            f"{int(CLIENT_CACHE_SECONDS)} seconds."
        )
