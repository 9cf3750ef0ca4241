"""A transaction's audit history over the API: `GET /api/v1/transactions/{id}/history/` (docs/api.md, "Audit trail")."""

import datetime as dt

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from fido.query import StrictQueryParametersMixin

from . import audit
from .masking import can_view_full_name
from .models import AuditRecord, Transaction
from .rules import BIGINT_MAX
from .selectors import transaction_list

_VALUE_SCHEMA = {
    "oneOf": [{"type": "string"}, {"type": "integer", "format": "int64"}],
    "nullable": True,
    "description": "As the transaction's representation writes the field; null before a create and after a delete.",
}


@extend_schema_field(
    {
        "type": "object",
        "description": "The fields the change set, each from its old value to its new one. A bulk load's record "
        "holds none (its rows' values are not recorded one by one). Names are masked unless the reader may see them.",
        "additionalProperties": {
            "type": "object",
            "properties": {"from": _VALUE_SCHEMA, "to": _VALUE_SCHEMA},
            "required": ["from", "to"],
        },
        "example": {"transaction_amount": {"from": "125.50", "to": "150.00"}},
    }
)
class ChangesField(serializers.Field):
    """A record's changes as `audit.changes_shown` lays them out."""

    def to_representation(self, value):
        return value


class AuditRecordSerializer(serializers.Serializer):
    """One audit record as clients read it."""

    at = serializers.DateTimeField(default_timezone=dt.UTC, help_text="When the change was made (UTC).")
    actor = serializers.CharField(
        help_text="The API client's name, the staff user's username, `manage.py <command>`, or `system`."
    )
    action = serializers.ChoiceField(choices=AuditRecord.Action.choices)
    request_id = serializers.CharField(
        allow_null=True, help_text="The `X-Request-ID` of the request (or the command run) that made the change."
    )
    changes = ChangesField()


class AuditHistorySerializer(serializers.Serializer):
    """A transaction's audit records, oldest first."""

    results = AuditRecordSerializer(many=True)


@extend_schema(
    parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The transaction's id.")],
    responses={
        200: AuditHistorySerializer,
    },
)
class TransactionAuditHistoryView(StrictQueryParametersMixin, generics.GenericAPIView):
    """Who changed this transaction, when, and from what to what, oldest first; readable after a delete.

    404 only for an id that no transaction ever had (or whose records are all past retention).
    """

    queryset = transaction_list()  # the model, for permissions (view) and the schema
    serializer_class = AuditHistorySerializer
    filter_backends = []
    pagination_class = None

    def get(self, request, pk: int):
        if not 1 <= pk <= BIGINT_MAX:  # the id column's range: no transaction ever had another id
            raise NotFound
        records = audit.audit_history(txn_id=pk)
        if not records and not Transaction.objects.filter(pk=pk).exists():
            raise NotFound
        full_names = can_view_full_name(request.user)
        results = [
            {
                "at": record.at,
                "actor": record.actor,
                "action": record.action,
                "request_id": record.request_id or None,
                "changes": audit.changes_shown(record, full_names=full_names),
            }
            for record in records
        ]
        return Response(AuditHistorySerializer({"results": results}).data)
