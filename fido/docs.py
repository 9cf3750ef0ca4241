"""The API's documentation pages, Swagger UI and ReDoc, served from the service's own static files
(drf-spectacular-sidecar, pinned): nothing is loaded from elsewhere, so they work offline, and a
Content-Security-Policy says so to the browser on the origin where staff hold admin sessions."""

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

# Scripts only from this origin (the split view serves Swagger UI's start-up script as a file, not inline);
# inline styles, data: images and blob: workers are what the two bundles use themselves.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class _SelfContained:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class SwaggerView(_SelfContained, SpectacularSwaggerSplitView):
    """Swagger UI: every operation, with "Try it out" (press Authorize, enter `Token <key>`)."""


class RedocView(_SelfContained, SpectacularRedocView):
    """ReDoc: the same schema as a readable reference."""

    template_name = "api_docs/redoc.html"
