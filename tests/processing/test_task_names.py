"""Messages name their task: every name published or scheduled is a registered task, in a fresh process."""

import json
import subprocess
import sys

from django.conf import settings

from analytics.webhooks import DELIVER_ALERT_TASK
from transactions.outbox import PROCESS_EVENT_TASK

# Names carried by messages already queued in production: they must never change.
QUEUED_NAMES = {
    "analytics.tasks.process_event",
    "analytics.tasks.deliver_alert",
    "analytics.tasks.relay_pending_work",
    "analytics.tasks.refresh_analytics",
    "analytics.tasks.reconcile_analytics",
    "transactions.tasks.purge_audit_records",
    "transactions.tasks.purge_expired",
}


def registered_in_a_web_process() -> set[str]:
    """The tasks a freshly started Django process (a web worker, not a Celery worker) knows by name."""
    code = "from fido.celery import app; import json; print(json.dumps(sorted(app.tasks)))"
    result = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_published_and_scheduled_names_are_the_queued_ones_and_registered():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    published = {PROCESS_EVENT_TASK, DELIVER_ALERT_TASK}

    assert scheduled | published == QUEUED_NAMES
    assert registered_in_a_web_process() >= QUEUED_NAMES
