"""Celery tasks of the system of record, thin: the retention purge (beat, RETENTION_PURGE_INTERVAL)."""

from celery import shared_task

from . import retention


@shared_task(ignore_result=True)
def purge_expired() -> dict:
    """Periodic (beat): delete expired idempotency records and done outbox events past their retention."""
    return retention.purge()._asdict()
