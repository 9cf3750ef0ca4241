"""The processing (outbox) admin: filter by state, see the last error, re-queue."""

from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import tasks
from transactions.models import OutboxEvent

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:transactions_outboxevent_changelist")


def event(status, *, attempts=0, error=""):
    return OutboxEvent.objects.create(
        kind="created", transaction_id=1, user_id=1, status=status, attempts=attempts, last_error=error
    )


def test_filter_failed_shows_failed_events_with_their_last_error(staff_client):
    failed = event("failed", attempts=8, error="ConnectionError: broker unreachable\nTraceback ...")
    event("done", attempts=1)
    event("pending")
    response = staff_client.get(CHANGELIST, {"status": "failed"})
    assert response.status_code == HTTPStatus.OK
    assert list(response.context["cl"].result_list) == [failed]
    assert "ConnectionError: broker unreachable" in response.text


def test_filter_pending(staff_client):
    pending = event("pending")
    retrying = event("pending", attempts=2, error="Timeout")
    event("failed")
    assert set(staff_client.get(CHANGELIST, {"status": "pending"}).context["cl"].result_list) == {pending, retrying}
    assert list(staff_client.get(CHANGELIST, {"status": "retrying"}).context["cl"].result_list) == [retrying]


def test_requeue_resets_events_and_publishes_them_after_commit(
    staff_client, django_capture_on_commit_callbacks, monkeypatch
):
    failed = event("failed", attempts=8, error="boom")
    done = event("done", attempts=1)
    published = []
    # Only the admin action is under test: the published task would run the event at once in embedded
    # mode and hide the reset state (tests/processing covers what happens next).
    monkeypatch.setattr(tasks.process_event, "apply_async", lambda args, **kwargs: published.append(args[0]))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            CHANGELIST, {"action": "requeue", "_selected_action": [failed.pk, done.pk]}, follow=True
        )
    assert response.status_code == HTTPStatus.OK
    assert "Re-queued 1 event(s)." in response.text
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert failed.next_attempt_at <= timezone.now()
    done.refresh_from_db()
    assert done.status == "done"
    assert published == [failed.pk]


def test_events_are_read_only(staff_client):
    pending = event("pending")
    response = staff_client.get(reverse("admin:transactions_outboxevent_change", args=[pending.pk]))
    assert response.status_code == HTTPStatus.OK
    assert 'name="status"' not in response.text
    assert staff_client.get(reverse("admin:transactions_outboxevent_add")).status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize(("term", "found"), [("5", True), ("abc", False), ("99999999999999999999999", False)])
def test_search_by_transaction_or_user_id(staff_client, term, found):
    pending = OutboxEvent.objects.create(kind="created", transaction_id=5, user_id=9)
    response = staff_client.get(CHANGELIST, {"q": term})
    assert response.status_code == HTTPStatus.OK
    assert list(response.context["cl"].result_list) == ([pending] if found else [])
