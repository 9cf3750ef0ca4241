"""Receivers of the write side's signals (see transactions/signals.py): the per-day figures change inside
the write's own database transaction, so they commit or roll back with it (a single write runs the
statements returned here with its outbox event)."""

from django.db import transaction
from django.dispatch import receiver

from transactions.signals import Statement, transaction_written, transactions_bulk_written

from . import figures, service_figures, statistics


@receiver(transaction_written, dispatch_uid="analytics.figures.transaction_written")
def keep_figures_on_write(sender, *, before=None, after=None, **kwargs) -> list[Statement]:
    """Move one transaction's contribution: out of its old (user, day), into its new one."""
    deltas = figures.new_deltas()
    figures.add_facts(deltas, before, -1)
    figures.add_facts(deltas, after, +1)
    figures.check_deltas_fit(deltas)
    return figures.delta_statements(deltas)


@receiver(transactions_bulk_written, dispatch_uid="analytics.figures.transactions_bulk_written")
def keep_figures_on_bulk_write(sender, *, facts, **kwargs) -> None:
    """Add many new transactions: deltas summed per (user, day) first, then upserted in batches."""
    deltas = figures.new_deltas()
    for one in facts:
        figures.add_facts(deltas, one, +1)
    with figures.within_day_limits(deltas):
        figures.apply_deltas(deltas)
    users = {user_id for user_id, _ in deltas}
    # Bulk loads write no outbox events: bring the users' statistics and credit profiles, and the
    # overview's days, up to date once the load has committed, so the command exits with everything exact.
    transaction.on_commit(lambda: statistics.refresh_users(user_ids=users))
    transaction.on_commit(service_figures.apply_changes)
