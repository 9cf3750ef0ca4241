"""Delete expired idempotency records and done outbox events past retention, as the periodic task does."""

import math

from django.core.management.base import BaseCommand, CommandParser

from transactions import retention

from .seed_demo import bounded_int


class Command(BaseCommand):
    help = (
        "Delete idempotency records older than 24 hours and done outbox events older than OUTBOX_RETENTION_DAYS, "
        "in batches, until none is left (beat runs the same purge every RETENTION_PURGE_INTERVAL seconds)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=bounded_int(1, 100_000), help="rows per DELETE statement (default 2,000)"
        )

    def handle(self, *args, batch_size: int | None, **options) -> None:
        purged = retention.purge(batch_size=batch_size, seconds=math.inf)
        self.stdout.write(
            f"Deleted {purged.idempotency_records} idempotency records and {purged.outbox_events} done outbox "
            f"events in {purged.seconds:.2f} s."
        )
