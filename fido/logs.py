"""Structured logs: one JSON line per record, a request id, and a filter that keeps secrets out.

- ``RequestLogMiddleware`` takes `X-Request-ID` from the request (or makes one), returns it on the
  response and writes one ``fido.request`` line per request: request id, client (the API client's
  username, never its token), route, method, status and duration.
- ``JsonFormatter`` renders every record, ours and the libraries', as one JSON object per line.
- ``RedactingFilter`` sits on every handler: whatever a record says (message, arguments, extra
  fields, traceback) it replaces the secrets of the settings (Django secret, field keys, webhook
  secret, passwords in service URLs), anything shaped like an API token or a Fernet key, and the
  plain names and token of the request being served.

A request's secrets are learnt where they are read: the token from its header here, the names of a
JSON body by the parser that parses it anyway (``remember_body_secrets`` from fido/parsers.py), so an
API write's body is parsed once. Only the admin's form bodies, rare, are read here ahead of the view.
"""

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

from django.conf import settings

logger = logging.getLogger("fido.request")

REDACTED = "[redacted]"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("fido_request_id", default=None)
# Values that must not appear in any log line while this request is served (its names, its token).
_request_secrets: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("fido_request_secrets", default=())

_SECRET_PATTERNS = [
    # API tokens: "fido_" and 64 hex digits (any part of one from "fido_" on), the 64 digits alone, and the
    # 40 hex digits of clients created before tokens were hashed.
    re.compile(r"(?i)(?<![A-Za-z0-9_])fido_[0-9a-f]{6,}"),
    re.compile(r"(?i)(?<![0-9a-f])(?:[0-9a-f]{64}|[0-9a-f]{40})(?![0-9a-f])"),
    # Fernet keys: 32 bytes in URL-safe base64.
    re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    # Credentials inside URLs: scheme://user:password@host.
    re.compile(r"(?<=://)[^/@\s:]*:[^/@\s]+(?=@)"),
]
_TASK_PAYLOAD = {"args", "kwargs", "return_value"}
_SECRET_FIELD_NAMES = re.compile(r"(?i)(full_name|name|token|authorization|password|secret|key)")

_ROUTE_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
_ROUTE_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_ROUTE_ANCHORS = re.compile(r"(?<![\\[])\^|\$$")
_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _settings_secrets() -> tuple[str, ...]:
    values = [getattr(settings, "SECRET_KEY", ""), getattr(settings, "FIELD_HASH_KEY", "")]
    values += list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []))
    values.append(getattr(settings, "ALERT_WEBHOOK_SECRET", ""))
    values.append(getattr(settings, "METRICS_TOKEN", ""))
    return tuple(value for value in values if value and len(value) >= 8)


def redact(text: str) -> str:
    """The text with every known secret and every secret-shaped string replaced."""
    if not text:
        return text
    for secret in (*_request_secrets.get(), *_settings_secrets()):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def remember_request_secrets(*values: str) -> None:
    """Mark values (a name, a token) that no log line may contain until this request ends."""
    found = tuple(value for value in values if isinstance(value, str) and value.strip())
    if found:
        _request_secrets.set(_request_secrets.get() + found)


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no secret, token or plain name reaches any handler."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logged as it is, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for attr, value in list(record.__dict__.items()):
            if attr in _STANDARD_ATTRS:
                continue
            if attr == "data" and isinstance(value, dict):
                # Celery's trace lines carry the task's arguments and result: never log those.
                value = {key: item for key, item in value.items() if key not in _TASK_PAYLOAD}
            if isinstance(value, str):
                setattr(record, attr, redact(value))
            elif not isinstance(value, int | float | bool | type(None)):
                setattr(record, attr, redact(str(value)))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for attr, value in record.__dict__.items():
            if attr not in _STANDARD_ATTRS and attr not in entry:
                entry[attr] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def remember_body_secrets(data) -> None:
    """Mark the `full_name` (and other secret-looking) values of a parsed body, an object or a list of them."""
    names = []
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict):
            names += [str(value) for key, value in item.items() if _SECRET_FIELD_NAMES.fullmatch(str(key))]
    remember_request_secrets(*names, *(name.strip() for name in names))


def _remember_form_secrets(request) -> None:
    """The names of a form body (the admin's), read before any view; JSON bodies are left to the parser."""
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if not 0 < length <= settings.MAX_REQUEST_BODY_BYTES:
        return
    try:
        # Parsed apart from request.POST, so that a form Django refuses fails where it always did.
        form = parse_qs(request.body.decode())
    except (ValueError, UnicodeDecodeError):
        return
    remember_body_secrets({key: values[-1] for key, values in form.items()})


def _request_token(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return header.split(" ", 1)[1].strip() if " " in header else header


def route_template(route: str) -> str:
    """`api/v1/^transactions/(?P<pk>[^/.]+)/$` → `api/v1/transactions/{pk}/`; `<user_id:user_id>` → `{user_id}`."""
    return _ROUTE_ANCHORS.sub("", _ROUTE_CONVERTER.sub(r"{\1}", _ROUTE_GROUP.sub(r"{\1}", route)))


class RequestLogMiddleware:
    """Request id in and out, one JSON line per request, the request's secrets kept out of logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        # Set, not reset afterwards: Django logs the response of a failed request ("Not Found: ...")
        # after the middleware returns, and that line needs the same id and the same redaction.
        # The next request in this thread (or the fresh context of an ASGI request) sets its own.
        request_id_var.set(request_id)
        _request_secrets.set(())
        started = time.perf_counter()
        remember_request_secrets(_request_token(request))
        _remember_form_secrets(request)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        self._log(request, response.status_code, started)
        return response

    @staticmethod
    def _log(request, status: int, started: float) -> None:
        user = getattr(request, "user", None)
        match = getattr(request, "resolver_match", None)
        route = route_template(match.route) if match else None
        logger.info(
            "%s %s %s",
            request.method,
            route or request.path,
            status,
            extra={
                "event": "request",
                "client": user.get_username() if user is not None and user.is_authenticated else None,
                "route": route,
                "view": match.view_name if match else None,
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
