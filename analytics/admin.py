"""Back office for processing results (docs/back-office.md): statistics, credit profiles, acknowledgeable alerts."""

from functools import partial

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone

from transactions.admin import short_moment

from . import webhooks
from .models import Alert, CreditProfile, UserStatistics


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
    list_display = ["user_id", "transaction_count", "credit_total", "debit_total", "first", "last", "updated"]
    search_fields = ["=user_id"]
    show_full_result_count = False

    @admin.display(description="First transaction", ordering="first_transaction_at")
    def first(self, obj: UserStatistics) -> str:
        return short_moment(obj.first_transaction_at)

    @admin.display(description="Last transaction", ordering="last_transaction_at")
    def last(self, obj: UserStatistics) -> str:
        return short_moment(obj.last_transaction_at)

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj: UserStatistics) -> str:
        return short_moment(obj.updated_at)


@admin.register(CreditProfile)
class CreditProfileAdmin(ReadOnlyAdmin):
    list_display = ["user_id", "score", "computed"]
    list_filter = ["computed_at"]
    search_fields = ["=user_id"]
    show_full_result_count = False

    @admin.display(description="Computed", ordering="computed_at")
    def computed(self, obj: CreditProfile) -> str:
        return short_moment(obj.computed_at)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    # Fits 1,280 px: the rule's code (as the API gives it), short dates and headings; the rest on the alert's page.
    list_display = [
        "id",
        "rule_code",
        "user_id",
        "transaction_id",
        "amount",
        "created",
        "acknowledged",
        "push",
        "tries",
    ]
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

    @admin.display(description="Rule", ordering="rule")
    def rule_code(self, obj: Alert) -> str:
        return obj.rule

    @admin.display(description="Amount", ordering="transaction_amount")
    def amount(self, obj: Alert) -> str:
        return obj.transaction_amount

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj: Alert) -> str:
        return short_moment(obj.created_at)

    @admin.display(description="Push", ordering="delivery_status")
    def push(self, obj: Alert) -> str:
        return obj.get_delivery_status_display()

    @admin.display(description="Tries", ordering="delivery_attempts")
    def tries(self, obj: Alert) -> int:
        return obj.delivery_attempts

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
