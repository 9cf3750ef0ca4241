"""Celery tasks: thin wrappers that carry ids only, call a service, and retry with backoff.

Task names are part of the messages already queued: ``process_event`` and ``deliver_alert`` are pinned to
the names their publishers send (``transactions/outbox.py``, ``webhooks.py``); the others are named after
this module, as the beat schedule in settings names them.
"""

from celery import shared_task

from fido import cache
from transactions import outbox

from . import figures, processing, service_figures, statistics, webhooks


@shared_task(bind=True, max_retries=None, name=outbox.PROCESS_EVENT_TASK)
def process_event(self, event_id: int) -> None:
    """Apply one outbox event (and in-process, the overview's share of the write); failures are recorded on the
    event and retried until it is given up."""
    try:
        processing.process_event(event_id=event_id)
    except Exception as exc:
        delay = outbox.record_failure(event_id=event_id, error=exc)
        if delay is not None:
            raise self.retry(countdown=delay, exc=exc) from exc
    # The overview's share of the write (the service-wide figures of the day it changed) costs what that day's
    # active users do, not this user: with a broker, beat's periodic refresh folds it (OVERVIEW_MAX_AGE allows
    # for that); in-process, where nothing periodic runs, right after the event's commit.
    if outbox.in_process():
        service_figures.apply_changes()


@shared_task(bind=True, max_retries=None, name=webhooks.DELIVER_ALERT_TASK)
def deliver_alert(self, alert_id: int) -> None:
    """Push one alert to ALERT_WEBHOOK_URL; the attempt count and backoff live on the alert."""
    delay = webhooks.deliver_alert(alert_id=alert_id)
    # In-process (no broker) a retry would run at once inside the request: leave it to the relay.
    if delay is not None and not self.request.is_eager:
        raise self.retry(countdown=delay)


@shared_task
def relay_pending_work() -> dict:
    """Periodic (beat, every second): publish the pending outbox events, and alert pushes whose retry got lost."""
    events = outbox.relay()
    # A failed event publish means the broker is down again: the pushes wait for the next run too.
    pushes = webhooks.relay() if events.complete else 0
    return {"events": events.published, "alert_deliveries": pushes}


@shared_task(ignore_result=True)
def refresh_analytics() -> None:
    """Fold pending writes into the overview.

    Cached answers are not recomputed here: an entry lives ANALYTICS_CACHE_TTL and is computed again by the
    next read after that, so an entry nobody reads is never stored again (a periodic refresh would keep every
    cursor or period ever asked for alive); changes made behind the API reach the answers through the
    reconciliation's invalidation, or the TTL.
    """
    service_figures.apply_changes()


@shared_task(ignore_result=True)
def reconcile_analytics() -> list[int]:
    """Correct the figures of changes made behind the API (SQL): those users' answers, statistics and profiles.

    A full scan of the transactions (seconds at a million rows), so it runs at ANALYTICS_RECONCILE_SECONDS,
    not at every refresh. Returns the users whose figures were corrected.
    """
    corrected = figures.reconcile()
    service_figures.apply_changes()  # the corrected days
    cache.bump_generations(corrected)
    if corrected:
        statistics.refresh_users(user_ids=corrected)  # their statistics and credit profiles follow too
    return sorted(corrected)
