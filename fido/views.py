"""Project-level views: JSON error pages for the API, so no HTML error page reaches a client."""

from http import HTTPStatus

from django.http import JsonResponse
from django.views import defaults

from .middleware import error_body


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """404 for URLs no route matches: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("client_error", "not_found", "Not found."), status=HTTPStatus.NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """500 for errors outside DRF's handler: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "error", "A server error occurred."),
            status=HTTPStatus.INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)


def bad_request(request, exception=None):
    """400 raised by Django itself (for example a disallowed host)."""
    if _is_api(request):
        return JsonResponse(error_body("client_error", "bad_request", "Bad request."), status=HTTPStatus.BAD_REQUEST)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    """403 raised by Django itself (for example a failed CSRF check on a session write)."""
    if _is_api(request):
        return JsonResponse(
            error_body("client_error", "permission_denied", "You do not have permission to perform this action."),
            status=HTTPStatus.FORBIDDEN,
        )
    return defaults.permission_denied(request, exception)
