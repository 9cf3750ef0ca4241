"""Periodic analytics work (Celery beat: see CELERY_BEAT_SCHEDULE in fido/settings.py)."""

from celery import shared_task

from . import cache, overview


@shared_task(ignore_result=True)
def refresh_analytics() -> None:
    """Fold pending writes into the overview, and recompute hot cache entries before they expire."""
    overview.apply_changes()
    cache.refresh_hot_entries()
