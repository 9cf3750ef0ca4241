"""The analytics endpoints (docs/api.md), answered through the response cache (analytics/answers.py), and the
alerts and credit profiles, read-only.

Every response computed says ``X-Cache: MISS``, every one served from the cache ``X-Cache: HIT``.
Reading any of them needs the `view_transaction` permission, like the transactions themselves.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from fido.cache import X_CACHE, Cached
from fido.query import StrictQueryParametersMixin
from fido.throttling import CountedWithCacheRead
from transactions.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, requested_page_size
from transactions.selectors import transaction_list
from transactions.views import USER_ID_PARAMETER

from . import answers
from .filters import AlertFilter
from .models import Alert, CreditProfile
from .serializers import (
    AlertSerializer,
    CreditProfileSerializer,
    DailyRowSerializer,
    OverviewSerializer,
    PeriodSerializer,
    UserAnalyticsSerializer,
)

PERIOD_PARAMETERS = [
    OpenApiParameter("date_from", str, description="First day (YYYY-MM-DD, inclusive, in TIME_ZONE)."),
    OpenApiParameter("date_to", str, description="Last day (YYYY-MM-DD, inclusive, in TIME_ZONE)."),
]
NO_TRANSACTIONS = OpenApiResponse(description="The user has no transactions at all.")


def _mark(view, cached: Cached) -> Cached:
    # Through the view's headers, so an error answered from the cache (a 404) carries it too.
    view.headers[X_CACHE] = cached.x_cache
    return cached


class _ReadView(StrictQueryParametersMixin, CountedWithCacheRead, generics.GenericAPIView):
    # An answer is one cache entry, read with the throttles in one round trip (read_cache, at check_throttles).
    # The permission class asks the queryset for its model: transactions' `view` permission.
    queryset = transaction_list()
    filter_backends = []
    pagination_class = None
    query_parameters = ("date_from", "date_to")
    # Documented as 400s in the schema (fido/openapi.py): a malformed or reversed period.
    query_validation_error_codes = {"date_from": {"invalid"}, "date_to": {"invalid"}}

    def period(self) -> dict:
        serializer = PeriodSerializer(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def found(self) -> Response:
        cached = _mark(self, self.cached_answer())
        if cached.value is None:
            raise NotFound("This user has no transactions.")
        return Response(cached.value)


@extend_schema(
    parameters=[USER_ID_PARAMETER, *PERIOD_PARAMETERS],
    responses={200: UserAnalyticsSerializer, 404: NO_TRANSACTIONS},
)
class UserAnalyticsView(_ReadView):
    """A user's figures over an optional inclusive period."""

    serializer_class = UserAnalyticsSerializer

    def read_cache(self, counters):
        return answers.read_user_analytics(user_id=self.kwargs["user_id"], counters=counters, **self.period())

    def get(self, request, user_id: int):
        return self.found()


@extend_schema(
    parameters=[USER_ID_PARAMETER, *PERIOD_PARAMETERS],
    responses={200: DailyRowSerializer(many=True), 404: NO_TRANSACTIONS},
)
class UserDailyView(_ReadView):
    """A user's active days in the period, oldest first: count, credit and debit totals (for charts)."""

    serializer_class = DailyRowSerializer

    def read_cache(self, counters):
        return answers.read_user_daily(user_id=self.kwargs["user_id"], counters=counters, **self.period())

    def get(self, request, user_id: int):
        return self.found()


@extend_schema(parameters=PERIOD_PARAMETERS, responses={200: OverviewSerializer})
class OverviewView(_ReadView):
    """The service-wide figures over an optional period; may lag writes by OVERVIEW_MAX_AGE seconds."""

    serializer_class = OverviewSerializer

    def read_cache(self, counters):
        return answers.read_overview(counters=counters, **self.period())

    def get(self, request):
        return Response(_mark(self, self.cached_answer()).value)


class AlertPagination(CursorPagination):
    """Newest first by id: ids only grow, so a cursor on it never skips or repeats an alert."""

    ordering = "-id"
    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    # Documented as 400s in the OpenAPI schema (fido.openapi.AutoSchema).
    validation_error_codes = {"page_size": {"invalid", "min_value"}}

    def get_page_size(self, request) -> int:
        # As the transaction list reads it: a malformed size is a 400, not silently the default.
        return requested_page_size(request, self.page_size_query_param)


class AlertListView(StrictQueryParametersMixin, generics.ListAPIView):
    """Alerts raised by large or unusual transactions, newest first."""

    queryset = Alert.objects.all()
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    pagination_class = AlertPagination


@extend_schema(parameters=[USER_ID_PARAMETER])
class CreditProfileView(StrictQueryParametersMixin, generics.RetrieveAPIView):
    """A user's credit score (300-850) with its inputs; 404 until it has been computed once."""

    queryset = CreditProfile.objects.all()
    serializer_class = CreditProfileSerializer
    lookup_field = "user_id"
