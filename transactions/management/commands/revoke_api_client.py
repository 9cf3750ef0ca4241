"""`manage.py revoke_api_client NAME`: the client's tokens stop working on every worker within 10 seconds."""

from django.core.management.base import BaseCommand, CommandError

from fido.authentication import CLIENT_CACHE_SECONDS
from transactions.clients import ApiClientError, api_client_revoke


class Command(BaseCommand):
    help = (
        "Revoke an API client: delete its tokens and mark it revoked (its name stays taken). Every worker "
        f"refuses the tokens within {int(CLIENT_CACHE_SECONDS)} seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The client's name, as list_api_clients shows it.")

    def handle(self, *args, name: str, **options):
        try:
            client, changed = api_client_revoke(name=name.strip())
        except ApiClientError as exc:
            raise CommandError(str(exc)) from exc
        if changed:
            self.stdout.write(
                f"Revoked API client '{name.strip()}'; every worker refuses its tokens within "
                f"{int(CLIENT_CACHE_SECONDS)} seconds."
            )
        else:
            self.stdout.write(
                f"API client '{name.strip()}' was already revoked on {client.revoked_at:%Y-%m-%d %H:%M} UTC."
            )
