"""The one exception handler (SPEC §4), through drf-standardized-errors."""

from django.core.exceptions import ObjectDoesNotExist
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


class ExceptionHandler(BaseExceptionHandler):
    """Also shapes errors raised below the views: model validation (400) and vanished rows (404)."""

    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(detail=as_serializer_error(exc))
        if isinstance(exc, ObjectDoesNotExist):
            # A row deleted by a concurrent request between lookup and lock.
            return exceptions.NotFound()
        return super().convert_known_exceptions(exc)
