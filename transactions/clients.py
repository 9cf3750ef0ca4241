"""API clients: a Django user with model permissions and a DRF token (SPEC §3)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from rest_framework.authtoken.models import Token

SCOPES = ("read", "write")
# The models an API client works with; analytics and processing models join as their apps add them.
CLIENT_MODELS = {"transactions": ["transaction"], "analytics": ["alert", "creditprofile"]}


def scope_permissions(scope: str) -> list[Permission]:
    """`view_*` for read; also add/change/delete for write."""
    actions = ["view"] if scope == "read" else ["view", "add", "change", "delete"]
    # Clients are authorised for names (SPEC §5: returned in plain text to authorised clients).
    perms = list(Permission.objects.filter(content_type__app_label="transactions", codename="view_full_name"))
    for app_label, models in CLIENT_MODELS.items():
        codenames = [f"{action}_{model}" for model in models for action in actions]
        perms += list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    return perms


def sync_scope_groups(**kwargs) -> None:
    """Give the existing `api-read`/`api-write` groups exactly their scope's permissions.

    Runs after every `migrate` (post_migrate), so clients created before a model joined
    CLIENT_MODELS get its permissions too.
    """
    for scope in SCOPES:
        group = Group.objects.filter(name=f"api-{scope}").first()
        if group is not None:
            group.permissions.set(scope_permissions(scope))


@transaction.atomic
def api_client_create(*, name: str, scope: str) -> Token:
    """Create a client user in the `api-<scope>` group and return its new token."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    group, _ = Group.objects.get_or_create(name=f"api-{scope}")
    group.permissions.set(scope_permissions(scope))
    user = get_user_model().objects.create_user(username=name)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    user.groups.add(group)
    return Token.objects.create(user=user)
