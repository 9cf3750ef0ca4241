"""The alert rules (SPEC §7) and the alerts they raise: at most one per transaction and rule."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from transactions.models import Transaction

from .models import Alert

UNUSUAL_FACTOR = 10


def rules_tripped(txn: dict) -> list[str]:
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


def evaluate(*, txn_id: int) -> list[Alert]:
    """Raise the alerts a transaction deserves and return those created now (never a duplicate)."""
    txn = (
        Transaction.objects.filter(pk=txn_id).values("id", "user_id", "transaction_date", "transaction_amount").first()
    )
    if txn is None:  # deleted since: nothing to judge
        return []
    webhook = bool(settings.ALERT_WEBHOOK_URL)
    created_alerts = []
    for rule in rules_tripped(txn):
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
