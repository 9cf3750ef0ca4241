"""Celery tasks. Thin: they carry ids only, call a service, and retry with backoff.

Publishing never blocks a request for long: a single connection attempt with a short timeout
(settings ``CELERY_BROKER_*``), no publish retry; on failure the work stays pending in the outbox
and the periodic relay publishes it later.
"""

import logging

from celery import shared_task

from . import cache, figures, overview, processing, webhooks

logger = logging.getLogger(__name__)


# --- Processing after a write ----------------------------------------------------------------


@shared_task(bind=True, max_retries=None)
def process_event(self, event_id: int) -> None:
    """Apply one outbox event; failures are recorded on the event and retried until it is marked failed."""
    try:
        processing.process_event(event_id=event_id)
    except Exception as exc:
        delay = processing.record_event_failure(event_id=event_id, error=exc)
        if delay is not None:
            raise self.retry(countdown=delay, exc=exc) from exc


def _publish(task, object_id: int, what: str) -> bool:
    """One bounded publish (settings.CELERY_TASK_PUBLISH_RETRY_POLICY: a single immediate retry on a fresh
    connection, as a pooled one is stale after a broker restart); False (logged, work left pending for
    the relay) when it fails."""
    try:
        task.apply_async(args=[object_id], retry=True)
    except Exception as exc:
        logger.warning("%s %s not published (%s); the relay will deliver it", what, object_id, type(exc).__name__)
        return False
    return True


def publish_event(event_id: int) -> bool:
    """Queue an outbox event's processing; False (logged, event left pending) when the broker is unreachable."""
    return _publish(process_event, event_id, "outbox event")


@shared_task
def relay_pending_work() -> dict:
    """Periodic (beat): publish events and alert pushes whose first publish or retry got lost."""
    return processing.relay_pending_work()


# --- Alert push ------------------------------------------------------------------------------


@shared_task(bind=True, max_retries=None)
def deliver_alert(self, alert_id: int) -> None:
    """Push one alert to ALERT_WEBHOOK_URL; the attempt count and backoff live on the alert."""
    delay = webhooks.deliver_alert(alert_id=alert_id)
    # In-process (no broker) a retry would run at once inside the request: leave it to the relay.
    if delay is not None and not self.request.is_eager:
        raise self.retry(countdown=delay)


def publish_alert_delivery(alert_id: int) -> bool:
    """Queue an alert push; False (logged, push left pending for the relay) when the broker is unreachable."""
    return _publish(deliver_alert, alert_id, "alert push")


# --- Analytics upkeep --------------------------------------------------------------------------


@shared_task(ignore_result=True)
def refresh_analytics() -> None:
    """Fold pending writes into the overview, and recompute hot cache entries before they expire."""
    overview.apply_changes()
    cache.refresh_hot_entries()


@shared_task(ignore_result=True)
def reconcile_analytics() -> list[int]:
    """Correct the figures of changes made behind the API (SQL): those users' answers, statistics and profiles.

    A full scan of the transactions (seconds at a million rows), so it runs at ANALYTICS_RECONCILE_SECONDS,
    not at every refresh. Returns the users whose figures were corrected.
    """
    corrected = figures.reconcile()
    cache.bump_generations(corrected)
    if corrected:
        processing.refresh_users(user_ids=corrected)  # their statistics and credit profiles follow too
    return sorted(corrected)
