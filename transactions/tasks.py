"""The write side's periodic Celery tasks, thin (scheduled by beat in fido/settings.py): the retention purges."""

import logging
import time

from celery import shared_task
from django.conf import settings

from . import audit, retention

logger = logging.getLogger("fido.audit")

PURGE_TASK = "transactions.tasks.purge_audit_records"


@shared_task(name=PURGE_TASK)
def purge_audit_records() -> None:
    """Delete audit records older than AUDIT_RETENTION_DAYS, at most AUDIT_PURGE_BATCHES batches per run."""
    cutoff = audit.retention_cutoff()
    if cutoff is None:
        return
    started = time.perf_counter()
    purged = audit.audit_purge(before=cutoff, max_batches=settings.AUDIT_PURGE_BATCHES)
    logger.info(
        "audit purge: %s record(s) older than %s deleted",
        purged,
        cutoff.isoformat(),
        extra={"event": "audit_purge", "purged": purged, "duration_ms": round((time.perf_counter() - started) * 1000)},
    )


@shared_task(ignore_result=True)
def purge_expired() -> dict:
    """Delete expired idempotency records and done outbox events past their retention (RETENTION_PURGE_INTERVAL)."""
    return retention.purge()._asdict()
