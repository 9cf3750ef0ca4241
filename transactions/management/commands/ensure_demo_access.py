"""`manage.py ensure_demo_access`: the demo admin and write token of `make run` (development only)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from transactions.clients import api_client_create

ADMIN_USERNAME = "admin"
CLIENT_NAME = "demo-client"


class Command(BaseCommand):
    help = (
        "Development only (refuses to run with DEBUG off): make sure the demo superuser 'admin' exists "
        "with the password given, and a write API client 'demo-client'; print both."
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
        token = Token.objects.filter(user__username=CLIENT_NAME).first()
        if token is None:
            token = api_client_create(name=CLIENT_NAME, scope="write")
        self.stdout.write(f"Admin: http://127.0.0.1:8000/admin/  user '{ADMIN_USERNAME}'  password '{password}'")
        self.stdout.write(f"API token (write): {token.key}")
        self.stdout.write(f'Try: curl -H "Authorization: Token {token.key}" http://127.0.0.1:8000/api/v1/transactions/')
