"""Back office for transactions and their processing (docs/back-office.md).

Names are shown masked unless the staff member holds ``transactions.view_full_name``; search by
name goes through the keyed hash, so no row is decrypted to find it; every save and delete goes
through ``services`` so derived figures and processing follow admin edits as they follow the API.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from . import audit, outbox, rules, services
from .fields import name_hash
from .masking import VIEW_FULL_NAME, mask_name
from .models import AuditRecord, OutboxEvent, Transaction

# The API's rules (transactions/rules.py) on the form's fields, with the same messages.
FIELD_RULES = {
    "user_id": rules.user_id_error,
    "full_name": rules.name_error,
    "transaction_date": rules.date_error,
    "transaction_amount": rules.amount_error,
}


def short_moment(value) -> str:
    """A moment in TIME_ZONE to the minute (2026-03-02 14:03): half the width of Django's default, so lists fit."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def cut(text: str, length: int) -> str:
    """The first line of `text`, at most `length` characters (an ellipsis says when there was more)."""
    first_line = text.strip().splitlines()[0] if text.strip() else ""
    return first_line[:length] + ("…" if len(first_line) > length else "")


class TransactionAdminForm(forms.ModelForm):
    """The same rules as the API's serializer, for the fields the form shows."""

    class Meta:
        model = Transaction
        fields = list(rules.WRITABLE_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "full_name" in self.fields:
            self.fields["full_name"] = forms.CharField(
                label="Full name",
                max_length=rules.NAME_MAX_LENGTH,
                strip=True,
                widget=forms.TextInput(attrs={"size": 40}),
            )
        # Numbers are read by the API's parsers (ASCII digits, its words), not by int() and Decimal().
        if "user_id" in self.fields:
            self.fields["user_id"] = rules.RuleFormField(
                label="User id",
                parse=rules.parse_integer,
                invalid="integer",
                widget=forms.NumberInput(attrs={"min": 1, "max": rules.MAX_USER_ID}),
            )
        if "transaction_amount" in self.fields:
            self.fields["transaction_amount"] = rules.RuleFormField(
                label="Transaction amount",
                parse=rules.parse_decimal,
                invalid="decimal",
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 16}),
            )
        for name, check in FIELD_RULES.items():
            if name in self.fields:
                self.fields[name].validators.append(rules.validator(check))


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    """Transactions: list, filters by type and date, search by user id or exact full name."""

    form = TransactionAdminForm
    list_display = ["id", "user_link", "masked_name", "date", "transaction_amount", "transaction_type"]
    list_display_links = ["id"]
    list_filter = ["transaction_type", "transaction_date"]
    date_hierarchy = "transaction_date"
    # get_search_results below does the searching; naming a field here only turns the search box on.
    search_fields = ["user_id"]
    search_help_text = "A user id (digits only), or a full name typed exactly (case and spacing do not matter)."
    readonly_fields = ["masked_name", "created_at", "updated_at"]
    show_full_result_count = False

    @staticmethod
    def can_see_full_name(request) -> bool:
        return request.user.has_perm(VIEW_FULL_NAME)

    def get_list_display(self, request):
        if self.can_see_full_name(request):
            return [("plain_name" if column == "masked_name" else column) for column in self.list_display]
        return self.list_display

    def get_fields(self, request, obj=None):
        # Adding needs the name typed in; changing shows it only to those allowed to see it.
        name = "full_name" if obj is None or self.can_see_full_name(request) else "masked_name"
        return [
            "user_id",
            name,
            "transaction_date",
            "transaction_amount",
            "transaction_type",
            "created_at",
            "updated_at",
        ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit():
            user_id = int(term)
            if rules.user_id_error(user_id):
                return queryset.none(), False
            return queryset.filter(user_id=user_id), False
        return queryset.filter(full_name_hash=name_hash(term)), False

    @admin.display(description="Full name")
    def masked_name(self, obj: Transaction) -> str:
        return mask_name(obj.full_name)

    @admin.display(description="Full name")
    def plain_name(self, obj: Transaction) -> str:
        return obj.full_name

    @admin.display(description="Transaction date", ordering="transaction_date")
    def date(self, obj: Transaction) -> str:
        return short_moment(obj.transaction_date)

    @admin.display(description="User", ordering="user_id")
    def user_link(self, obj: Transaction) -> str:
        return format_html(
            '{} <a href="{}?user_id={}" class="user-analytics-link">analytics</a>',
            obj.user_id,
            reverse("admin:user-analytics"),
            obj.user_id,
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # A limit only the database can check (a user's day total): the save rolled back whole.
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:
            changes = {field: form.cleaned_data[field] for field in form.changed_data if field in rules.WRITABLE_FIELDS}
            saved = services.transaction_update(txn_id=obj.pk, **changes) if changes else obj
        else:
            saved = services.transaction_create(**{field: form.cleaned_data[field] for field in rules.WRITABLE_FIELDS})
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at

    def delete_model(self, request, obj):
        services.transaction_delete(txn_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for txn_id in queryset.values_list("pk", flat=True):
            services.transaction_delete(txn_id=txn_id)


class OutboxStatusFilter(admin.SimpleListFilter):
    """Pending, failed or done; pending ones that already failed at least once are 'retrying'."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [*OutboxEvent.Status.choices, ("retrying", "Pending after a failure")]

    def queryset(self, request, queryset):
        if self.value() == "retrying":
            return queryset.filter(status=OutboxEvent.Status.PENDING, attempts__gt=0)
        if self.value() in OutboxEvent.Status.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Background processing owed after writes: what is pending or failed, why, and a way to retry."""

    # Fits 1,280 px: short dates, the error's first words (the whole of it, and processed_at, on the event's page).
    list_display = [
        "id",
        "kind",
        "transaction_id",
        "user_id",
        "status",
        "attempts",
        "created",
        "next_attempt",
        "short_error",
    ]
    list_filter = [OutboxStatusFilter, "kind"]
    search_fields = ["=transaction_id", "=user_id"]
    search_help_text = "A transaction id or a user id."
    actions = ["requeue"]
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Last error")
    def short_error(self, obj: OutboxEvent) -> str:
        return cut(obj.last_error, 60)

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj: OutboxEvent) -> str:
        return short_moment(obj.created_at)

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj: OutboxEvent) -> str:
        return short_moment(obj.next_attempt_at)

    @admin.action(description="Re-queue selected events (pending or failed) now", permissions=["change"])
    def requeue(self, request, queryset):
        selected = list(queryset.values_list("pk", flat=True))
        requeued = outbox.requeue(event_ids=selected)
        skipped = len(selected) - len(requeued)
        self.message_user(request, f"Re-queued {len(requeued)} event(s).", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Left {skipped} event(s) already done alone.", messages.WARNING)


# --- The audit trail (transactions/audit.py): read-only for everyone, superusers included. --------------------


class AuditActorFilter(admin.SimpleListFilter):
    """Who made the change: any user (API clients and staff), a command that writes, or `system`.

    The choices come from the users table, not from the audit (a DISTINCT over every record); any
    actor can still be filtered on through the URL or the search box.
    """

    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        user_model = get_user_model()
        names = user_model.objects.order_by(user_model.USERNAME_FIELD).values_list(user_model.USERNAME_FIELD, flat=True)
        commands = [audit.command_actor(name) for name in audit.WRITING_COMMANDS]
        return [(name, name) for name in [*names, *commands, audit.SYSTEM_ACTOR]]

    def queryset(self, request, queryset):
        return queryset.filter(actor=self.value()) if self.value() else queryset


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    """Every recorded change, newest first: filter by actor, action and date; search by transaction or request id."""

    list_display = [
        "id",
        "at",
        "actor",
        "actor_kind",
        "action",
        "transaction_link",
        "row_count",
        "request_id",
        "summary",
    ]
    list_filter = [AuditActorFilter, "action", "actor_kind", ("at", admin.DateFieldListFilter)]
    search_fields = ["=request_id"]  # get_search_results below does the searching
    search_help_text = "A transaction id (digits), a request id, or an actor's exact name."
    # The changes themselves are shown below these, names masked per viewer
    # (templates/admin/transactions/auditrecord/change_form.html).
    fields = ["at", "actor", "actor_kind", "action", "transaction_link", "request_id", "row_count", "id_ranges"]
    readonly_fields = fields
    ordering = ["-id"]
    actions = None
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isascii() and term.isdigit():
            txn_id = int(term)
            return (queryset.filter(transaction_id=txn_id) if txn_id <= rules.BIGINT_MAX else queryset.none()), False
        return queryset.filter(Q(request_id=term) | Q(actor=term)), False

    @admin.display(description="Transaction", ordering="transaction_id")
    def transaction_link(self, obj: AuditRecord) -> str:
        if obj.transaction_id is None:
            return "bulk load"
        return format_html(
            '<a href="{}?transaction_id={}">{}</a>',
            reverse("admin:transactions_auditrecord_changelist"),
            obj.transaction_id,
            obj.transaction_id,
        )

    @admin.display(description="Changes")
    def summary(self, obj: AuditRecord) -> str:
        if obj.row_count is not None:
            return f"{obj.row_count} rows"
        return ", ".join(audit.changed_fields(obj)) or "no field changed"
