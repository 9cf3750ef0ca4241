"""`manage.py rebuild_analytics`: recompute the derived analytics tables from the raw transactions."""

import time

from django.core.management.base import BaseCommand
from django.db import transaction

from analytics import figures, service_figures, statistics
from analytics.models import UserDayFigures
from fido.cache import bump_generations


class Command(BaseCommand):
    help = (
        "Recompute every user's per-day figures and the service-wide day figures from the transactions "
        "(in SQL, one database transaction; writes wait meanwhile on PostgreSQL), then every user's statistics "
        "and credit profile (in chunks of users), then invalidate cached answers."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        before = set(UserDayFigures.objects.values_list("user_id", flat=True).distinct())
        with transaction.atomic():
            rows = figures.rebuild_user_figures()
            days = service_figures.rebuild()
        users = statistics.refresh_users(user_ids=None)
        after = set(UserDayFigures.objects.values_list("user_id", flat=True).distinct())
        bump_generations(before | after)
        self.stdout.write(
            f"Rebuilt {rows} user-day rows over {days} days for {len(after)} users, "
            f"statistics and credit profiles of {users} users in {time.monotonic() - started:.1f} s."
        )
