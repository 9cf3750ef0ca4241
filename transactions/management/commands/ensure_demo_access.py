"""`manage.py ensure_demo_access`: the demo admin and write token of `make run` (development only).

Tokens are stored as digests, so the demo client's token cannot be shown again: each run gives it a
new one in place of the old.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from transactions.clients import ApiClientError, api_client_create, api_client_replace_token

ADMIN_USERNAME = "admin"
CLIENT_NAME = "demo-client"


class Command(BaseCommand):
    help = (
        "Development only (refuses to run with DEBUG off): make sure the demo superuser 'admin' exists "
        "with the password given, and a write API client 'demo-client' with a new token; print both."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True, help="The demo admin's password.")

    def handle(self, *args, password: str, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_demo_access is for development and runs only with DEBUG=1.")
        users = get_user_model().objects
        admin = users.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            admin = users.create_superuser(ADMIN_USERNAME, email="admin@example.com", password=password)
        elif not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])
        try:
            if users.filter(username=CLIENT_NAME).exists():
                token = api_client_replace_token(name=CLIENT_NAME)
            else:
                token = api_client_create(name=CLIENT_NAME, scope="write")
        except ApiClientError as exc:
            raise CommandError(f"{exc} Delete the user '{CLIENT_NAME}' in admin, then run this again.") from exc
        self.stdout.write(f"Admin: http://127.0.0.1:8000/admin/  user '{ADMIN_USERNAME}'  password '{password}'")
        self.stdout.write(f"API token (write): {token.key}")
        self.stdout.write(f'Try: curl -H "Authorization: Token {token.key}" http://127.0.0.1:8000/api/v1/transactions/')
