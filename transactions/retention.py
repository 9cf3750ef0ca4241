"""Retention: idempotency records go after their 24 hours, done outbox events after OUTBOX_RETENTION_DAYS.

An idempotency record whose transaction is deleted goes at once, with it (its foreign key); this purge
deletes the rest. Run by the periodic task ``transactions.tasks.purge_expired`` (beat, every
RETENTION_PURGE_INTERVAL seconds) and by ``manage.py purge_expired``.

Each batch is two short statements in autocommit: the ids of at most RETENTION_BATCH_SIZE expired rows, read
in index order (``idempotency_created_idx``, ``outbox_status_created_idx``), then a DELETE of those ids that
repeats the condition, so a row changed meanwhile (an expired key claimed again) stays. No statement holds
locks for long, and a run stops after RETENTION_RUN_SECONDS, leaving the rest to the next one.
"""

import datetime as dt
import logging
import time
from typing import NamedTuple

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import IdempotencyRecord, OutboxEvent

logger = logging.getLogger(__name__)


class Purged(NamedTuple):
    idempotency_records: int
    outbox_events: int
    complete: bool  # False: the run hit its time budget and the rest waits for the next run
    seconds: float


def expired_idempotency_records(*, now: dt.datetime) -> QuerySet:
    """Records past their 24 hours (an expired key is free again: nothing reads them)."""
    return IdempotencyRecord.objects.filter(
        created_at__lte=now - dt.timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    )


def expired_outbox_events(*, now: dt.datetime) -> QuerySet:
    """Done events written more than OUTBOX_RETENTION_DAYS ago; pending and failed ones are never purged."""
    return OutboxEvent.objects.filter(
        status=OutboxEvent.Status.DONE,
        created_at__lt=now - dt.timedelta(days=settings.OUTBOX_RETENTION_DAYS),
    )


def _delete_in_batches(queryset: QuerySet, *, batch_size: int, deadline: float) -> tuple[int, bool]:
    """Delete the queryset's rows oldest first, a batch per statement. Returns (rows deleted, all done)."""
    deleted = 0
    while True:
        ids = list(queryset.order_by("created_at").values_list("pk", flat=True)[:batch_size])
        if ids:
            count, _ = queryset.filter(pk__in=ids).delete()
            deleted += count
        if len(ids) < batch_size:
            return deleted, True
        if time.monotonic() >= deadline:
            return deleted, False


def purge(*, now: dt.datetime | None = None, batch_size: int | None = None, seconds: float | None = None) -> Purged:
    """Delete expired idempotency records, then done outbox events past retention; one log line with the counts.

    `seconds` bounds the run (RETENTION_RUN_SECONDS unless given; ``math.inf``: until everything is deleted).
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    started = time.monotonic()
    deadline = started + (settings.RETENTION_RUN_SECONDS if seconds is None else seconds)
    records, records_done = _delete_in_batches(
        expired_idempotency_records(now=now), batch_size=batch_size, deadline=deadline
    )
    events, events_done = 0, False
    if records_done:  # otherwise the time is up already
        events, events_done = _delete_in_batches(
            expired_outbox_events(now=now), batch_size=batch_size, deadline=deadline
        )
    result = Purged(records, events, records_done and events_done, round(time.monotonic() - started, 3))
    logger.info(
        "retention purge: %s idempotency records and %s done outbox events deleted in %.2f s%s",
        result.idempotency_records,
        result.outbox_events,
        result.seconds,
        "" if result.complete else "; more left for the next run",
        extra={
            "event": "retention_purge",
            "idempotency_records": result.idempotency_records,
            "outbox_events": result.outbox_events,
            "complete": result.complete,
            "duration_ms": round(result.seconds * 1000, 1),
        },
    )
    return result
