"""User statistics and credit profiles, recomputed from a user's transactions (SPEC §7).

Recomputed, never incremented, under a lock on the users' statistics rows: a redelivered event, a reordering
or two workers on one user all end in the same numbers.
"""

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from transactions.models import Transaction, TransactionType

from .credit import credit_score
from .models import CreditProfile, UserStatistics

ZERO = Decimal("0.00")
REFRESH_CHUNK = 500


def _user_figures(user_ids: Iterable[int]) -> dict[int, dict]:
    """Lifetime figures per user with at least one transaction, in one grouped query."""
    rows = (
        Transaction.objects.filter(user_id__in=list(user_ids))
        .values("user_id")
        .annotate(
            transaction_count=Count("id"),
            credit_count=Count("id", filter=Q(transaction_type=TransactionType.CREDIT)),
            credit_total=Sum("transaction_amount", filter=Q(transaction_type=TransactionType.CREDIT)),
            debit_count=Count("id", filter=Q(transaction_type=TransactionType.DEBIT)),
            debit_total=Sum("transaction_amount", filter=Q(transaction_type=TransactionType.DEBIT)),
            first_transaction_at=Min("transaction_date"),
            last_transaction_at=Max("transaction_date"),
            active_months=Count(TruncMonth("transaction_date", tzinfo=timezone.get_default_timezone()), distinct=True),
        )
        .order_by()
    )
    figures = {}
    for row in rows:
        row["credit_total"] = row["credit_total"] or ZERO
        row["debit_total"] = row["debit_total"] or ZERO
        figures[row["user_id"]] = row
    return figures


def refresh_locked(user_ids: list[int], *, event_id: int | None = None) -> None:
    """Recompute statistics and credit profiles of these users; the caller holds a transaction.

    The users' statistics rows are locked first (in id order, so two events never deadlock): two
    workers refreshing one user run one after the other, and the later one reads the later data.
    """
    now = timezone.now()
    UserStatistics.objects.bulk_create(
        [UserStatistics(user_id=user_id, updated_at=now) for user_id in user_ids], ignore_conflicts=True
    )
    list(UserStatistics.objects.select_for_update().filter(user_id__in=user_ids).order_by("user_id"))
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
    """Bring statistics and credit profiles of these users (None: every user) up to date from raw rows.

    For paths that write without outbox events (bulk loads, ``seed_demo``, ``rebuild_analytics``);
    raises no alerts, since a bulk load is not a stream of individual money movements. Returns the
    number of users refreshed.
    """
    if user_ids is None:
        known = set(Transaction.objects.values_list("user_id", flat=True).distinct().order_by())
        known |= set(UserStatistics.objects.values_list("user_id", flat=True))
        known |= set(CreditProfile.objects.values_list("user_id", flat=True))
    else:
        known = set(user_ids)
    ordered = sorted(known)
    for start in range(0, len(ordered), REFRESH_CHUNK):
        with transaction.atomic():
            refresh_locked(ordered[start : start + REFRESH_CHUNK])
    return len(ordered)
