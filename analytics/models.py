"""Derived data: per-day figures, user statistics, alerts, credit profiles."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from transactions.rules import BIGINT_MAX

# The name of the constraint that refuses a user's day total past a bigint (analytics/figures.py reports it).
USER_DAY_CENTS_FIT = "user_day_figures_cents_fit"


class WideIntegerField(models.Field):
    """A whole number of up to 38 digits, exact on every backend.

    PostgreSQL stores it as numeric(38, 0). SQLite's integers are 64-bit and its numeric columns turn larger
    values into floats, so there it is stored as text (its decimal digits) and only ever added up in Python.
    A day cannot overflow it: it holds fewer than 2**63 transactions (their ids are bigints) of at most
    10**14 cents each, under 10**33 cents in all.
    """

    description = "Integer (up to 38 digits)"
    DIGITS = 38

    def db_type(self, connection) -> str:
        return f"numeric({self.DIGITS}, 0)" if connection.vendor == "postgresql" else "text"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else int(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        value = value if prepared else self.get_prep_value(value)
        if value is None or connection.vendor == "postgresql":
            return value
        return str(value)

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def to_python(self, value):
        return None if value is None else int(value)


class UserDayFigures(models.Model):
    """One user's counts and totals on one calendar day (in TIME_ZONE), kept exact by every write.

    Totals are whole cents: integer sums are exact on every backend (SQLite keeps decimals as floats).
    A write adds to them in SQL, so each stays a bigint: a write that would take one past it is refused
    (analytics/figures.py), which is over 92,000 maximum amounts for one user on one day.
    """

    user_id = models.BigIntegerField()
    day = models.DateField()
    credit_count = models.BigIntegerField(default=0)
    credit_cents = models.BigIntegerField(default=0)
    debit_count = models.BigIntegerField(default=0)
    debit_cents = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "user day figures"
        constraints = [
            # Also the index every per-user read walks: (user_id, day).
            models.UniqueConstraint(fields=["user_id", "day"], name="user_day_figures_unique"),
            # PostgreSQL refuses a bigint overflow by itself; SQLite would silently turn the sum into a float.
            models.CheckConstraint(
                condition=Q(credit_cents__lte=BIGINT_MAX) & Q(debit_cents__lte=BIGINT_MAX), name=USER_DAY_CENTS_FIT
            ),
        ]
        indexes = [models.Index(fields=["day"], name="user_day_figures_day_idx")]

    def __str__(self) -> str:
        return f"User {self.user_id} on {self.day}"


class ServiceDayFigures(models.Model):
    """Every user's figures of one day, and the set of that day's active users as a bitmap.

    Refreshed from UserDayFigures for the days named in OverviewChange (see analytics/service_figures.py),
    never on the write path, so writes never contend on a service-wide row. Its totals add up every user's
    day, each up to a bigint, so they are wide integers: no number of users or amounts overflows them.
    """

    day = models.DateField(unique=True)
    credit_count = models.BigIntegerField(default=0)
    credit_cents = WideIntegerField(default=0)
    debit_count = models.BigIntegerField(default=0)
    debit_cents = WideIntegerField(default=0)
    user_count = models.BigIntegerField(default=0)
    # Bit n set: the user whose UserOrdinal is n was active that day. OR-ing the days of a
    # period and counting bits gives its exact distinct user count without reading user rows.
    users = models.BinaryField(default=b"")

    class Meta:
        verbose_name_plural = "service day figures"

    def __str__(self) -> str:
        return f"Service on {self.day}"


class OverviewChange(models.Model):
    """A day whose service-wide figures must be refreshed: appended by writes, consumed by the refresh."""

    day = models.DateField()

    def __str__(self) -> str:
        return f"Change on {self.day}"


class UserOrdinal(models.Model):
    """A small dense number per user (its id), the user's bit in ServiceDayFigures.users."""

    user_id = models.BigIntegerField(unique=True)

    def __str__(self) -> str:
        return f"User {self.user_id} is bit {self.pk}"


# --- Processing after a write: user statistics, alerts, credit profiles --------------------------


class UserStatistics(models.Model):
    """A user's lifetime figures, recomputed from their transactions after each processed write."""

    user_id = models.BigIntegerField(primary_key=True)
    transaction_count = models.PositiveIntegerField(default=0)
    credit_count = models.PositiveIntegerField(default=0)
    credit_total = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    debit_count = models.PositiveIntegerField(default=0)
    debit_total = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    first_transaction_at = models.DateTimeField(null=True, blank=True)
    last_transaction_at = models.DateTimeField(null=True, blank=True)
    last_event_id = models.BigIntegerField(null=True, blank=True, help_text="The last outbox event processed.")
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "user statistics"

    def __str__(self) -> str:
        return f"Statistics of user {self.user_id}"


# What an alert shows in lists (the API's and the admin's).
ALERT_SUMMARY_FIELDS = ("id", "rule", "user_id", "transaction_id", "transaction_amount", "created_at", "acknowledged")


class Alert(models.Model):
    """A transaction that tripped a rule; one per (transaction, rule), with its webhook delivery state."""

    class Rule(models.TextChoices):
        LARGE_AMOUNT = "large_amount", "Amount at or above the threshold"
        UNUSUAL_AMOUNT = "unusual_amount", "At least 10x the user's previous average"

    rule = models.CharField(max_length=14, choices=Rule.choices)
    user_id = models.BigIntegerField()
    # Not a foreign key: an alert outlives the deletion of its transaction.
    transaction_id = models.BigIntegerField()
    transaction_amount = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delivery_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="X-Fido-Delivery: the same on every retry."
    )

    # The webhook push of the alert (analytics/webhooks.py).
    class Delivery(models.TextChoices):
        NOT_CONFIGURED = "not_configured", "No webhook configured"
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    delivery_status = models.CharField(max_length=14, choices=Delivery.choices, default=Delivery.NOT_CONFIGURED)
    delivery_attempts = models.PositiveIntegerField(default=0)
    delivery_last_error = models.TextField(blank=True, default="")
    delivery_next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["transaction_id", "rule"], name="alert_one_per_txn_rule")]
        indexes = [
            models.Index(fields=["user_id", "-id"], name="alert_user_idx"),
            models.Index(fields=["delivery_status", "delivery_next_attempt_at"], name="alert_delivery_idx"),
        ]

    def __str__(self) -> str:
        return f"Alert {self.pk} ({self.rule}) on transaction {self.transaction_id}"


class CreditProfile(models.Model):
    """A user's credit score (300-850) with the inputs it was computed from (docs/api.md: the formula)."""

    user_id = models.BigIntegerField(primary_key=True)
    score = models.PositiveSmallIntegerField()
    inputs = models.JSONField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=300) & Q(score__lte=850), name="credit_score_in_range")
        ]

    def __str__(self) -> str:
        return f"Credit profile of user {self.user_id}: {self.score}"
