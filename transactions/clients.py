"""API clients: create, list, re-scope and revoke them; find the client a token stands for.

A client is a Django user (its username is the client's name, its password unusable) with an
``ApiClient`` row holding its scope. Its tokens are django-rest-knox rows: a token exists in plain
text only in the answer to the command that made it; the database keeps its SHA-512 digest.
The scope *is* the client's set of model permissions (``SCOPE_PERMISSIONS``):
fido/authentication.py answers permission checks from it without SQL, and no group or per-user
permission widens or narrows a client.
"""

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from knox.models import AuthToken

from fido import db_router
from fido.db_router import PRIMARY

from .client_models import ApiClient

SCOPES = tuple(ApiClient.Scope.values)
# The models an API client works with, per app.
CLIENT_MODELS = {"transactions": ["transaction"], "analytics": ["alert", "creditprofile"]}
# Clients are authorised for names: the API returns them in plain text to clients.
FULL_NAME_PERMISSION = "transactions.view_full_name"
# "Last used" is exact to this much: a worker writes it at most once this often per client.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _scope_permissions(scope: str) -> frozenset[str]:
    actions = ["view"] if scope == ApiClient.Scope.READ else ["view", "add", "change", "delete"]
    return frozenset(
        [FULL_NAME_PERMISSION]
        + [
            f"{app_label}.{action}_{model}"
            for app_label, models in CLIENT_MODELS.items()
            for model in models
            for action in actions
        ]
    )


# `view_*` (and the full name) for read; also add/change/delete for write.
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {scope: _scope_permissions(scope) for scope in SCOPES}


class ApiClientError(ValueError):
    """An operator's request about a client that cannot be honoured (unknown name, revoked client)."""


@dataclass(frozen=True)
class IssuedToken:
    """A client and its new token: the one moment the token exists outside the client's hands."""

    client: ApiClient
    key: str

    @property
    def user(self) -> AbstractBaseUser:
        return self.client.user


@dataclass(frozen=True)
class ResolvedClient:
    """What a token stands for: enough to authenticate and authorise a request with no further query."""

    client_id: int
    name: str
    scope: str
    last_used_at: datetime | None
    user: AbstractBaseUser  # a snapshot; request_user() hands out copies

    def request_user(self) -> AbstractBaseUser:
        """The client's user for one request, carrying its scope (read by ApiClientScopeBackend)."""
        user = copy.copy(self.user)
        user.api_scope = self.scope
        return user


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ApiClientError(f"scope must be one of {', '.join(SCOPES)}")


def _issue_token(client: ApiClient) -> IssuedToken:
    _, key = AuthToken.objects.create(user=client.user, expiry=None)
    return IssuedToken(client=client, key=key)


def _client_for_update(name: str) -> ApiClient:
    client = ApiClient.objects.select_for_update().select_related("user").filter(user__username=name).first()
    if client is None:
        raise ApiClientError(f"There is no API client named '{name}'.")
    return client


@transaction.atomic
def api_client_create(*, name: str, scope: str) -> IssuedToken:
    """Create a client (a user with an unusable password) of the given scope and its first token."""
    _check_scope(scope)
    user = get_user_model().objects.create_user(username=name)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return _issue_token(ApiClient.objects.create(user=user, scope=scope))


@transaction.atomic
def api_client_set_scope(*, name: str, scope: str) -> ApiClient:
    """Change a client's scope; every worker applies it within its cache's lifetime (≤ 10 s)."""
    _check_scope(scope)
    client = _client_for_update(name)
    if client.revoked_at is not None:
        raise ApiClientError(f"The API client '{name}' is revoked.")
    client.scope = scope
    client.save(update_fields=["scope"])
    return client


@transaction.atomic
def api_client_revoke(*, name: str) -> tuple[ApiClient, bool]:
    """Delete the client's tokens and mark it revoked; (client, False) when it already was."""
    client = _client_for_update(name)
    AuthToken.objects.filter(user=client.user).delete()
    if client.revoked_at is not None:
        return client, False
    client.revoked_at = timezone.now()
    client.save(update_fields=["revoked_at"])
    return client, True


@transaction.atomic
def api_client_replace_token(*, name: str) -> IssuedToken:
    """Give an active client a new token in place of all its current ones."""
    client = _client_for_update(name)
    if client.revoked_at is not None:
        raise ApiClientError(f"The API client '{name}' is revoked.")
    AuthToken.objects.filter(user=client.user).delete()
    return _issue_token(client)


def api_client_touch(*, client: ResolvedClient, now: datetime | None = None) -> None:
    """Record that the client was seen: one UPDATE at most per LAST_USED_RESOLUTION, skipped when recent."""
    now = now or timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if client.last_used_at is not None and client.last_used_at > stale:
        return
    # Conditional, so workers resolving the same client at once write it once. Bookkeeping that no read
    # depends on: it leaves the request's reads free to use a replica, and never waits for a standby.
    with db_router.bookkeeping_write():
        ApiClient.objects.using(PRIMARY).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=client.client_id
        ).update(last_used_at=now)


def api_client_list() -> QuerySet[ApiClient]:
    """Every client, revoked ones included, by name."""
    return ApiClient.objects.select_related("user").order_by("user__username")


def api_client_for_token_digest(digest: str) -> ResolvedClient | None:
    """The active client holding the token with this digest, read from the primary (a revocation is fresh there)."""
    token = (
        AuthToken.objects.using(PRIMARY)
        .select_related("user__api_client")
        .filter(
            Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()),
            digest=digest,
            user__is_active=True,
            user__api_client__isnull=False,
            user__api_client__revoked_at__isnull=True,
        )
        .first()
    )
    if token is None:
        return None
    client = token.user.api_client
    return ResolvedClient(
        client_id=client.pk,
        name=token.user.get_username(),
        scope=client.scope,
        last_used_at=client.last_used_at,
        user=token.user,
    )
