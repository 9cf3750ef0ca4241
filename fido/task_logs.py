"""One JSON line per Celery task, the request id carried from the request that queued it, and
Django's logging configuration (JSON, redaction) in workers and beat too.

Imported by `fido/celery.py`. Arguments and results are never logged: tasks take ids only, and a
line needs no more than the task's name, id, state and duration.
"""

import contextlib
import logging
import time
from logging.config import dictConfig

from celery import signals
from django.conf import settings

from . import db_router
from .logs import request_id_var

logger = logging.getLogger("fido.task")
_HEADER = "fido_request_id"
_started: dict[str, tuple[float, object, object]] = {}


@signals.setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Workers log through settings.LOGGING instead of Celery's own root handler."""
    dictConfig(settings.LOGGING)


@signals.before_task_publish.connect
def add_request_id(headers=None, **kwargs) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(_HEADER, request_id)


@signals.task_prerun.connect
def task_started(task_id=None, task=None, **kwargs) -> None:
    request_id = getattr(task.request, _HEADER, None) if task is not None else None
    id_token = request_id_var.set(request_id or task_id)
    # Tasks run right after a write and must see it: their reads stay on the primary.
    pin_token = db_router.pin_primary()
    _started[task_id] = (time.perf_counter(), id_token, pin_token)


@signals.task_postrun.connect
def task_finished(task_id=None, task=None, state=None, **kwargs) -> None:
    started, id_token, pin_token = _started.pop(task_id, (None, None, None))
    logger.info(
        "task %s %s",
        getattr(task, "name", "?"),
        state,
        extra={
            "event": "task",
            "task": getattr(task, "name", None),
            "task_id": task_id,
            "state": state,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started is not None else None,
        },
    )
    # A token set in another context (a task finished on another thread) cannot be reset there.
    with contextlib.suppress(ValueError, TypeError):
        db_router.unpin(pin_token)
        request_id_var.reset(id_token)
