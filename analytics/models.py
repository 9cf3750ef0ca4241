"""Derived data: per-day figures, user statistics, alerts, credit profiles."""

from django.db import models


class UserDayFigures(models.Model):
    """One user's counts and totals on one calendar day (in TIME_ZONE), kept exact by every write.

    Totals are whole cents: integer sums are exact on every backend (SQLite keeps decimals as floats).
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
        ]
        indexes = [models.Index(fields=["day"], name="user_day_figures_day_idx")]

    def __str__(self) -> str:
        return f"User {self.user_id} on {self.day}"


class ServiceDayFigures(models.Model):
    """Every user's figures of one day, and the set of that day's active users as a bitmap.

    Refreshed from UserDayFigures for the days named in OverviewChange (see analytics/overview.py),
    never on the write path, so writes never contend on a service-wide row.
    """

    day = models.DateField(unique=True)
    credit_count = models.BigIntegerField(default=0)
    credit_cents = models.BigIntegerField(default=0)
    debit_count = models.BigIntegerField(default=0)
    debit_cents = models.BigIntegerField(default=0)
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
