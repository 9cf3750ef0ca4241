"""The back office's views of the audit trail: a transaction's history, one record's changes (names masked)."""

from django import template
from django.urls import reverse

from transactions import audit
from transactions.masking import can_view_full_name

register = template.Library()

VIEW_AUDIT = "transactions.view_auditrecord"


@register.inclusion_tag("admin/transactions/audit_history.html", takes_context=True)
def transaction_audit_history(context, txn_id: int) -> dict:
    """A transaction's audit records, oldest first, as the API's history lists them."""
    user = context["request"].user
    full_names = can_view_full_name(user)
    records = audit.audit_history(txn_id=txn_id)
    audit_list = reverse("admin:transactions_auditrecord_changelist") if user.has_perm(VIEW_AUDIT) else None
    return {
        "rows": [
            {"record": record, "changes": audit.changes_shown(record, full_names=full_names)} for record in records
        ],
        "audit_list_url": f"{audit_list}?transaction_id={txn_id}" if audit_list else None,
    }


@register.inclusion_tag("admin/transactions/audit_changes.html", takes_context=True)
def audit_record_changes(context, record) -> dict:
    """One record's changed fields, from and to."""
    return {"changes": audit.changes_shown(record, full_names=can_view_full_name(context["request"].user))}
