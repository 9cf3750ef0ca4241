"""An outbox event's whole life (SPEC §7): recorded in its write's database transaction, published after the
commit, retried with backoff, given up on, requeued, and relayed when its publish got lost.

The processing itself is ``analytics``', which ``transactions`` never imports: an event is published as a
message naming its task through the Celery app. Publishing never holds a request for long: short timeouts
(settings ``CELERY_BROKER_*``) and a single immediate retry on a fresh connection
(``CELERY_TASK_PUBLISH_RETRY_POLICY``: a pooled connection is stale after a broker restart); on failure the
event stays pending and the periodic relay publishes it later.
"""

import datetime as dt
import logging
import random
from collections.abc import Iterable
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from fido.celery import app

from .models import OutboxEvent

logger = logging.getLogger(__name__)

# The task that processes an event. Messages already queued carry this name: never change it.
PROCESS_EVENT_TASK = "analytics.tasks.process_event"
# Up to this share of a retry delay is added at random, so retries of one failure do not arrive together.
JITTER = 0.1


class Relayed(NamedTuple):
    published: int
    complete: bool  # False: a publish failed (the broker is down again) and the rest waits for the next run


def record(*, kind: str, txn_id: int, user_id: int, previous_user_id: int | None = None) -> OutboxEvent:
    """Store the work a write owes, inside the write's database transaction; publish it once that commits."""
    event = OutboxEvent.objects.create(
        kind=kind, transaction_id=txn_id, user_id=user_id, previous_user_id=previous_user_id
    )
    transaction.on_commit(partial(publish, event.pk))
    return event


def send(task_name: str, object_id: int, *, what: str) -> bool:
    """One bounded publish of a task for one id; False (logged, the work stays pending) when it fails."""
    try:
        app.tasks[task_name].apply_async(args=[object_id], retry=True)
    except Exception as exc:
        logger.warning("%s %s not published (%s); the relay will deliver it", what, object_id, type(exc).__name__)
        return False
    return True


def publish(event_id: int) -> bool:
    """Queue an event's processing; False when the broker is unreachable (the event stays pending)."""
    return send(PROCESS_EVENT_TASK, event_id, what="outbox event")


def retry_delay(attempts: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Seconds before the next try after `attempts` failed ones: the one backoff policy of every retry.

    `base` doubling per failure up to `cap` (OUTBOX_RETRY_BASE and OUTBOX_RETRY_MAX unless given), plus up
    to 10% jitter.
    """
    base = settings.OUTBOX_RETRY_BASE if base is None else base
    cap = settings.OUTBOX_RETRY_MAX if cap is None else cap
    delay = min(base * 2 ** max(attempts - 1, 0), cap)
    return delay + random.uniform(0, delay * JITTER)  # noqa: S311 (jitter, not a secret)


def record_failure(*, event_id: int, error: BaseException) -> float | None:
    """Count a failed attempt. Returns the delay before the next one, or None once the event is given up (failed)."""
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
            delay = retry_delay(event.attempts)
            # The task's own retry comes first; the relay steps in only if that message is lost.
            event.next_attempt_at = timezone.now() + dt.timedelta(seconds=delay + settings.OUTBOX_RELAY_LEASE)
        event.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
    logger.warning(
        "outbox event %s attempt %s failed with %s%s",
        event_id,
        event.attempts,
        type(error).__name__,
        "; giving up" if delay is None else f"; retrying in {delay:.0f} s",
    )
    return delay


@transaction.atomic
def requeue(*, event_ids: Iterable[int]) -> list[int]:
    """Make these events pending again with fresh attempts, due now, and publish them on commit.

    Done events are left alone. Returns the ids requeued.
    """
    requeued = list(
        OutboxEvent.objects.filter(pk__in=list(event_ids))
        .exclude(status=OutboxEvent.Status.DONE)
        .select_for_update()
        .values_list("pk", flat=True)
    )
    OutboxEvent.objects.filter(pk__in=requeued).update(
        status=OutboxEvent.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    for event_id in requeued:
        transaction.on_commit(partial(publish, event_id))
    return requeued


def claim_due(queryset: QuerySet, *, date_field: str, now: dt.datetime) -> list[int]:
    """Ids of due rows (`date_field` empty or past), pushed a lease ahead so the next relay run skips them."""
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


def relay(*, now: dt.datetime | None = None) -> Relayed:
    """Publish the events still pending OUTBOX_RELAY_DELAY after their write and due; stop at a failed publish.

    Covers a broker that was down at commit time, a process that died between commit and publish, and a
    lost retry message.
    """
    now = now or timezone.now()
    event_ids = claim_due(
        OutboxEvent.objects.filter(
            status=OutboxEvent.Status.PENDING,
            created_at__lte=now - dt.timedelta(seconds=settings.OUTBOX_RELAY_DELAY),
        ),
        date_field="next_attempt_at",
        now=now,
    )
    for position, event_id in enumerate(event_ids):
        if not publish(event_id):
            # Unclaimed, so the next run tries them again at once.
            OutboxEvent.objects.filter(pk__in=event_ids[position:], status=OutboxEvent.Status.PENDING).update(
                next_attempt_at=None
            )
            return Relayed(position, complete=False)
    return Relayed(len(event_ids), complete=True)
