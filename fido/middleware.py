"""Request-level guards that must run before any view reads the body."""

from http import HTTPStatus

from django.conf import settings
from django.http import JsonResponse


def error_body(error_type: str, code: str, detail: str, attr: str | None = None) -> dict:
    """One error in the SPEC §4 shape, for responses produced outside DRF's exception handler."""
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}


class RequestBodyLimitMiddleware:
    """Answers 413 to a body over the limit before anything parses it.

    DRF's parsers read the request stream directly, so Django's own DATA_UPLOAD_MAX_MEMORY_SIZE
    check never runs for JSON bodies.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                error_body("client_error", "invalid_content_length", "Content-Length is not a number."),
                status=HTTPStatus.BAD_REQUEST,
            )
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return JsonResponse(
                error_body(
                    "client_error",
                    "request_too_large",
                    f"The request body exceeds {settings.MAX_REQUEST_BODY_BYTES} bytes.",
                ),
                status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            )
        return self.get_response(request)
