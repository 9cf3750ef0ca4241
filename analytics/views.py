"""Per-user reads: transaction history (SPEC §5) and analytics (SPEC §6)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics

from transactions.pagination import TransactionKeysetPagination
from transactions.selectors import transaction_list, user_transaction_history
from transactions.serializers import TransactionSerializer

USER_ID_PARAMETER = OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="The user's id.")


@extend_schema(parameters=[USER_ID_PARAMETER])
class UserTransactionHistoryView(generics.ListAPIView):
    """A user's transactions, newest first; an empty page for an unknown user."""

    queryset = transaction_list()
    serializer_class = TransactionSerializer
    pagination_class = TransactionKeysetPagination
    filter_backends = []

    def get_queryset(self):
        return user_transaction_history(user_id=self.kwargs["user_id"])
