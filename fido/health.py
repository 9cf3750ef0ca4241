"""Liveness and readiness (docs/operators.md, "Health").

`/healthz` answers while the process runs. `/readyz` asks the database, the cache and the broker,
each in a thread of its own bounded by ``HEALTH_CHECK_TIMEOUT`` seconds so a hung dependency can
never hang the probe; while a check's thread is still running, later probes wait on it instead of
starting another (PostgreSQL connections also give up after ``DB_CONNECT_TIMEOUT`` seconds).
Only the database decides readiness: without the cache the API serves uncached, and without the
broker writes still commit and their processing waits in the outbox.
"""

import threading
import time
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

OK = {"status": "ok"}


# The thread of each check still running from an earlier probe, with the outcome it will fill in.
_in_flight: dict[str, tuple[threading.Thread, dict]] = {}
_in_flight_lock = threading.Lock()


def _start(name: str, check: Callable[[], dict | None]) -> tuple[threading.Thread, dict, bool]:
    """Start a check in a daemon thread, or join the one still running from an earlier probe, so a
    hung dependency leaves at most one stuck thread per check. Returns (thread, outcome, joined)."""

    def run(outcome: dict) -> None:
        try:
            outcome["result"] = check() or OK
        except Exception as exc:  # any failure of a dependency is a reason to report
            outcome["error"] = exc

    with _in_flight_lock:
        running = _in_flight.get(name)
        if running is not None and running[0].is_alive():
            return *running, True
        outcome: dict = {}
        thread = threading.Thread(target=run, args=(outcome,), name=f"readyz-{name}", daemon=True)
        thread.start()
        _in_flight[name] = (thread, outcome)
        return thread, outcome, False


def run_bounded(checks: dict[str, Callable[[], dict | None]], timeout: float) -> dict[str, dict]:
    """Run every check at once, each in a daemon thread; a result, a failure or a time-out each."""
    deadline = time.monotonic() + timeout
    started = {name: _start(name, check) for name, check in checks.items()}
    results = {}
    for name, (thread, outcome, joined) in started.items():
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            detail = "check still running since an earlier probe" if joined else f"no answer within {timeout:g} s"
            results[name] = {"status": "failing", "reason": "TimeoutError", "detail": detail}
        elif "error" in outcome:
            results[name] = {"status": "failing", "reason": _reason(outcome["error"])}
        else:
            results[name] = outcome["result"]
    return results


def _reason(exc: Exception) -> str:
    # The class alone: drivers' messages name hosts, ports, users and sometimes a whole URL with its
    # password ("Error 111 connecting to 10.0.0.5:6379"), none of which may leave the process.
    return type(exc).__name__


def check_database() -> None:
    """The primary answers a trivial query (a fresh connection, closed again, in this thread)."""
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def check_cache() -> dict | None:
    """Redis answers PING (django-redis would swallow errors, so ask its client directly)."""
    client = getattr(cache, "client", None)
    if client is not None and hasattr(client, "get_client"):
        client.get_client(write=True).ping()
        return None
    return {"status": "ok", "detail": "in-process cache"}


def check_broker() -> dict | None:
    """The Celery broker accepts a connection; without one, tasks run in-process."""
    if not settings.CELERY_BROKER_URL:
        return {"status": "ok", "detail": "no broker: tasks run in-process after commit"}
    from fido.celery import app

    with app.connection_for_write(url=settings.CELERY_BROKER_URL) as connection:
        # One attempt, no pause before it (kombu's default waits 2 s first, longer than the check may take).
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEALTH_CHECK_TIMEOUT)
    return None


CHECKS: dict[str, Callable[[], dict | None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


@never_cache
@require_safe
def healthz(request):
    """Liveness: 200 while the process runs."""
    return JsonResponse({"status": "ok"})


class HealthCheckMiddleware:
    """Answers the probes first: before host validation (a probe calls the pod or container by its
    address, not by an allowed host name), before the HTTPS redirect, and without a log line."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.probes = {"/healthz": healthz, "/readyz": readyz}

    def __call__(self, request):
        probe = self.probes.get(request.path_info)
        return probe(request) if probe else self.get_response(request)


@never_cache
@require_safe
def readyz(request):
    """Readiness: 200 when the database answers, else 503; cache and broker are reported only."""
    results = run_bounded(CHECKS, settings.HEALTH_CHECK_TIMEOUT)
    ready = results["database"]["status"] == "ok"
    return JsonResponse(
        {"status": "ready" if ready else "not ready", **results},
        status=HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
    )
