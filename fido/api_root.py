"""`GET /api/v1/`: the way in for a newcomer: where each endpoint is, and where its documentation is.

It holds links only, no data; like every `/api/v1/` endpoint it needs credentials (any client or staff
session, no particular permission), and a browser without them is shown the login link.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from .query import StrictQueryParametersMixin

# Name in the answer → (URL name, path parameter or None). A path parameter is shown as `{name}`.
ENDPOINTS = {
    "transactions": ("transaction-list", None),
    "transaction": ("transaction-detail", "pk"),
    "user_transactions": ("user-transactions", "user_id"),
    "user_analytics": ("user-analytics", "user_id"),
    "user_analytics_daily": ("user-analytics-daily", "user_id"),
    "user_credit_profile": ("user-credit-profile", "user_id"),
    "analytics_overview": ("analytics-overview", None),
    "alerts": ("alert-list", None),
    "schema": ("schema", None),
    "docs": ("swagger-ui", None),
    "redoc": ("redoc", None),
}
PLACEHOLDER = 1


def endpoint_urls(request) -> dict[str, str]:
    """Every endpoint's absolute URL, path parameters written as `{id}` or `{user_id}`."""
    urls = {}
    for name, (url_name, parameter) in ENDPOINTS.items():
        if parameter is None:
            urls[name] = reverse(url_name, request=request)
        else:
            url = reverse(url_name, kwargs={parameter: PLACEHOLDER}, request=request)
            shown = "id" if parameter == "pk" else parameter
            urls[name] = url.replace(f"/{PLACEHOLDER}/", f"/{{{shown}}}/", 1)
    return urls


class ApiRootView(StrictQueryParametersMixin, APIView):
    """The endpoints of the API and its documentation; links only."""

    permission_classes = [IsAuthenticated]

    # Not an operation of the schema: the schema and its docs are the full listing already.
    @extend_schema(exclude=True)
    def get(self, request):
        return Response(endpoint_urls(request))
