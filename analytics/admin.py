"""Back office for processing results (SPEC §9): statistics and credit profiles read-only, alerts acknowledgeable."""

from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from . import webhooks
from .models import ALERT_SUMMARY_FIELDS, Alert, CreditProfile, UserStatistics


class ReadOnlyAdmin(admin.ModelAdmin):
    """Derived data: recomputed by processing, never edited by hand."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UserStatistics)
class UserStatisticsAdmin(ReadOnlyAdmin):
    list_display = [
        "user_id",
        "transaction_count",
        "credit_total",
        "debit_total",
        "first_transaction_at",
        "last_transaction_at",
        "last_event_id",
        "updated_at",
    ]
    search_fields = ["=user_id"]
    show_full_result_count = False


@admin.register(CreditProfile)
class CreditProfileAdmin(ReadOnlyAdmin):
    list_display = ["user_id", "score", "computed_at"]
    list_filter = ["computed_at"]
    search_fields = ["=user_id"]
    show_full_result_count = False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [*ALERT_SUMMARY_FIELDS, "delivery_status", "delivery_attempts"]
    list_filter = ["acknowledged", "rule", "delivery_status", "created_at"]
    search_fields = ["=user_id", "=transaction_id"]
    show_full_result_count = False
    actions = ["acknowledge", "retry_delivery"]
    readonly_fields = [
        field.name for field in Alert._meta.get_fields() if getattr(field, "concrete", False) and field.name != "id"
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Acknowledge the selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset) -> None:
        count = queryset.filter(acknowledged=False).update(
            acknowledged=True, acknowledged_at=timezone.now(), acknowledged_by=request.user
        )
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)

    @admin.action(description="Retry the webhook push of the selected alerts", permissions=["change"])
    def retry_delivery(self, request, queryset) -> None:
        count = 0
        for alert_id in queryset.exclude(delivery_status=Alert.Delivery.DELIVERED).values_list("id", flat=True):
            if webhooks.retry_delivery(alert_id=alert_id):
                transaction.on_commit(partial(webhooks.publish, alert_id))
                count += 1
        self.message_user(request, f"{count} push(es) queued again.", messages.SUCCESS)
