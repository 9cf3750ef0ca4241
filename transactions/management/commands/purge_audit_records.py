"""`manage.py purge_audit_records`: delete audit records past AUDIT_RETENTION_DAYS, as the beat task does."""

from django.core.management.base import BaseCommand

from transactions import audit
from transactions.models import AuditRecord


class Command(BaseCommand):
    help = (
        "Delete the audit records older than AUDIT_RETENTION_DAYS (default 7 years; 0 keeps them forever), in "
        "batches each committed on its own. Celery beat runs the same purge hourly; use this where no beat runs "
        "(the embedded default) or to see what would go (--dry-run)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the records that would be deleted.")

    def handle(self, *args, dry_run: bool, **options):
        cutoff = audit.retention_cutoff()
        if cutoff is None:
            self.stdout.write("AUDIT_RETENTION_DAYS is 0: audit records are kept forever; nothing to purge.")
            return
        if dry_run:
            count = AuditRecord.objects.filter(at__lt=cutoff).count()
            self.stdout.write(f"{count} audit record(s) older than {cutoff:%Y-%m-%d %H:%M} UTC would be deleted.")
            return
        purged = audit.audit_purge(before=cutoff)
        self.stdout.write(f"{purged} audit record(s) older than {cutoff:%Y-%m-%d %H:%M} UTC deleted.")
