"""Alert push: signed JSON, stable delivery id, retries with backoff, state on the alert."""

import hashlib
import hmac
import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

import pytest
from celery.exceptions import Retry
from django.db.models import F
from django.test import override_settings

from analytics import tasks, webhooks
from analytics.models import Alert

pytestmark = pytest.mark.django_db

SECRET = "webhook-test-secret"


@pytest.fixture
def large(write_api):
    """Create a transaction large enough for an alert and return the alert."""

    def create() -> Alert:
        txn = write_api.create(transaction_amount="25000.00")
        return Alert.objects.get(transaction_id=txn["id"])

    return create


def test_an_alert_is_pushed_signed_without_the_name(webhook_receiver, large):
    receiver = webhook_receiver()
    with override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET):
        alert = large()

    [request] = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Fido-Signature"] == expected
    assert request["headers"]["X-Fido-Delivery"] == str(alert.delivery_id)
    assert request["headers"]["Content-Type"] == "application/json"
    assert receiver.payloads() == [
        {
            "id": alert.pk,
            "rule": "large_amount",
            "user_id": 42,
            "transaction_id": alert.transaction_id,
            "transaction_amount": "25000.00",
            "created_at": alert.created_at.isoformat().replace("+00:00", "Z"),
        }
    ]
    assert b"Ama" not in request["body"]
    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.DELIVERED, 1)
    assert alert.delivered_at is not None


def test_a_failed_push_is_retried_with_the_same_delivery_id_until_it_succeeds(webhook_receiver, large):
    receiver = webhook_receiver([500, 503])
    with override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET):
        alert = large()
        alert.refresh_from_db()
        assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.PENDING, 1)
        assert alert.delivery_last_error == "HTTP 500"
        assert alert.delivery_next_attempt_at > alert.created_at

        tasks.deliver_alert.apply(args=[alert.pk])
        tasks.deliver_alert.apply(args=[alert.pk])
        tasks.deliver_alert.apply(args=[alert.pk])  # delivered already: nothing sent

    assert len(receiver.requests) == 3
    assert {request["headers"]["X-Fido-Delivery"] for request in receiver.requests} == {str(alert.delivery_id)}
    assert len({request["body"] for request in receiver.requests}) == 1
    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts, alert.delivery_last_error) == ("delivered", 3, "")


def test_the_worker_task_schedules_its_retry_with_backoff(webhook_receiver, large, monkeypatch):
    receiver = webhook_receiver([500, 500])
    with override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET):
        alert = large()
        countdowns = []

        def record_retry(countdown):
            countdowns.append(countdown)
            return Retry(when=countdown)

        monkeypatch.setattr(tasks.deliver_alert, "retry", record_retry)
        with pytest.raises(Retry):
            tasks.deliver_alert(alert.pk)  # called as a worker calls it, not eagerly

    assert 60 <= countdowns[0] <= 66  # the second failure waits 60 s (+ up to 10% jitter)


def test_retries_start_within_a_minute_and_go_on_for_over_an_hour():
    delays = [webhooks.retry_delay(attempts) for attempts in range(1, 20)]
    scheduled = [delay for delay in delays if delay is not None]
    assert scheduled[0] < 60
    assert sum(scheduled) > 3600
    assert delays[len(scheduled)] is None


def test_a_push_that_keeps_failing_gives_up_and_can_be_retried_from_admin(webhook_receiver, large, admin_client):
    receiver = webhook_receiver([500, 500])
    with override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET, ALERT_WEBHOOK_MAX_ATTEMPTS=2):
        alert = large()
        tasks.deliver_alert.apply(args=[alert.pk])
        alert.refresh_from_db()
        assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.FAILED, 2)

        admin_client.post(
            "/admin/analytics/alert/", {"action": "retry_delivery", "_selected_action": [alert.pk]}, follow=True
        )
        tasks.deliver_alert.apply(args=[alert.pk])

    alert.refresh_from_db()
    assert alert.delivery_status == Alert.Delivery.DELIVERED
    assert len(receiver.requests) == 3


def test_an_unreachable_receiver_is_recorded_on_the_alert(large):
    with override_settings(ALERT_WEBHOOK_URL="http://127.0.0.1:1/hook", ALERT_WEBHOOK_SECRET=SECRET):
        alert = large()
    alert.refresh_from_db()
    assert alert.delivery_status == Alert.Delivery.PENDING
    assert "Connection refused" in alert.delivery_last_error


def test_without_a_webhook_url_nothing_is_pushed(large):
    alert = large()
    assert alert.delivery_status == Alert.Delivery.NOT_CONFIGURED


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_redirect_is_a_failed_attempt_not_a_delivery(http_server, large):
    gets = []

    class Redirecting(_QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # what urllib would re-send, without the body
            gets.append(self.path)
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Length", "0")
            self.end_headers()

    url = http_server(Redirecting) + "/hook"
    with override_settings(ALERT_WEBHOOK_URL=url, ALERT_WEBHOOK_SECRET=SECRET):
        alert = large()

    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.PENDING, 1)
    assert alert.delivery_last_error == "HTTP 302"
    assert gets == []


def test_a_garbled_answer_is_a_failed_attempt(http_server, large):
    class Garbage(_QuietHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.wfile.write(b"NONSENSE\r\n\r\n")

    url = http_server(Garbage) + "/hook"
    with override_settings(ALERT_WEBHOOK_URL=url, ALERT_WEBHOOK_SECRET=SECRET):
        alert = large()

    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.PENDING, 1)
    assert alert.delivery_last_error.startswith("BadStatusLine")


def test_an_invalid_url_fails_every_attempt_and_ends_failed(large):
    with override_settings(
        ALERT_WEBHOOK_URL="http://127.0.0.1:80a/hook", ALERT_WEBHOOK_SECRET=SECRET, ALERT_WEBHOOK_MAX_ATTEMPTS=2
    ):
        alert = large()
        tasks.deliver_alert.apply(args=[alert.pk])

    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.FAILED, 2)
    assert alert.delivery_last_error.startswith("InvalidURL")


def _meanwhile(monkeypatch, **changes):
    """While the push is on the wire, a concurrent push (relay copy, admin retry) updates the alert."""
    post = webhooks._post

    def post_and_race(url, body, headers):
        error = post(url, body, headers)
        alert_id = json.loads(body)["id"]
        Alert.objects.filter(pk=alert_id).update(delivery_attempts=F("delivery_attempts") + 1, **changes)
        return error

    monkeypatch.setattr(webhooks, "_post", post_and_race)


def test_a_failed_push_does_not_undo_a_concurrent_delivery(webhook_receiver, large, monkeypatch):
    receiver = webhook_receiver([500])
    with override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET):
        _meanwhile(monkeypatch, delivery_status=Alert.Delivery.DELIVERED)
        alert = large()

    alert.refresh_from_db()
    assert alert.delivery_status == Alert.Delivery.DELIVERED
    assert alert.delivery_last_error == ""


def test_concurrent_failed_pushes_each_count_an_attempt(webhook_receiver, large, monkeypatch):
    receiver = webhook_receiver([500])
    with override_settings(ALERT_WEBHOOK_URL=receiver.url, ALERT_WEBHOOK_SECRET=SECRET):
        _meanwhile(monkeypatch)
        alert = large()

    alert.refresh_from_db()
    assert (alert.delivery_status, alert.delivery_attempts) == (Alert.Delivery.PENDING, 2)
