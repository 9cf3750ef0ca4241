"""The service's state for /metrics, read at scrape time: the outbox, webhook pushes, retention, the Celery queue.

Read from the database and the broker by whichever process answers the scrape, so the figures are the same
from every gunicorn worker (and count what Celery workers did, which no web process sees). Each query is an
index probe or an index range over the rows it counts (pending and failed events, owed pushes, the latest
alerts): a scrape costs about the same with a million done events or delivered pushes (docs/metrics.md).
The broker is asked in a thread bounded by HEALTH_CHECK_TIMEOUT (as /readyz asks it); a database or broker
that does not answer is reported down (``fido_database_up``, ``fido_celery_broker_up``) and its figures left
out, never a failed scrape.
"""

import datetime as dt
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from analytics.models import Alert
from fido.celery import app
from transactions.models import IdempotencyRecord, OutboxEvent

from .health import run_bounded

logger = logging.getLogger(__name__)

BROKER_CHECK = "metrics-broker"  # its own name: a scrape never waits on /readyz's broker thread
# The latest alerts whose pushes fido_webhook_recent_pushes reports (an index range of this many rows).
RECENT_ALERTS = 1000


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age_seconds(oldest: dt.datetime | None) -> float:
    return max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0


def _oldest_created(queryset: QuerySet) -> dt.datetime | None:
    """One probe of an index that starts with the filtered column and goes on with created_at."""
    return queryset.order_by("created_at").values_list("created_at", flat=True).first()


def outbox_metrics() -> Iterator[Metric]:
    """Pending and failed events, the oldest pending one's age, and the oldest done one's (retention)."""
    counts = dict(
        OutboxEvent.objects.filter(status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.FAILED])
        .values_list("status")
        .annotate(count=Count("*"))
        .order_by()
    )
    gauges = [
        (
            "fido_outbox_pending_events",
            "Outbox events waiting to be processed (a broker outage or a busy worker makes them pile up).",
            counts.get(OutboxEvent.Status.PENDING, 0),
        ),
        (
            "fido_outbox_oldest_pending_age_seconds",
            "Seconds since the write of the oldest pending outbox event (0 when none is pending).",
            _age_seconds(_oldest_created(OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING))),
        ),
        (
            "fido_outbox_failed_events",
            "Outbox events given up after OUTBOX_MAX_ATTEMPTS failures, waiting for an operator to re-queue them.",
            counts.get(OutboxEvent.Status.FAILED, 0),
        ),
        (
            "fido_outbox_oldest_done_age_seconds",
            "Seconds since the write of the oldest done outbox event still kept (the purge keeps it under retention).",
            _age_seconds(_oldest_created(OutboxEvent.objects.filter(status=OutboxEvent.Status.DONE))),
        ),
        (
            "fido_outbox_retention_seconds",
            "How long done outbox events are kept after their write (OUTBOX_RETENTION_DAYS).",
            settings.OUTBOX_RETENTION_DAYS * 86400,
        ),
        (
            "fido_idempotency_oldest_record_age_seconds",
            "Seconds since the oldest idempotency record kept was made (the purge keeps it near 24 hours).",
            _age_seconds(_oldest_created(IdempotencyRecord.objects.all())),
        ),
    ]
    for name, documentation, value in gauges:
        yield _gauge(name, documentation, value)


def webhook_metrics() -> Iterator[Metric]:
    """Alert pushes: still owed, given up, the failed attempts of those owed, and how the latest ones fared.

    Not a count of every delivered push: alerts are never deleted, and counting them would read the whole
    index of a table that only grows, at every scrape (130 ms at 1,000,000 alerts).
    """
    owed = {
        row["delivery_status"]: row
        for row in Alert.objects.filter(delivery_status__in=[Alert.Delivery.PENDING, Alert.Delivery.FAILED])
        .values("delivery_status")
        .annotate(
            count=Count("*"),
            retrying=Count("pk", filter=Q(delivery_attempts__gt=0)),
            attempts=Sum("delivery_attempts"),
        )
        .order_by()
    }
    pending = owed.get(Alert.Delivery.PENDING, {})
    pushes = GaugeMetricFamily(
        "fido_webhook_pushes",
        "Alert pushes not delivered, by state: pending (still tried) or failed (given up after about 1 h 30).",
        labels=["state"],
    )
    for state in (Alert.Delivery.PENDING, Alert.Delivery.FAILED):
        pushes.add_metric([state.value], owed.get(state, {}).get("count", 0))
    yield pushes
    yield _gauge(
        "fido_webhook_retrying_pushes",
        "Pending alert pushes that have failed at least once (the receiver refuses or does not answer).",
        pending.get("retrying", 0),
    )
    yield _gauge(
        "fido_webhook_failed_attempts",
        "Failed attempts of the alert pushes still pending (each push: at most 11 attempts).",
        pending.get("attempts") or 0,
    )
    latest = Alert.objects.order_by("-pk").values("pk")[:RECENT_ALERTS]
    recent = dict(
        Alert.objects.filter(pk__in=latest).values_list("delivery_status").annotate(count=Count("*")).order_by()
    )
    pushes = GaugeMetricFamily(
        "fido_webhook_recent_pushes",
        f"The push state of the latest {RECENT_ALERTS:,} alerts: delivered, pending, failed (given up) or "
        "not_configured (no ALERT_WEBHOOK_URL when raised).",
        labels=["state"],
    )
    for state in Alert.Delivery:
        pushes.add_metric([state.value], recent.get(state, 0))
    yield pushes


def database_metrics() -> Iterator[Metric]:
    """Everything read from the database, or `fido_database_up 0` alone when it does not answer."""
    try:
        metrics = [*outbox_metrics(), *webhook_metrics()]
    except DatabaseError as exc:
        logger.warning("metrics: the database did not answer (%s)", type(exc).__name__)
        metrics, up = [], 0
    else:
        up = 1
    yield _gauge("fido_database_up", "1 when the database answered this scrape's queries, else 0.", up)
    yield from metrics


def queue_depth() -> dict:
    """Messages waiting in the Celery queue (and its consumers on RabbitMQ), asked of the broker directly."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_read(url=settings.CELERY_BROKER_URL) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEALTH_CHECK_TIMEOUT)
        try:
            _, messages, consumers = connection.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError as exc:
            # A queue nobody has declared yet (RabbitMQ), or an empty one (Redis keeps no empty list): no message.
            if str(exc.reply_code) != "404":
                raise
            messages, consumers = 0, 0
        amqp = connection.transport.driver_type == "amqp"
    return {"status": "ok", "messages": messages, "consumers": consumers if amqp else None}


def broker_metrics() -> Iterator[Metric]:
    """The Celery queue's depth; nothing without a broker (tasks run in-process)."""
    if not settings.CELERY_BROKER_URL:
        return
    result = run_bounded({BROKER_CHECK: queue_depth}, settings.HEALTH_CHECK_TIMEOUT)[BROKER_CHECK]
    up = result["status"] == "ok"
    if not up:
        logger.warning("metrics: the broker did not answer (%s)", result.get("reason"))
    yield _gauge("fido_celery_broker_up", "1 when the Celery broker answered this scrape, else 0.", int(up))
    if not up:
        return
    labels = [settings.CELERY_TASK_DEFAULT_QUEUE]
    messages = GaugeMetricFamily(
        "fido_celery_queue_messages", "Messages waiting in the Celery queue (none taken by a worker).", labels=["queue"]
    )
    messages.add_metric(labels, result["messages"])
    yield messages
    if result["consumers"] is not None:
        consumers = GaugeMetricFamily(
            "fido_celery_queue_consumers", "Workers consuming the Celery queue (RabbitMQ only).", labels=["queue"]
        )
        consumers.add_metric(labels, result["consumers"])
        yield consumers


class ServiceCollector:
    """A prometheus_client collector of the figures above, computed afresh at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from database_metrics()
        yield from broker_metrics()
