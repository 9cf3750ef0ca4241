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

A replica that cannot be reached never fails a read: a connection that cannot be opened (or is found
broken) marks that replica down in this process for ``DATABASE_REPLICA_RETRY_AFTER`` seconds and the
read goes to another replica or the primary; a read request during which a replica query failed is
answered again from the primary (reads have no effects to repeat). After the pause, one read tries
the replica again.
"""

import contextvars
import random
import threading
import time
from contextlib import ExitStack, contextmanager

from django.conf import settings
from django.db import DatabaseError, connections, transaction

PRIMARY = "default"
_pinned: contextvars.ContextVar[bool] = contextvars.ContextVar("fido_db_pinned", default=False)
# Set when a replica query failed during the current read request: the middleware answers it again from the primary.
_replica_failed: contextvars.ContextVar[bool] = contextvars.ContextVar("fido_replica_failed", default=False)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def pin_primary() -> contextvars.Token:
    """From now on (until ``unpin``), every read in this context goes to the primary."""
    return _pinned.set(True)


def unpin(token: contextvars.Token) -> None:
    _pinned.reset(token)


@contextmanager
def bookkeeping_write():
    """For a write that no read depends on (an API client's "last used" time), made with ``.using(PRIMARY)``
    so that it does not pin the request's reads to the primary: its commit does not wait for synchronous
    standbys (``synchronous_commit = local`` for this transaction alone), so that a read request whose
    bookkeeping is due still answers while a standby is down. Inside a transaction already under way it
    changes nothing (that transaction's commit must keep waiting)."""
    connection = connections[PRIMARY]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=PRIMARY):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = local")
        yield


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICAS", []))


class ReplicaHealth:
    """Which replicas this process believes reachable: one failed connection takes a replica out of the
    rotation for ``retry_after`` seconds; then a single read (one thread) tries it again."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._down_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def take_turn(self, alias: str) -> bool:
        """True when a read may use ``alias`` now. The first caller after a pause gets the one try."""
        until = self._down_until.get(alias)
        if until is None:
            return True
        with self._lock:
            until = self._down_until.get(alias)
            if until is None:
                return True
            if self.clock() < until:
                return False
            # This caller tries it; everyone else keeps away until the try has had time to fail.
            self._down_until[alias] = self.clock() + settings.DATABASE_REPLICA_RETRY_AFTER
            return True

    def mark_down(self, alias: str) -> None:
        with self._lock:
            self._down_until[alias] = self.clock() + settings.DATABASE_REPLICA_RETRY_AFTER

    def mark_up(self, alias: str) -> None:
        if alias in self._down_until:
            with self._lock:
                self._down_until.pop(alias, None)

    def down(self) -> list[str]:
        now = self.clock()
        return sorted(alias for alias, until in self._down_until.items() if until > now)

    def reset(self) -> None:
        with self._lock:
            self._down_until.clear()


health = ReplicaHealth()


def _connected(alias: str) -> bool:
    """Open (or health-check) the replica's connection now, so that a dead replica costs this read a
    fallback instead of an error. Django does the same check on first use; this only does it first."""
    connection = connections[alias]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError:
        health.mark_down(alias)
        return False
    health.mark_up(alias)
    return True


def _is_broken(connection) -> bool:
    raw = connection.connection
    return raw is None or bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def _watch_replica(alias: str):
    """An execute wrapper: a failed replica query flags the request for an answer from the primary, and a
    connection found broken takes the replica out of the rotation."""

    def watch(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except DatabaseError:
            _replica_failed.set(True)
            if _is_broken(context["connection"]):
                health.mark_down(alias)
            raise

    return watch


class PrimaryReplicaRouter:
    """Django database router: see the module docstring for which reads stay on the primary."""

    def db_for_read(self, model, **hints):
        replicas = replica_aliases()
        if not replicas or _pinned.get() or connections[PRIMARY].in_atomic_block:
            return PRIMARY
        candidates = [alias for alias in replicas if health.take_turn(alias)]
        random.shuffle(candidates)  # load spreading, not security
        for alias in candidates:
            if _connected(alias):
                return alias
        return PRIMARY

    def db_for_write(self, model, **hints):
        _pinned.set(True)
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # Replicas receive the schema through replication, never through migrate.
        return db == PRIMARY


class PinWritesMiddleware:
    """Pins a whole write request to the primary, and leaves reads free to use a replica; a read request
    during which a replica query failed (replica stopped mid-request, a recovery conflict) is answered
    again, from the primary alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        write = request.method not in _SAFE_METHODS
        token = _pinned.set(write)
        try:
            replicas = replica_aliases()
            if write or not replicas:
                return self.get_response(request)
            failed = _replica_failed.set(False)
            try:
                with ExitStack() as stack:
                    for alias in replicas:
                        stack.enter_context(connections[alias].execute_wrapper(_watch_replica(alias)))
                    response = self.get_response(request)
                if _replica_failed.get():
                    _pinned.set(True)
                    response = self.get_response(request)
                return response
            finally:
                _replica_failed.reset(failed)
        finally:
            _pinned.reset(token)
