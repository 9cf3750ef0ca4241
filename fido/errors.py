"""The one error shape (docs/api.md), `{"type", "errors": [{"code", "detail", "attr"}]}`, of every error answered.

Errors raised in DRF views are shaped by drf-standardized-errors (``fido/exceptions.py``). Errors answered
outside DRF, by the middleware that runs before it (``fido/middleware.py``) and by Django's own handlers
(``fido/views.py``), are the same DRF exceptions put through the same formatter by ``error_response``. So
each code and message is defined once: DRF's own, or on the exceptions below.
"""

from http import HTTPStatus

from django.http import JsonResponse
from drf_standardized_errors.settings import package_settings
from rest_framework import exceptions, status

API_PREFIX = "/api/"


class BadRequest(exceptions.ParseError):
    """400 for a request Django itself refuses (a disallowed host, a malformed header): no details."""

    default_detail = "Bad request."


class Conflict(exceptions.APIException):
    """409: the request collides with another still in progress."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this idempotency key is still in progress."
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    """413: the body is over the limit (1 MiB)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class UnprocessableEntity(exceptions.APIException):
    """422: the request is well-formed but cannot be honoured as sent."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


# The exception standing for an error status Django answers by itself (500 and up: APIException).
_BY_STATUS = {
    HTTPStatus.BAD_REQUEST: BadRequest,
    HTTPStatus.FORBIDDEN: exceptions.PermissionDenied,
    HTTPStatus.NOT_FOUND: exceptions.NotFound,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: RequestTooLarge,
}


def is_api(request) -> bool:
    """Whether the request is for the API, where every error is JSON."""
    return request.path.startswith(API_PREFIX)


def exception_for(response, request) -> exceptions.APIException:
    """The DRF exception for an error response Django produced (an unknown URL, a CSRF failure, a 500 page)."""
    status_code = response.status_code
    if status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        exc = exceptions.APIException()
    elif status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        exc = exceptions.MethodNotAllowed(request.method)
    elif status_code in _BY_STATUS:
        exc = _BY_STATUS[status_code]()
    else:
        exc = exceptions.APIException(response.reason_phrase, code="error")
    exc.status_code = status_code
    return exc


def error_response(exc: exceptions.APIException) -> JsonResponse:
    """A JSON error response for `exc`, formatted exactly as the DRF exception handler formats it."""
    body = package_settings.EXCEPTION_FORMATTER_CLASS(exc, {}, exc).run()
    return JsonResponse(body, status=exc.status_code)
