"""`manage.py ensure_demo_access`: the demo admin, the demo clerk and the write token of `make run` (development only).

The admin is a superuser and sees owners' full names; the clerk is staff who may look at transactions, alerts,
credit profiles and processing, but without `transactions.view_full_name`, so names show masked in admin and in
the browsable API. Tokens are stored as digests, so the demo client's token cannot be shown again: each run gives
it a new one in place of the old.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from transactions.clients import ApiClientError, api_client_create, api_client_replace_token

ADMIN_USERNAME = "admin"
CLERK_USERNAME = "clerk"
CLIENT_NAME = "demo-client"
# What the clerk may see (app label, codename); never transactions.view_full_name.
CLERK_PERMISSIONS = [
    ("transactions", "view_transaction"),
    ("transactions", "view_outboxevent"),
    ("analytics", "view_alert"),
    ("analytics", "view_creditprofile"),
    ("analytics", "view_userstatistics"),
]


class Command(BaseCommand):
    help = (
        "Development only (refuses to run with DEBUG off): make sure the demo superuser 'admin' and the demo "
        "clerk 'clerk' (staff who see names masked) exist with the password given, and a write API client "
        "'demo-client' with a new token; print them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True, help="The demo admin's and clerk's password.")
        parser.add_argument(
            "--base-url", default="http://127.0.0.1:8000", help="Where the service is served, for the printed links."
        )

    def handle(self, *args, password: str, base_url: str, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_demo_access is for development and runs only with DEBUG=1.")
        users = get_user_model().objects
        admin = users.filter(username=ADMIN_USERNAME).first()
        if admin is None:
            admin = users.create_superuser(ADMIN_USERNAME, email="admin@example.com", password=password)
        elif not admin.check_password(password):
            admin.set_password(password)
            admin.save(update_fields=["password"])
        self._ensure_clerk(password)
        try:
            if users.filter(username=CLIENT_NAME).exists():
                token = api_client_replace_token(name=CLIENT_NAME)
            else:
                token = api_client_create(name=CLIENT_NAME, scope="write")
        except ApiClientError as exc:
            raise CommandError(f"{exc} Delete the user '{CLIENT_NAME}' in admin, then run this again.") from exc
        base = base_url.rstrip("/")
        self.stdout.write(f"API docs: {base}/api/docs/  (Authorize: Token {token.key})")
        logins = [("Admin", ADMIN_USERNAME, "full names"), ("Clerk", CLERK_USERNAME, "names masked")]
        for label, username, sees in logins:
            self.stdout.write(f"{label}:    {base}/admin/  user '{username}'  password '{password}'  (sees {sees})")
        self.stdout.write(f"API token (write): {token.key}")
        self.stdout.write(f'Try: curl -H "Authorization: Token {token.key}" {base}/api/v1/transactions/')

    @staticmethod
    def _ensure_clerk(password: str) -> None:
        """Staff, not superuser, with exactly CLERK_PERMISSIONS: what a back-office clerk without names sees."""
        clerk, _ = get_user_model().objects.get_or_create(username=CLERK_USERNAME)
        clerk.is_staff, clerk.is_superuser, clerk.is_active = True, False, True
        clerk.set_password(password)
        clerk.save()
        wanted = Q()
        for app_label, codename in CLERK_PERMISSIONS:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        clerk.user_permissions.set(Permission.objects.filter(wanted))
        clerk.groups.clear()
