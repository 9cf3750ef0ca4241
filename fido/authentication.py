"""API clients' token authentication and permissions, with no SQL on a warm token.

- ``ClientTokenAuthentication`` takes ``Authorization: Token <key>``, hashes the key (SHA-512, as
  django-rest-knox stores it) and resolves the digest to its client and scope through
  ``client_cache``: a per-process cache, bounded, whose entries live ``CLIENT_CACHE_SECONDS``. A
  revoked, re-scoped or deactivated client is therefore refused by every worker at most that long
  after the change (the service promises 10 s). A miss reads the primary database once, and records the
  client's "last used" at most once a minute (transactions.clients.api_client_touch). Any other
  scheme is a 401 that names ``Token``.
- ``ApiClientScopeBackend`` answers a client's ``has_perm`` from its scope, so DRF's model
  permission check and the name masking cost no query; for anyone else (staff sessions, admin) it
  steps aside and Django's ``ModelBackend`` decides.
"""

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.settings import knox_settings
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from transactions.clients import SCOPE_PERMISSIONS, ResolvedClient, api_client_for_token_digest, api_client_touch

# Within the promised 10 s, with room for a request already past authentication when the change lands.
CLIENT_CACHE_SECONDS = 5.0
# Far above the number of backend services; bounds memory if many distinct tokens are presented.
CLIENT_CACHE_ENTRIES = 1024
# `fido_` and 64 hex digits; 40 hex digits for clients created before tokens were hashed (DRF's keys).
TOKEN_SHAPE = re.compile(rf"{re.escape(knox_settings.TOKEN_PREFIX)}[0-9a-f]{{64}}|[0-9a-f]{{40}}")

REFUSED_DETAIL = "Invalid token."


class ClientCache:
    """Token digest → resolved client, for this process: short-lived, least recently used evicted first."""

    def __init__(self, *, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, ResolvedClient]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> ResolvedClient | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires, client = entry
            if self.clock() >= expires:
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return client

    def put(self, digest: str, client: ResolvedClient, *, read_at: float) -> None:
        """Keep `client` until TTL after `read_at`, the moment before the database was read."""
        with self._lock:
            self._entries[digest] = (read_at + self.ttl, client)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


client_cache = ClientCache(ttl=CLIENT_CACHE_SECONDS, max_entries=CLIENT_CACHE_ENTRIES)


class ClientTokenAuthentication(TokenAuthentication):
    """knox's token authentication, resolved through ``client_cache``; ``request.auth`` is the ResolvedClient."""

    def authenticate(self, request) -> tuple | None:
        header = get_authorization_header(request).split()
        if not header:
            return None  # no credentials: session authentication may still apply
        if header[0].lower() != self.authenticate_header(request).lower().encode():
            raise AuthenticationFailed('Unsupported authorization scheme: send "Authorization: Token <key>".')
        if len(header) == 1:
            raise AuthenticationFailed("Invalid token header. No credentials provided.")
        if len(header) > 2:
            raise AuthenticationFailed("Invalid token header. Token string should not contain spaces.")
        return self.authenticate_credentials(header[1])

    def authenticate_credentials(self, token: bytes) -> tuple:
        key = token.decode("latin-1")
        if not TOKEN_SHAPE.fullmatch(key):  # refused without a query
            raise AuthenticationFailed(REFUSED_DETAIL)
        digest = hash_token(key)
        client = client_cache.get(digest)
        if client is None:
            read_at = client_cache.clock()
            client = api_client_for_token_digest(digest)
            if client is None:
                raise AuthenticationFailed(REFUSED_DETAIL)
            api_client_touch(client=client)
            client_cache.put(digest, client, read_at=read_at)
        return client.request_user(), client


class ApiClientScopeBackend:
    """An API client's permissions are exactly its scope's; users without a scope fall through to the next backend.

    A permission backend only: it logs no one in and loads no session user (no ``get_user``), so logins
    and sessions stay with ModelBackend.
    """

    def authenticate(self, request, **credentials) -> None:
        return None

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        scope = getattr(user_obj, "api_scope", None)
        if scope is None:
            return False
        if perm in SCOPE_PERMISSIONS[scope]:
            return True
        raise PermissionDenied  # the scope is the whole answer: no later backend may widen it

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        scope = getattr(user_obj, "api_scope", None)
        if scope is None:
            return False
        if any(perm.startswith(f"{app_label}.") for perm in SCOPE_PERMISSIONS[scope]):
            return True
        raise PermissionDenied


class ClientTokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI security scheme: Swagger UI's Authorize takes `Token <key>`."""

    target_class = ClientTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")  # noqa: S106 - a scheme name
