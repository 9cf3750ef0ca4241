"""Start-up checks of the environment (docs/operators.md): a value that would only fail when first used (a
request, a task, a push) stops start-up instead, with a message naming the variable.

Secrets and URLs (which may hold a password) are never echoed; other values are, to help spot the typo.
Called by fido/settings.py before any value is read, so every process (web, worker, beat, manage.py)
refuses a bad environment the same way.
"""

import re
import zoneinfo
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from fido.proxy import parse_allowed

# django-environ reads these words as true; anything else it silently reads as false.
_TRUE = {"true", "on", "ok", "y", "yes", "1"}
_FALSE = {"false", "off", "n", "no", "0", ""}
_RATE = re.compile(r"^\s*[1-9]\d*\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")
_LOG_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}
MIN_TOKEN_LENGTH = 16
_BEARER_TOKEN = re.compile(rf"^(?=.{{{MIN_TOKEN_LENGTH},}}$)[A-Za-z0-9\-._~+/]+=*$")

BOOLEANS = (
    "DEBUG",
    "HTTPS_ONLY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "METRICS_ENABLED",
)
# name: smallest allowed value
POSITIVE_INTEGERS = {
    "ANALYTICS_CACHE_TTL": 1,
    "OVERVIEW_MAX_AGE": 1,
    "DB_CONNECT_TIMEOUT": 1,
    "ADMIN_LOGIN_FAILURE_LIMIT": 1,
    "ADMIN_LOGIN_COOLOFF_MINUTES": 1,
    "OUTBOX_RETENTION_DAYS": 1,
    "DATABASE_REPLICA_RETRY_AFTER": 1,
}
NON_NEGATIVE_INTEGERS = ("CONN_MAX_AGE", "SECURE_HSTS_SECONDS")
POSITIVE_SECONDS = (
    "REDIS_CONNECT_TIMEOUT",
    "REDIS_SOCKET_TIMEOUT",
    "ALERT_WEBHOOK_TIMEOUT",
    "HEALTH_CHECK_TIMEOUT",
    "OUTBOX_RELAY_INTERVAL",
)
URL_SCHEMES = {
    "DATABASE_URL": {"postgres", "postgresql", "pgsql", "sqlite"},
    "REDIS_URL": {"redis", "rediss", "unix"},
    "CELERY_BROKER_URL": {"redis", "rediss", "amqp", "amqps", "pyamqp"},
    "ALERT_WEBHOOK_URL": {"http", "https"},
}


def _boolean(value: str) -> str | None:
    if value.strip().lower() not in _TRUE | _FALSE:
        return f"must be 1 or 0 (true/false, yes/no, on/off), not {value!r}"
    return None


def _integer(minimum: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = int(value.strip())
        except ValueError:
            return f"must be a whole number, not {value!r}"
        return None if number >= minimum else f"must be at least {minimum}, not {number}"

    return check


def _seconds(value: str) -> str | None:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return f"must be a number of seconds, not {value!r}"
    return None if number.is_finite() and number > 0 else f"must be a number of seconds above 0, not {value!r}"


def _url(schemes: set[str]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        for url in filter(None, (part.strip() for part in value.split(","))):
            try:
                parts = urlsplit(url)
            except ValueError:
                return "is not a URL"
            if parts.scheme not in schemes:
                shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
                return f"must start with one of {', '.join(f'{s}://' for s in sorted(schemes))}, not {shown}"
            if parts.scheme in {"http", "https"} and not parts.hostname:
                return "names no host"
        return None

    return check


def _rate(value: str) -> str | None:
    if value.strip() and not _RATE.match(value):
        return f"must be N/s, N/min, N/hour or N/day (N at least 1), or empty for no limit, not {value!r}"
    return None


def _time_zone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"is not a known time zone (such as UTC or Europe/Paris): {value!r}"
    return None


def _choice(choices: set[str], *, upper: bool = False) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        normalised = value.strip().upper() if upper else value.strip()
        return None if normalised in choices else f"must be one of {', '.join(sorted(choices))}, not {value!r}"

    return check


def _forwarded_allow_ips(value: str) -> str | None:
    if not value.strip():
        return "must name the proxy's address (or network), not be empty"
    try:
        parse_allowed(value)
    except ValueError as exc:
        return f"must be comma-separated IP addresses or networks (or *): {exc}"
    return None


def _bearer_token(value: str) -> str | None:
    # Never quoted: it is a secret. What Prometheus sends as `Authorization: Bearer <token>` (RFC 6750's
    # token characters), and long enough not to be guessed.
    if not _BEARER_TOKEN.match(value):
        return (
            f"must be at least {MIN_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + / (then = only), "
            "or empty for an open /metrics"
        )
    return None


def fernet_key_problem(keys: list[str]) -> str | None:
    """Why the keys cannot be used (which entry), without ever quoting one; None when all are valid."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            return (
                f"entry {position} of {len(keys)} is not a valid Fernet key (32 url-safe base64-encoded bytes, "
                "ending in '='; `manage.py generate_encryption_key` makes one)"
            )
    return None


CHECKS: dict[str, Callable[[str], str | None]] = {
    **dict.fromkeys(BOOLEANS, _boolean),
    **{name: _integer(minimum) for name, minimum in POSITIVE_INTEGERS.items()},
    **dict.fromkeys(NON_NEGATIVE_INTEGERS, _integer(0)),
    **dict.fromkeys(POSITIVE_SECONDS, _seconds),
    **{name: _url(schemes) for name, schemes in URL_SCHEMES.items()},
    "DATABASE_REPLICA_URLS": _url(URL_SCHEMES["DATABASE_URL"] - {"sqlite"}),
    "THROTTLE_RATE_USER": _rate,
    "THROTTLE_RATE_ANON": _rate,
    "TIME_ZONE": _time_zone,
    "LOG_FORMAT": _choice({"json", "plain"}),
    "LOG_LEVEL": _choice(_LOG_LEVELS, upper=True),
    "FORWARDED_ALLOW_IPS": _forwarded_allow_ips,
    "METRICS_TOKEN": _bearer_token,
    "DATABASE_POOLER": _choice({"pgbouncer"}),
}
# Empty means unset for these (the default applies); for the others an empty value is itself an error.
EMPTY_IS_UNSET = {
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ALERT_WEBHOOK_URL",
    "DATABASE_REPLICA_URLS",
    "METRICS_TOKEN",
    "DATABASE_POOLER",
}


def _combinations(environ: Mapping[str, str]) -> list[str]:
    """Values that are each valid but cannot be used together."""
    problems = []
    database_scheme = urlsplit(environ.get("DATABASE_URL") or "sqlite://").scheme
    if (environ.get("DATABASE_POOLER") or "").strip() and database_scheme == "sqlite":
        problems.append("DATABASE_POOLER needs DATABASE_URL to lead to PostgreSQL (through the pooler), not SQLite")
    return problems


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise ImproperlyConfigured naming every variable whose value is unusable."""
    problems = []
    for name, check in CHECKS.items():
        value = environ.get(name)
        if value is None or (not value.strip() and name in EMPTY_IS_UNSET):
            continue
        problem = check(value)
        if problem:
            problems.append(f"{name} {problem}")
    problems += _combinations(environ)
    if problems:
        raise ImproperlyConfigured("Invalid environment: " + "; ".join(problems) + ".")


def check_fernet_keys(name: str, keys: list[str]) -> None:
    """Raise ImproperlyConfigured naming `name` when one of the keys is not a Fernet key (never quoting it)."""
    problem = fernet_key_problem(keys)
    if problem:
        raise ImproperlyConfigured(f"The environment variable {name}: {problem}.")
