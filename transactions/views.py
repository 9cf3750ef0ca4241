"""The transactions API (docs/api.md): thin views over the serializer, the services and the selectors."""

from http import HTTPStatus

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import generics, viewsets
from rest_framework.response import Response
from rest_framework.reverse import reverse

from fido.query import StrictQueryParametersMixin
from fido.throttling import CountedWithCacheRead

from . import services
from .filters import TransactionFilter
from .history import UserHistoryPagination
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import run_idempotently
from .masking import FullNameMaskingMixin
from .pagination import TransactionKeysetPagination
from .selectors import transaction_list, user_transaction_history
from .serializers import TransactionSerializer

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="1-255 visible ASCII characters; the POST is done at most once per client and key for 24 hours.",
)
USER_ID_PARAMETER = OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="The user's id.")


# Codes MoneyField raises that drf-standardized-errors cannot infer from a custom field.
@extend_validation_errors(
    # day_total_limit: the write would take the user's credits or debits of that day past what a day can hold.
    ["max_value", "max_decimal_places", "day_total_limit"],
    field_name="transaction_amount",
    actions=["create", "update", "partial_update"],
)
@extend_schema_view(
    create=extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={HTTPStatus.CREATED: TransactionSerializer},
    ),
)
class TransactionViewSet(StrictQueryParametersMixin, FullNameMaskingMixin, viewsets.ModelViewSet):
    """Create, read, update and delete transactions."""

    # ASCII digits only: int() would also read "\u0665" (ARABIC-INDIC FIVE) as transaction 5.
    lookup_value_regex = "[0-9]{1,19}"
    queryset = transaction_list()
    serializer_class = TransactionSerializer
    filterset_class = TransactionFilter
    pagination_class = TransactionKeysetPagination
    idempotent_actions = ("create",)

    def create(self, request, *args, **kwargs):
        return run_idempotently(request, lambda: self._create(request))

    def _create(self, request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        txn = services.transaction_create(**serializer.validated_data)
        location = reverse("transaction-detail", kwargs={"pk": txn.pk}, request=request)
        return Response(self.get_serializer(txn).data, status=HTTPStatus.CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        txn = self.get_object()
        serializer = self.get_serializer(txn, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        txn = services.transaction_update(txn_id=txn.pk, **serializer.validated_data)
        return Response(self.get_serializer(txn).data)

    def destroy(self, request, *args, **kwargs):
        txn = self.get_object()
        services.transaction_delete(txn_id=txn.pk)
        return Response(status=HTTPStatus.NO_CONTENT)


@extend_schema(parameters=[USER_ID_PARAMETER])
class UserTransactionHistoryView(
    StrictQueryParametersMixin, FullNameMaskingMixin, CountedWithCacheRead, generics.ListAPIView
):
    """A user's transactions, newest first; an empty page for an unknown user."""

    queryset = transaction_list()  # the model, for permissions and the schema; get_queryset narrows it
    serializer_class = TransactionSerializer
    pagination_class = UserHistoryPagination
    filter_backends = []

    def get_queryset(self):
        return user_transaction_history(user_id=self.kwargs["user_id"])

    def read_cache(self, counters):
        # The page, read with the throttles in one round trip (at check_throttles).
        return self.paginator.read(self.request, self, counters)

    def list(self, request, *args, **kwargs):
        # ListAPIView's flow, but the page comes from the cache already serialized (transactions/history.py):
        # a HIT runs no serializer. Names are masked per reader on the finished response (FullNameMaskingMixin).
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(page)
