"""Request-level guards that must run before any view reads the body."""

from http import HTTPStatus

from django.conf import settings
from django.urls import Resolver404, resolve
from rest_framework import exceptions
from rest_framework.response import Response

from .errors import RequestTooLarge, error_response, exception_for, is_api


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
            return error_response(exceptions.ParseError("Content-Length is not a number."))
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return error_response(RequestTooLarge(f"The request body exceeds {settings.MAX_REQUEST_BODY_BYTES} bytes."))
        return self.get_response(request)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


class ApiErrorShapeMiddleware:
    """Under /api/, no error leaves as an HTML page (docs/api.md, "Errors").

    DRF shapes its own errors; this catches the ones Django answers by itself (an unknown URL, a
    CSRF failure, and with DEBUG on the technical 404 and 500 pages) and gives them the same JSON
    shape. A path missing its trailing slash gets a 404 saying so, instead of Django's redirect,
    which would drop a POST's body (and with DEBUG on is a 500).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api(request):
            return self.get_response(request)
        if not request.path.endswith("/") and not _resolves(request.path) and _resolves(f"{request.path}/"):
            hint = f"Did you mean {request.path}/ (trailing slash)?"
            return error_response(exceptions.NotFound(f"{exceptions.NotFound.default_detail} {hint}"))
        response = self.get_response(request)
        if response.status_code < HTTPStatus.BAD_REQUEST or isinstance(response, Response):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        return error_response(exception_for(response, request))
