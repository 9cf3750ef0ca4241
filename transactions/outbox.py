"""An outbox event's whole life (docs/operators.md): recorded in its write's database transaction, published,
retried with backoff, given up on, requeued.

The processing itself is ``analytics``', which ``transactions`` never imports: an event is published as a
message naming its task through the Celery app. No request waits for the broker: with a broker, the periodic
relay (every OUTBOX_RELAY_INTERVAL seconds) is the only publisher of new events, one bounded publish each
(settings ``CELERY_BROKER_*``, and a single immediate retry on a fresh connection,
``CELERY_TASK_PUBLISH_RETRY_POLICY``: a pooled connection is stale after a broker restart); on failure the
event stays pending for the next run. Without one (the embedded mode, tasks run in-process) an event is
processed right after its write commits.
"""

import datetime as dt
import logging
import random
import time
from collections.abc import Iterable, Sequence
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q, QuerySet
from django.db.models.sql import InsertQuery
from django.utils import timezone

from fido.celery import app

from .models import OutboxEvent
from .signals import Statement

logger = logging.getLogger(__name__)

# The task that processes an event. Messages already queued carry this name: never change it.
PROCESS_EVENT_TASK = "analytics.tasks.process_event"
# Up to this share of a retry delay is added at random, so retries of one failure do not arrive together.
JITTER = 0.1


class Relayed(NamedTuple):
    published: int
    complete: bool  # False: a publish failed (the broker is down again) and the rest waits for the next run


def in_process() -> bool:
    """Tasks run in this process (no broker: the embedded mode), so nothing relays: publish after the commit."""
    return bool(app.conf.task_always_eager)


def record(
    *,
    kind: str,
    txn_id: int,
    user_id: int,
    previous_user_id: int | None = None,
    statements: Sequence[Statement] = (),
) -> OutboxEvent:
    """Store the work a write owes, with the statements it owes besides, inside the write's database transaction.

    On PostgreSQL the statements and the event's insert are one ``WITH`` statement (one round trip); on SQLite
    they run one after the other. Processing follows the commit: in-process at once, or through the relay.
    """
    event = OutboxEvent(kind=kind, transaction_id=txn_id, user_id=user_id, previous_user_id=previous_user_id)
    _insert_with(event, statements)
    if in_process():
        transaction.on_commit(partial(publish, event.pk))
    return event


def _insert_sql(obj: models.Model) -> tuple[str, list]:
    """The INSERT ... RETURNING id that ``save()`` would send for an unsaved instance (defaults, auto_now_add)."""
    opts = obj._meta
    query = InsertQuery(type(obj))
    query.insert_values([field for field in opts.local_concrete_fields if field is not opts.auto_field], [obj])
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [opts.pk]
    [(sql, params)] = compiler.as_sql()
    return sql, list(params)


def _insert_with(event: OutboxEvent, statements: Sequence[Statement]) -> None:
    try:
        _execute_with(event, statements)
    except DatabaseError as exc:
        for statement in statements:
            client_error = statement.errors(exc) if statement.errors else None
            if client_error is not None:
                raise client_error from exc
        raise


def _execute_with(event: OutboxEvent, statements: Sequence[Statement]) -> None:
    event_sql, event_params = _insert_sql(event)
    returning = [(number, statement) for number, statement in enumerate(statements) if statement.then]
    with connection.cursor() as cursor:
        if statements and connection.vendor == "postgresql":
            members = "".join(f"s{number} AS ({statement.sql}), " for number, statement in enumerate(statements))
            # Each member with a `then` hands back its RETURNING rows as one JSON array.
            results = "".join(f", (SELECT COALESCE(json_agg(s{n}), '[]'::json) FROM s{n})" for n, _ in returning)  # noqa: S608
            cursor.execute(
                f"WITH {members}event AS ({event_sql}) SELECT (SELECT id FROM event){results}",  # noqa: S608 (ours)
                [param for statement in statements for param in statement.params] + event_params,
            )
            event.pk, *returned = cursor.fetchone()
            for (_, statement), rows in zip(returning, returned, strict=True):
                statement.then([tuple(row.values()) for row in rows])
        else:
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                if statement.then:
                    statement.then(cursor.fetchall())
            cursor.execute(event_sql, event_params)
            event.pk = cursor.fetchone()[0]
    event._state.adding = False
    event._state.db = connection.alias


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
    """Make these events pending again with fresh attempts, due now (for the relay, or in-process after the commit).

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
    if in_process():
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
    """Publish every pending event that is due, in batches, oldest first; stop at a failed publish.

    The publisher of new events, and the cover for a broker that was down, a process that died after its
    claim, and a lost retry message. What is left when half a lease has passed (a backlog) waits for the
    next run.
    """
    now = now or timezone.now()
    deadline = time.monotonic() + settings.OUTBOX_RELAY_LEASE / 2
    pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING)
    published = 0
    while True:
        event_ids = claim_due(pending, date_field="next_attempt_at", now=now)
        for position, event_id in enumerate(event_ids):
            if not publish(event_id):
                # Unclaimed, so the next run tries them again at once.
                OutboxEvent.objects.filter(pk__in=event_ids[position:], status=OutboxEvent.Status.PENDING).update(
                    next_attempt_at=None
                )
                return Relayed(published + position, complete=False)
        published += len(event_ids)
        if len(event_ids) < settings.OUTBOX_RELAY_BATCH or time.monotonic() > deadline:
            return Relayed(published, complete=True)
