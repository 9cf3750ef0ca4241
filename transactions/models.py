"""The system of record: transactions, the outbox of work to do after a write, idempotency records, the audit."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .fields import EncryptedTextField, name_hash
from .rules import MAX_AMOUNT


class TransactionType(models.TextChoices):
    CREDIT = "credit", "Credit"
    DEBIT = "debit", "Debit"


class Transaction(models.Model):
    """One money movement of one user; the name is encrypted, its keyed hash searchable."""

    user_id = models.BigIntegerField(db_index=False)
    full_name = EncryptedTextField()
    full_name_hash = models.CharField(max_length=64, db_index=True, editable=False)
    transaction_date = models.DateTimeField()
    transaction_amount = models.DecimalField(max_digits=14, decimal_places=2)
    transaction_type = models.CharField(max_length=6, choices=TransactionType.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-transaction_date", "-id"]
        permissions = [("view_full_name", "Can see the full name of a transaction's owner")]
        constraints = [
            models.CheckConstraint(
                condition=Q(transaction_amount__gt=0) & Q(transaction_amount__lte=MAX_AMOUNT),
                name="transaction_amount_in_range",
            ),
            models.CheckConstraint(
                condition=Q(transaction_type__in=TransactionType.values), name="transaction_type_valid"
            ),
            models.CheckConstraint(condition=Q(user_id__gte=1), name="transaction_user_id_positive"),
        ]
        indexes = [
            # A user's history, newest first, and the cursor that walks it.
            models.Index(fields=["user_id", "-transaction_date", "-id"], name="txn_user_history_idx"),
            # The unfiltered list and date-range filters, newest first.
            models.Index(fields=["-transaction_date", "-id"], name="txn_date_idx"),
        ]

    def __str__(self) -> str:
        return f"Transaction {self.pk} of user {self.user_id}"

    def save(self, *args, **kwargs):
        if self.full_name is not None:
            self.full_name_hash = name_hash(self.full_name)
        super().save(*args, **kwargs)


class WriteAction(models.TextChoices):
    """What a write did to a transaction: an outbox event's kind and an audit record's action."""

    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    DELETED = "deleted", "Deleted"


class OutboxEvent(models.Model):
    """Work owed after a committed write, stored in the write's own database transaction (ids only)."""

    Kind = WriteAction

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=7, choices=Kind.choices)
    transaction_id = models.BigIntegerField()
    user_id = models.BigIntegerField()
    previous_user_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=7, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_status_idx"),
            # The oldest pending event (/metrics) and done events past their retention (the purge).
            models.Index(fields=["status", "created_at"], name="outbox_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} transaction {self.transaction_id} ({self.status})"


class IdempotencyRecord(models.Model):
    """The outcome of a POST made with an Idempotency-Key, kept 24 hours per client and key.

    The stored response holds the name, so it is encrypted like the transaction itself, and it goes with
    the transaction it created: deleting that transaction deletes the record (transactions/retention.py
    purges the rest after their 24 hours).
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=11, choices=State.choices, default=State.IN_PROGRESS)
    owner_token = models.CharField(max_length=32)
    locked_until = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = EncryptedTextField(null=True, blank=True)
    response_location = models.CharField(max_length=255, blank=True, default="")
    # The transaction the stored response shows, set when it is stored: its name must not outlive it.
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="+", editable=False
    )
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_client_key_unique")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"Idempotency key of client {self.client_id} ({self.state})"


class AuditRecordImmutable(Exception):
    """An attempt to change or delete an audit record: they are append-only (transactions/audit.py)."""


class AuditRecordQuerySet(models.QuerySet):
    """Audit records: read and appended, never updated or deleted (the retention purge aside, in audit.py)."""

    def update(self, **kwargs):
        raise AuditRecordImmutable("Audit records cannot be changed.")

    def delete(self):
        raise AuditRecordImmutable("Audit records cannot be deleted; old ones leave through the retention purge.")


class AuditRecord(models.Model):
    """One change to transactions, appended in the change's own database transaction; never altered.

    A row's record names its transaction; a bulk load's record names none and holds the row count and
    the ids it inserted. Changed values other than the name are in ``changes``; the name, when it is
    part of the change, only as ciphertext in ``name_from`` / ``name_to``.
    """

    Action = WriteAction

    class ActorKind(models.TextChoices):
        CLIENT = "client", "API client"
        STAFF = "staff", "Staff user"
        COMMAND = "command", "Command"
        SYSTEM = "system", "Other (no request, no command)"

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=200)
    actor_kind = models.CharField(max_length=7, choices=ActorKind.choices)
    request_id = models.CharField(max_length=128, blank=True, default="")
    action = models.CharField(max_length=7, choices=Action.choices)
    # Not a foreign key: the record outlives the transaction it tells about.
    transaction_id = models.BigIntegerField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    name_from = EncryptedTextField(null=True, blank=True)
    name_to = EncryptedTextField(null=True, blank=True)
    # A bulk load: how many rows, their ids as [first, last] runs, and the bounds of those (indexed).
    row_count = models.PositiveIntegerField(null=True, blank=True)
    id_ranges = models.JSONField(null=True, blank=True)
    first_id = models.BigIntegerField(null=True, blank=True)
    last_id = models.BigIntegerField(null=True, blank=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # A transaction's history, oldest first.
            models.Index(fields=["transaction_id", "id"], name="audit_txn_idx"),
            # The bulk loads whose ids may hold a given transaction: few rows, so a partial index.
            models.Index(fields=["first_id", "last_id"], name="audit_bulk_idx", condition=Q(first_id__isnull=False)),
            # The retention purge and the admin's date filter; the admin's actor filter.
            models.Index(fields=["at"], name="audit_at_idx"),
            models.Index(fields=["actor", "id"], name="audit_actor_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(transaction_id__isnull=False) | Q(row_count__isnull=False), name="audit_names_its_rows"
            ),
        ]

    def __str__(self) -> str:
        target = f"transaction {self.transaction_id}" if self.transaction_id is not None else f"{self.row_count} rows"
        return f"{self.action} {target} by {self.actor}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditRecordImmutable("Audit records cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditRecordImmutable("Audit records cannot be deleted; old ones leave through the retention purge.")


# Registered with the app's models; the client model lives beside its services (clients.py).
from .client_models import ApiClient  # noqa: E402, F401
