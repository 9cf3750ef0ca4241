"""The API client: a named backend service with a scope; its tokens are knox rows holding only digests."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiClient(models.Model):
    """A backend service allowed to call the API within its scope; named by its user's username."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_client")
    scope = models.CharField(max_length=5, choices=Scope.choices)
    created_at = models.DateTimeField(default=timezone.now)
    # Written when a worker resolves the client's token afresh, at most once a minute (fido/authentication.py).
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Kept, not deleted: the name stays taken and the record says when access ended.
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API client"

    def __str__(self) -> str:
        return f"API client {self.user_id} ({self.scope})"
