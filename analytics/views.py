"""Per-user reads: transaction history (SPEC §5) and analytics (SPEC §6), cached through analytics/cache.py.

Every response computed says ``X-Cache: MISS``, every one served from the cache ``X-Cache: HIT``.
Reading any of them needs the `view_transaction` permission, like the transactions themselves.
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from transactions.masking import FullNameMaskingMixin
from transactions.pagination import TransactionKeysetPagination
from transactions.selectors import transaction_list
from transactions.serializers import TransactionSerializer

from . import cache
from .serializers import DailyRowSerializer, OverviewSerializer, PeriodSerializer, UserAnalyticsSerializer

USER_ID_PARAMETER = OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="The user's id.")
PERIOD_PARAMETERS = [
    OpenApiParameter("date_from", str, description="First day (YYYY-MM-DD, inclusive, in TIME_ZONE)."),
    OpenApiParameter("date_to", str, description="Last day (YYYY-MM-DD, inclusive, in TIME_ZONE)."),
]
X_CACHE = "X-Cache"
NO_TRANSACTIONS = OpenApiResponse(description="The user has no transactions at all.")


def _mark(view, cached: cache.Cached) -> cache.Cached:
    # Through the view's headers, so an error answered from the cache (a 404) carries it too.
    view.headers[X_CACHE] = "HIT" if cached.hit else "MISS"
    return cached


class _ReadView(generics.GenericAPIView):
    # The permission class asks the queryset for its model: transactions' `view` permission.
    queryset = transaction_list()
    filter_backends = []
    pagination_class = None
    # Documented as 400s in the schema (fido/openapi.py): a malformed or reversed period.
    query_validation_error_codes = {"date_from": {"invalid"}, "date_to": {"invalid"}}

    def period(self) -> dict:
        serializer = PeriodSerializer(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def found(self, cached: cache.Cached) -> Response:
        _mark(self, cached)
        if cached.value is None:
            raise NotFound("This user has no transactions.")
        return Response(cached.value)


@extend_schema(parameters=[USER_ID_PARAMETER])
class UserTransactionHistoryView(FullNameMaskingMixin, generics.ListAPIView):
    """A user's transactions, newest first; an empty page for an unknown user."""

    queryset = transaction_list()
    serializer_class = TransactionSerializer
    pagination_class = TransactionKeysetPagination
    filter_backends = []

    def list(self, request, *args, **kwargs):
        paginator = self.paginator
        page_size = paginator.get_page_size(request)
        cached = cache.user_history_page(
            user_id=self.kwargs["user_id"],
            page_size=page_size,
            cursor=request.query_params.get(paginator.cursor_query_param),
        )
        _mark(self, cached)
        paginator.request = request
        paginator.next_cursor = cached.value["next_cursor"]
        paginator.previous_cursor = cached.value["previous_cursor"]
        return Response(paginator.get_paginated_data(cached.value["results"]))


@extend_schema(
    parameters=[USER_ID_PARAMETER, *PERIOD_PARAMETERS],
    responses={200: UserAnalyticsSerializer, 404: NO_TRANSACTIONS},
)
class UserAnalyticsView(_ReadView):
    """A user's figures over an optional inclusive period (SPEC §6)."""

    serializer_class = UserAnalyticsSerializer

    def get(self, request, user_id: int):
        return self.found(cache.user_analytics(user_id=user_id, **self.period()))


@extend_schema(
    parameters=[USER_ID_PARAMETER, *PERIOD_PARAMETERS],
    responses={200: DailyRowSerializer(many=True), 404: NO_TRANSACTIONS},
)
class UserDailyView(_ReadView):
    """A user's active days in the period, oldest first: count, credit and debit totals (for charts)."""

    serializer_class = DailyRowSerializer

    def get(self, request, user_id: int):
        return self.found(cache.user_daily(user_id=user_id, **self.period()))


@extend_schema(parameters=PERIOD_PARAMETERS, responses={200: OverviewSerializer})
class OverviewView(_ReadView):
    """The service-wide figures over an optional period; may lag writes by OVERVIEW_MAX_AGE seconds."""

    serializer_class = OverviewSerializer

    def get(self, request):
        return Response(_mark(self, cache.overview(**self.period())).value)
