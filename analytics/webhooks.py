"""Alert push (docs/api.md): a signed JSON POST to ALERT_WEBHOOK_URL, retried with backoff for over an hour.

The body never holds the name. ``X-Fido-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` under
ALERT_WEBHOOK_SECRET; ``X-Fido-Delivery`` is the alert's delivery id, the same on every retry, so a
receiver can drop duplicates (delivery is at least once). The state of each push lives on the alert.
"""

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from transactions import outbox

from .models import Alert

logger = logging.getLogger(__name__)

# The task that pushes an alert. Messages already queued carry this name: never change it.
DELIVER_ALERT_TASK = "analytics.tasks.deliver_alert"

SIGNATURE_HEADER = "X-Fido-Signature"
DELIVERY_HEADER = "X-Fido-Delivery"


def alert_payload(alert: Alert) -> dict:
    """What a receiver gets: ids, rule, amount and time; never the name."""
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "user_id": alert.user_id,
        "transaction_id": alert.transaction_id,
        "transaction_amount": f"{alert.transaction_amount:.2f}",
        "created_at": alert.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def sign(body: bytes, secret: str) -> str:
    """The X-Fido-Signature value of a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: urllib would follow a 301/302/303 with a GET without the body, and a 2xx
    to that GET is no delivery. The 3xx is then raised as an HTTPError, a failed attempt."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict) -> str | None:
    """POST and return None on a 2xx answer, else a short reason."""
    if not url.startswith(("http://", "https://")):
        return "ALERT_WEBHOOK_URL is not an http(s) URL"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
    try:
        with _opener.open(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    # http.client errors (a garbled status line, an over-long header, a bad port) and ValueError are
    # no OSError, yet just as much a failed attempt.
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"[:500]
    return None if 200 <= status < 300 else f"HTTP {status}"


def retry_delay(attempts: int) -> float | None:
    """Seconds before the next try after `attempts` failed ones (the outbox's backoff policy); None: give up."""
    if attempts >= settings.ALERT_WEBHOOK_MAX_ATTEMPTS:
        return None
    return outbox.retry_delay(attempts, base=settings.ALERT_WEBHOOK_RETRY_BASE, cap=settings.ALERT_WEBHOOK_RETRY_MAX)


def publish(alert_id: int) -> bool:
    """Queue an alert push; False (logged, the push stays pending for the relay) when the broker is unreachable."""
    return outbox.send(DELIVER_ALERT_TASK, alert_id, what="alert push")


def deliver_alert(*, alert_id: int) -> float | None:
    """Push one alert once. Returns the delay before a retry is due, or None (delivered, gave up, nothing to do)."""
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None or alert.delivery_status != Alert.Delivery.PENDING:
        return None
    if not settings.ALERT_WEBHOOK_URL:
        Alert.objects.filter(pk=alert_id).update(
            delivery_status=Alert.Delivery.NOT_CONFIGURED, delivery_next_attempt_at=None
        )
        return None
    body = json.dumps(alert_payload(alert), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "fido-alerts/1",
        SIGNATURE_HEADER: sign(body, settings.ALERT_WEBHOOK_SECRET),
        DELIVERY_HEADER: str(alert.delivery_id),
    }
    # No database transaction is held across the network call.
    error = _post(settings.ALERT_WEBHOOK_URL, body, headers)
    attempts = alert.delivery_attempts + 1
    now = timezone.now()
    if error is None:
        Alert.objects.filter(pk=alert_id).update(
            delivery_status=Alert.Delivery.DELIVERED,
            delivery_attempts=F("delivery_attempts") + 1,
            delivered_at=now,
            delivery_next_attempt_at=None,
            delivery_last_error="",
        )
        return None
    delay = retry_delay(attempts)
    # Only a push still pending records a failure: a concurrent push (relay copy, admin retry) may have
    # delivered it meanwhile, and its attempts count as well.
    updated = Alert.objects.filter(pk=alert_id, delivery_status=Alert.Delivery.PENDING).update(
        delivery_status=Alert.Delivery.FAILED if delay is None else Alert.Delivery.PENDING,
        delivery_attempts=F("delivery_attempts") + 1,
        delivery_last_error=error,
        # The task's retry comes first; the relay steps in only if that message is lost.
        delivery_next_attempt_at=(
            None if delay is None else now + dt.timedelta(seconds=delay + settings.OUTBOX_RELAY_LEASE)
        ),
    )
    logger.warning("alert %s push attempt %s failed (%s)%s", alert_id, attempts, error, "; giving up" * (delay is None))
    return delay if updated else None


def retry_delivery(*, alert_id: int) -> bool:
    """Make a failed (or unconfigured) push pending again with fresh attempts; the caller publishes it."""
    return bool(
        Alert.objects.filter(pk=alert_id)
        .exclude(delivery_status=Alert.Delivery.DELIVERED)
        .update(
            delivery_status=Alert.Delivery.PENDING,
            delivery_attempts=0,
            delivery_next_attempt_at=timezone.now() + dt.timedelta(seconds=settings.OUTBOX_RELAY_LEASE),
        )
    )


def relay(*, now: dt.datetime | None = None) -> int:
    """Publish the pushes still owed whose publish or retry got lost; stop at a failed publish. Returns how many."""
    alert_ids = outbox.claim_due(
        Alert.objects.filter(delivery_status=Alert.Delivery.PENDING, delivery_next_attempt_at__isnull=False),
        date_field="delivery_next_attempt_at",
        now=now or timezone.now(),
    )
    published = 0
    for alert_id in alert_ids:
        if not publish(alert_id):
            break
        published += 1
    return published
