"""The Celery application (`celery -A fido worker`), configured from Django settings."""

import os

from celery import Celery

from . import broker_fix

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fido.settings")

# The worker must survive a Redis broker restart: see fido/broker_fix.py.
broker_fix.apply()

app = Celery("fido")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from . import task_logs  # noqa: E402, F401 - JSON task logs and request ids (signals)
