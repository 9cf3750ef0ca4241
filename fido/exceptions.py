"""The one exception handler (SPEC §4), through drf-standardized-errors."""

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_standardized_errors.handler import ExceptionHandler as BaseExceptionHandler
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error


class Conflict(exceptions.APIException):
    """409: the request collides with another still in progress."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this idempotency key is still in progress."
    default_code = "conflict"


class UnprocessableEntity(exceptions.APIException):
    """422: the request is well-formed but cannot be honoured as sent."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class RequestTooLarge(exceptions.APIException):
    """413: the body is over the limit (SPEC §4)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class ExceptionHandler(BaseExceptionHandler):
    """Also shapes errors raised below the views: model validation (400) and vanished rows (404)."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(detail=as_serializer_error(exc))
        if isinstance(exc, ObjectDoesNotExist):
            # A row deleted by a concurrent request between lookup and lock.
            return exceptions.NotFound()
        if isinstance(exc, RequestDataTooBig):
            return RequestTooLarge()
        if isinstance(exc, TooManyFieldsSent):
            return exceptions.ParseError("Too many query or form parameters.")
        if isinstance(exc, SuspiciousOperation):
            # Django's own guards (a disallowed host, a malformed header): the client's fault, no details.
            return exceptions.ParseError("Bad request.")
        return super().convert_known_exceptions(exc)
