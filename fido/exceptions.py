"""The API's one exception handler (docs/api.md), through drf-standardized-errors; shapes come from fido/errors.py."""

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_standardized_errors.handler import ExceptionHandler as BaseExceptionHandler
from rest_framework import exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from .errors import BadRequest, RequestTooLarge


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
            return BadRequest()
        return super().convert_known_exceptions(exc)

    def convert_unhandled_exceptions(self, exc: Exception) -> exceptions.APIException:
        # Every 500 reads the same, here and outside DRF (fido/errors.py): no details.
        return exc if isinstance(exc, exceptions.APIException) else exceptions.APIException()

    def format_exception(self, exc: exceptions.APIException):
        body = super().format_exception(exc)
        # An error about the whole body or request (a body that is not an object, a serializer's own check)
        # is about no field: `attr` is null, not DRF's "non_field_errors".
        for error in body.get("errors", []) if isinstance(body, dict) else []:
            if error.get("attr") == api_settings.NON_FIELD_ERRORS_KEY:
                error["attr"] = None
        return body
