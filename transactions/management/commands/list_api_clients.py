"""`manage.py list_api_clients`: every client's name, scope, creation, last use and status; never a token."""

from django.core.management.base import BaseCommand

from transactions.clients import LAST_USED_RESOLUTION, api_client_list

COLUMNS = ("NAME", "SCOPE", "CREATED", "LAST USED", "STATUS")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


class Command(BaseCommand):
    help = (
        "List API clients: name, scope, created, last used (to the minute: "
        f"written at most every {int(LAST_USED_RESOLUTION.total_seconds())} s) and status. Never shows a token."
    )

    def handle(self, *args, **options):
        rows = [
            (
                client.user.get_username(),
                client.scope,
                _when(client.created_at),
                _when(client.last_used_at),
                f"revoked {_when(client.revoked_at)}" if client.revoked_at else "active",
            )
            for client in api_client_list()
        ]
        if not rows:
            self.stderr.write("No API clients. Create one with create_api_client NAME --scope read|write.")
            return
        widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
        for row in [COLUMNS, *rows]:
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
