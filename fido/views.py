"""Django's error handlers (handler400/403/404/500): the one JSON error shape under /api/, Django's pages elsewhere."""

from django.views import defaults
from rest_framework import exceptions

from .errors import BadRequest, error_response, is_api


def not_found(request, exception=None):
    """404 for URLs no route matches."""
    if is_api(request):
        return error_response(exceptions.NotFound())
    return defaults.page_not_found(request, exception)


def server_error(request):
    """500 for errors outside DRF's handler."""
    if is_api(request):
        return error_response(exceptions.APIException())
    return defaults.server_error(request)


def bad_request(request, exception=None):
    """400 raised by Django itself (for example a disallowed host)."""
    if is_api(request):
        return error_response(BadRequest())
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    """403 raised by Django itself (for example a failed CSRF check on a session write)."""
    if is_api(request):
        return error_response(exceptions.PermissionDenied())
    return defaults.permission_denied(request, exception)
