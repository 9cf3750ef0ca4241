"""Processing after a write (SPEC §7): user statistics, alert rules, credit profiles, and the life of
an outbox event (process, record a failure, requeue, relay). Tasks in ``tasks.py`` only call these.

Every effect is recomputed from the transactions themselves or guarded by a unique constraint, so
processing an event twice changes nothing the second time.
"""

import datetime as dt
import logging
import random
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from transactions.models import OutboxEvent, Transaction, TransactionType

from .models import Alert, CreditProfile, UserStatistics

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")
UNIT = Decimal("0.0001")
UNUSUAL_FACTOR = 10
REFRESH_CHUNK = 500

# The credit formula (README "Processing after a write"): each component is in [0, 1].
CREDIT_WEIGHTS = {
    "net_flow": Decimal("0.30"),
    "debit_credit_ratio": Decimal("0.20"),
    "regularity": Decimal("0.20"),
    "history_length": Decimal("0.20"),
    "activity": Decimal("0.10"),
}
CREDIT_MIN, CREDIT_MAX = 300, 850
HISTORY_FULL_DAYS = 730
ACTIVITY_FULL_COUNT = 100


# --- User figures, statistics and credit profile ---------------------------------------------


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


def _clamp(value: Decimal) -> Decimal:
    return min(max(value, Decimal(0)), Decimal(1)).quantize(UNIT, rounding=ROUND_HALF_UP)


def credit_score(figures: dict) -> tuple[int, dict]:
    """The score (300-850) and the inputs it came from, for one user's lifetime figures.

    Deterministic: Decimal arithmetic only, components rounded half-up to 4 places, so the stored
    inputs reproduce the score exactly.
    """
    credit, debit = figures["credit_total"], figures["debit_total"]
    first = timezone.localtime(figures["first_transaction_at"])
    last = timezone.localtime(figures["last_transaction_at"])
    history_days = (figures["last_transaction_at"] - figures["first_transaction_at"]).days
    span_months = (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1
    net_flow_ratio = (credit - debit) / (credit + debit)
    ratio = debit / credit if credit else None
    components = {
        "net_flow": _clamp((net_flow_ratio + 1) / 2),
        "debit_credit_ratio": _clamp(Decimal("1.5") - ratio) if ratio is not None else _clamp(Decimal(0)),
        "regularity": _clamp(Decimal(figures["active_months"]) / span_months),
        "history_length": _clamp(Decimal(history_days) / HISTORY_FULL_DAYS),
        "activity": _clamp(Decimal(figures["transaction_count"]) / ACTIVITY_FULL_COUNT),
    }
    weighted = sum(CREDIT_WEIGHTS[name] * value for name, value in components.items())
    score = CREDIT_MIN + int(((CREDIT_MAX - CREDIT_MIN) * weighted).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    inputs = {
        "transaction_count": figures["transaction_count"],
        "credit_total": str(credit.quantize(Decimal("0.01"))),
        "debit_total": str(debit.quantize(Decimal("0.01"))),
        "net_flow": str((credit - debit).quantize(Decimal("0.01"))),
        "debit_credit_ratio": str(ratio.quantize(UNIT, rounding=ROUND_HALF_UP)) if ratio is not None else None,
        "history_days": history_days,
        "active_months": figures["active_months"],
        "span_months": span_months,
        "components": {name: str(value) for name, value in components.items()},
    }
    return score, inputs


def _refresh_locked(user_ids: list[int], *, event_id: int | None = None) -> None:
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
            _refresh_locked(ordered[start : start + REFRESH_CHUNK])
    return len(ordered)


# --- Alerts ----------------------------------------------------------------------------------


def _rules_tripped(txn: dict) -> list[str]:
    """The rules a transaction trips, judged against the user's transactions *before* it.

    "Before" follows the history order: an earlier ``transaction_date``, or the same date and a
    smaller id. The user's previous average is the exact mean of those amounts (credits and debits
    alike); with no previous transaction there is no average and the 10x rule cannot trip.
    """
    amount = txn["transaction_amount"]
    rules = []
    if amount >= Decimal(settings.LARGE_TRANSACTION_THRESHOLD):
        rules.append(Alert.Rule.LARGE_AMOUNT)
    previous = (
        Transaction.objects.filter(user_id=txn["user_id"])
        .filter(
            Q(transaction_date__lt=txn["transaction_date"])
            | Q(transaction_date=txn["transaction_date"], id__lt=txn["id"])
        )
        .aggregate(count=Count("id"), total=Sum("transaction_amount"))
    )
    # amount >= 10 * total / count, without rounding the average.
    if previous["count"] and amount * previous["count"] >= UNUSUAL_FACTOR * previous["total"]:
        rules.append(Alert.Rule.UNUSUAL_AMOUNT)
    return rules


def evaluate_alerts(*, txn_id: int) -> list[Alert]:
    """Raise the alerts a transaction deserves and return those created now (never a duplicate)."""
    txn = (
        Transaction.objects.filter(pk=txn_id).values("id", "user_id", "transaction_date", "transaction_amount").first()
    )
    if txn is None:  # deleted since: nothing to judge
        return []
    webhook = bool(settings.ALERT_WEBHOOK_URL)
    created_alerts = []
    for rule in _rules_tripped(txn):
        alert, created = Alert.objects.get_or_create(
            transaction_id=txn["id"],
            rule=rule,
            defaults={
                "user_id": txn["user_id"],
                "transaction_amount": txn["transaction_amount"],
                "delivery_status": Alert.Delivery.PENDING if webhook else Alert.Delivery.NOT_CONFIGURED,
                # If the on-commit publish is lost, the relay pushes it once this has passed.
                "delivery_next_attempt_at": (
                    timezone.now() + dt.timedelta(seconds=settings.OUTBOX_RELAY_LEASE) if webhook else None
                ),
            },
        )
        if created:
            created_alerts.append(alert)
    return created_alerts


# --- Outbox events ---------------------------------------------------------------------------


def process_event(*, event_id: int) -> bool:
    """Apply an outbox event's effects exactly once; False when it was already done (or is gone)."""
    from .tasks import publish_alert_delivery

    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status == OutboxEvent.Status.DONE:
            return False
        user_ids = sorted({event.user_id, event.previous_user_id} - {None})
        _refresh_locked(user_ids, event_id=event.pk)
        new_alerts = [] if event.kind == OutboxEvent.Kind.DELETED else evaluate_alerts(txn_id=event.transaction_id)
        event.status = OutboxEvent.Status.DONE
        event.attempts += 1
        event.processed_at = timezone.now()
        event.next_attempt_at = None
        event.last_error = ""
        event.save(update_fields=["status", "attempts", "processed_at", "next_attempt_at", "last_error"])
        for alert in new_alerts:
            if alert.delivery_status == Alert.Delivery.PENDING:
                transaction.on_commit(partial(publish_alert_delivery, alert.pk))
    return True


def event_retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter after `attempts` failures: 5 s, 10 s, 20 s ... at most OUTBOX_RETRY_MAX,
    plus up to 25%."""
    delay = min(settings.OUTBOX_RETRY_BASE * 2 ** max(attempts - 1, 0), settings.OUTBOX_RETRY_MAX)
    return delay + random.uniform(0, delay / 4)  # noqa: S311 (jitter, not a secret)


def record_event_failure(*, event_id: int, error: BaseException) -> float | None:
    """Count a failed attempt. Returns the delay before the next one, or None when the event is now failed."""
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status == OutboxEvent.Status.DONE:
            return None
        event.attempts += 1
        event.last_error = f"{type(error).__name__}: {error}"[:2000]
        if event.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            event.status = OutboxEvent.Status.FAILED
            event.next_attempt_at = None
            delay = None
        else:
            retry_in = event_retry_delay(event.attempts)
            # The task's own retry comes first; the relay steps in only if that message is lost.
            event.next_attempt_at = timezone.now() + dt.timedelta(seconds=retry_in + settings.OUTBOX_RELAY_LEASE)
            delay = retry_in
        event.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
    logger.warning(
        "outbox event %s attempt %s failed with %s%s",
        event_id,
        event.attempts,
        type(error).__name__,
        "; giving up" if delay is None else f"; retrying in {delay:.0f} s",
    )
    return delay


def requeue_event(*, event_id: int) -> bool:
    """Reset an event (typically a failed one) to pending with fresh attempts, and publish it on commit."""
    from .tasks import publish_event

    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None:
            return False
        event.status = OutboxEvent.Status.PENDING
        event.attempts = 0
        event.next_attempt_at = None
        event.save(update_fields=["status", "attempts", "next_attempt_at"])
        transaction.on_commit(partial(publish_event, event.pk))
    return True


def _claim_due(queryset, *, date_field: str, now: dt.datetime) -> list[int]:
    """Ids of due rows, pushed a lease into the future so the next relay run does not publish them again."""
    lease = now + dt.timedelta(seconds=settings.OUTBOX_RELAY_LEASE)
    with transaction.atomic():
        ids = list(
            queryset.select_for_update(skip_locked=True)
            .filter(Q(**{f"{date_field}__isnull": True}) | Q(**{f"{date_field}__lte": now}))
            .order_by("id")
            .values_list("id", flat=True)[: settings.OUTBOX_RELAY_BATCH]
        )
        queryset.model.objects.filter(pk__in=ids).update(**{date_field: lease})
    return ids


def relay_pending_work(*, now: dt.datetime | None = None) -> dict:
    """Publish outbox events still pending after OUTBOX_RELAY_DELAY, and alert pushes still owed.

    Covers a broker that was down at commit time, a process that died between commit and publish,
    and a lost retry message. Stops at the first failed publish (the broker is down again).
    """
    from .tasks import publish_alert_delivery, publish_event

    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.OUTBOX_RELAY_DELAY)
    published = {"events": 0, "alert_deliveries": 0}
    event_ids = _claim_due(
        OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, created_at__lte=cutoff),
        date_field="next_attempt_at",
        now=now,
    )
    for position, event_id in enumerate(event_ids):
        if not publish_event(event_id):
            OutboxEvent.objects.filter(pk__in=event_ids[position:], status=OutboxEvent.Status.PENDING).update(
                next_attempt_at=None
            )
            return published
        published["events"] += 1
    alert_ids = _claim_due(
        Alert.objects.filter(delivery_status=Alert.Delivery.PENDING, delivery_next_attempt_at__isnull=False),
        date_field="delivery_next_attempt_at",
        now=now,
    )
    for alert_id in alert_ids:
        if not publish_alert_delivery(alert_id):
            break
        published["alert_deliveries"] += 1
    return published
