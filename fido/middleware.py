"""Request-level guards that must run before any view reads the body."""

from http import HTTPStatus

from django.conf import settings
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from rest_framework.response import Response

API_PREFIX = "/api/"
# For error responses Django produces outside DRF: (type, code, detail) by status.
DJANGO_ERRORS = {
    HTTPStatus.BAD_REQUEST: ("client_error", "parse_error", "Bad request."),
    HTTPStatus.FORBIDDEN: ("client_error", "permission_denied", "You do not have permission to perform this action."),
    HTTPStatus.NOT_FOUND: ("client_error", "not_found", "Not found."),
    HTTPStatus.METHOD_NOT_ALLOWED: ("client_error", "method_not_allowed", "Method not allowed."),
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: ("client_error", "request_too_large", "The request body is too large."),
}


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
                error_body("client_error", "parse_error", "Content-Length is not a number."),
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


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


class ApiErrorShapeMiddleware:
    """Under /api/, no error leaves as an HTML page (SPEC §4).

    DRF shapes its own errors; this catches the ones Django answers by itself (an unknown URL, a
    CSRF failure, and with DEBUG on the technical 404 and 500 pages) and gives them the same JSON
    shape. A path missing its trailing slash gets a 404 saying so, instead of Django's redirect,
    which would drop a POST's body (and with DEBUG on is a 500).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not request.path.endswith("/") and not _resolves(request.path) and _resolves(f"{request.path}/"):
            return JsonResponse(
                error_body("client_error", "not_found", f"Not found. Did you mean {request.path}/ (trailing slash)?"),
                status=HTTPStatus.NOT_FOUND,
            )
        response = self.get_response(request)
        if response.status_code < HTTPStatus.BAD_REQUEST or isinstance(response, Response):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            body = error_body("server_error", "error", "A server error occurred.")
        else:
            error_type, code, detail = DJANGO_ERRORS.get(
                response.status_code, ("client_error", "error", response.reason_phrase)
            )
            body = error_body(error_type, code, detail)
        return JsonResponse(body, status=response.status_code)
