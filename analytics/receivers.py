"""Receivers of the write side's signals (see transactions/signals.py)."""

from django.dispatch import receiver

from transactions.signals import outbox_event_committed

from .tasks import publish_event

# --- Processing after a write (SPEC §7) ------------------------------------------------------


@receiver(outbox_event_committed, dispatch_uid="analytics.enqueue_outbox_event")
def enqueue_outbox_event(sender, event_id: int, **kwargs) -> None:
    """The write has committed: queue its processing (the relay covers a failed publish)."""
    publish_event(event_id)
