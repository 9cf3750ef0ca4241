"""Fixtures of the production-readiness tests: services-mode skip, a replica alias, log capture."""

import io
import logging

import pytest
from django.conf import settings

from fido.logs import RedactingFilter

# A second database alias for the router tests: the same test database, reached by its own
# connection (Django's test "mirror"), as a replica of the primary would be.
settings.DATABASES.setdefault(
    "replica_1",
    {**settings.DATABASES["default"], "TEST": {**settings.DATABASES["default"].get("TEST", {}), "MIRROR": "default"}},
)


def services_configured() -> bool:
    return (
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3"
        and bool(settings.REDIS_URL)
        and bool(settings.CELERY_BROKER_URL)
    )


@pytest.fixture(autouse=True)
def _skip_without_services(request):
    if request.node.get_closest_marker("services") and not services_configured():
        pytest.skip("needs PostgreSQL, Redis and a Celery broker (services mode)")


@pytest.fixture
def log_output():
    """Everything the configured log handlers write during the test, through their real filters."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and any(isinstance(f, RedactingFilter) for f in handler.filters)
    ]
    assert handlers, "settings.LOGGING must put the redacting filter on the root handler"
    stream = io.StringIO()
    previous = [handler.setStream(stream) for handler in handlers]
    yield stream
    for handler, old in zip(handlers, previous, strict=True):
        handler.setStream(old)
