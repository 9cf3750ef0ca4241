"""Reads on replicas, writes and fresh reads on the primary (`DATABASE_REPLICA_URLS`).

A read goes to a replica only when nothing in the current request or task needs it fresh. It stays
on the primary when:
- it runs inside a transaction on the primary (``atomic``: the write path, row locks);
- the same request or task has already written (read-your-writes within a request);
- the request is a write (POST, PUT, PATCH, DELETE: the whole request is pinned by the middleware);
- it runs in a Celery task (derived figures are computed right after the write they follow).
Reads from other requests see the primary's commits only as fast as replication applies them, so
replicas listed here must apply synchronously (`synchronous_commit = remote_apply`) for the API's
read-after-write promise to hold across requests; see docs/performance.md ("Scaling").
"""

import contextvars
import random

from django.conf import settings
from django.db import connections

PRIMARY = "default"
_pinned: contextvars.ContextVar[bool] = contextvars.ContextVar("fido_db_pinned", default=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def pin_primary() -> contextvars.Token:
    """From now on (until ``unpin``), every read in this context goes to the primary."""
    return _pinned.set(True)


def unpin(token: contextvars.Token) -> None:
    _pinned.reset(token)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", []))


class PrimaryReplicaRouter:
    """Django database router: see the module docstring for which reads stay on the primary."""

    def db_for_read(self, model, **hints):
        replicas = replica_aliases()
        if not replicas or _pinned.get() or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        return random.choice(replicas)  # noqa: S311 - load spreading, not security

    def db_for_write(self, model, **hints):
        _pinned.set(True)
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # Replicas receive the schema through replication, never through migrate.
        return db == PRIMARY


class PinWritesMiddleware:
    """Pins a whole write request to the primary, and leaves reads free to use a replica."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _pinned.set(request.method not in _SAFE_METHODS)
        try:
            return self.get_response(request)
        finally:
            _pinned.reset(token)
