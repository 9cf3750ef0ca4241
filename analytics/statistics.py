"""User statistics and credit profiles, recomputed from a user's per-day figures.

Recomputed, never incremented, under a lock on the users' statistics rows: a redelivered event, a reordering
or two workers on one user all end in the same numbers. The figures (UserDayFigures, exact with every write)
give the counts, totals and active months in time proportional to the user's active days; the first and last
transaction come from the history index (user_id, -transaction_date, -id), one probe each. So one event costs
the same for a user with a hundred transactions or a million.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from transactions.models import Transaction

from .credit import credit_score
from .models import CreditProfile, UserDayFigures, UserStatistics

ZERO = Decimal("0.00")
REFRESH_CHUNK = 500


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _user_figures(user_ids: Iterable[int]) -> dict[int, dict]:
    """Lifetime figures per user with at least one transaction, in one grouped query over their day figures."""
    history = Transaction.objects.filter(user_id=OuterRef("user_id")).values("transaction_date")
    rows = (
        UserDayFigures.objects.filter(user_id__in=list(user_ids))
        .values("user_id")
        .annotate(
            credit_count=Sum("credit_count"),
            credit_cents=Sum("credit_cents"),
            debit_count=Sum("debit_count"),
            debit_cents=Sum("debit_cents"),
            # Days are calendar days in TIME_ZONE, so their months are too.
            active_months=Count(TruncMonth("day"), distinct=True),
        )
        # Annotated after the aggregates, so that they are not grouped by: one index probe per user, not per day.
        .annotate(
            first_transaction_at=Subquery(history.order_by("transaction_date", "id")[:1]),
            last_transaction_at=Subquery(history.order_by("-transaction_date", "-id")[:1]),
        )
        .order_by()
    )
    figures = {}
    for row in rows:
        if row["first_transaction_at"] is None:
            continue  # figures without rows (changed in SQL): nothing to score until the reconciliation
        row["transaction_count"] = row["credit_count"] + row["debit_count"]
        row["credit_total"] = _money(row.pop("credit_cents"))
        row["debit_total"] = _money(row.pop("debit_cents"))
        figures[row["user_id"]] = row
    return figures


def refresh_locked(user_ids: list[int], *, event_id: int | None = None) -> None:
    """Recompute statistics and credit profiles of these users; the caller holds a transaction.

    The users' statistics rows are locked first (in id order, so two events never deadlock): two
    workers refreshing one user run one after the other, and the later one reads the later data.
    """
    now = timezone.now()
    # Created or touched, and so locked, in one statement (ON CONFLICT DO UPDATE locks the rows it meets).
    UserStatistics.objects.bulk_create(
        [UserStatistics(user_id=user_id, updated_at=now) for user_id in sorted(user_ids)],
        update_conflicts=True,
        unique_fields=["user_id"],
        update_fields=["updated_at"],
    )
    figures = _user_figures(user_ids)
    stats, profiles = [], []
    for user_id in user_ids:
        row = figures.get(user_id)
        stats.append(
            UserStatistics(
                user_id=user_id,
                transaction_count=row["transaction_count"] if row else 0,
                credit_count=row["credit_count"] if row else 0,
                credit_total=row["credit_total"] if row else ZERO,
                debit_count=row["debit_count"] if row else 0,
                debit_total=row["debit_total"] if row else ZERO,
                first_transaction_at=row["first_transaction_at"] if row else None,
                last_transaction_at=row["last_transaction_at"] if row else None,
                last_event_id=event_id,
                updated_at=now,
            )
        )
        if row:
            score, inputs = credit_score(row)
            profiles.append(CreditProfile(user_id=user_id, score=score, inputs=inputs, computed_at=now))
    stat_fields = [
        "transaction_count",
        "credit_count",
        "credit_total",
        "debit_count",
        "debit_total",
        "first_transaction_at",
        "last_transaction_at",
        "updated_at",
    ]
    if event_id is not None:
        stat_fields.append("last_event_id")
    UserStatistics.objects.bulk_create(
        stats, update_conflicts=True, unique_fields=["user_id"], update_fields=stat_fields
    )
    CreditProfile.objects.bulk_create(
        profiles, update_conflicts=True, unique_fields=["user_id"], update_fields=["score", "inputs", "computed_at"]
    )
    # A user whose last transaction is gone has no history left to score.
    CreditProfile.objects.filter(user_id__in=set(user_ids) - set(figures)).delete()


def refresh_users(*, user_ids: Iterable[int] | None = None) -> int:
    """Bring statistics and credit profiles of these users (None: every user) up to date from their figures.

    For paths that write without outbox events (bulk loads, ``seed_demo``, ``rebuild_analytics``);
    raises no alerts, since a bulk load is not a stream of individual money movements. Returns the
    number of users refreshed.
    """
    if user_ids is None:
        known = set(UserDayFigures.objects.values_list("user_id", flat=True).distinct().order_by())
        known |= set(UserStatistics.objects.values_list("user_id", flat=True))
        known |= set(CreditProfile.objects.values_list("user_id", flat=True))
    else:
        known = set(user_ids)
    ordered = sorted(known)
    for start in range(0, len(ordered), REFRESH_CHUNK):
        with transaction.atomic():
            refresh_locked(ordered[start : start + REFRESH_CHUNK])
    return len(ordered)
