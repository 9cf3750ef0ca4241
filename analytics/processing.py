"""Processing after a write (docs/operators.md): apply one outbox event's effects, exactly once.

Every effect is recomputed (from the user's per-day figures and index lookups, never a scan of their rows)
or guarded by a unique constraint, so processing an event twice changes nothing the second time, and one
event costs the same for a user with a hundred transactions or a million. The event's life around it (publish,
retries, giving up, requeue, relay) is ``transactions/outbox.py``'s.
"""

from functools import partial

from django.db import transaction
from django.utils import timezone

from fido import cache
from transactions.models import OutboxEvent

from . import alerts, statistics, webhooks
from .models import Alert


def process_event(*, event_id: int) -> bool:
    """Apply an outbox event's effects exactly once; False when it was already done (or is gone)."""
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status == OutboxEvent.Status.DONE:
            return False
        user_ids = sorted({event.user_id, event.previous_user_id} - {None})
        # The write's cache invalidation again, after this commit: one lost at the write's commit is repaired.
        transaction.on_commit(partial(cache.repair_generations, user_ids), robust=True)
        statistics.refresh_locked(user_ids, event_id=event.pk)
        new_alerts = [] if event.kind == OutboxEvent.Kind.DELETED else alerts.evaluate(txn_id=event.transaction_id)
        event.status = OutboxEvent.Status.DONE
        event.attempts += 1
        event.processed_at = timezone.now()
        event.next_attempt_at = None
        event.last_error = ""
        event.save(update_fields=["status", "attempts", "processed_at", "next_attempt_at", "last_error"])
        for alert in new_alerts:
            if alert.delivery_status == Alert.Delivery.PENDING:
                transaction.on_commit(partial(webhooks.publish, alert.pk))
    return True
