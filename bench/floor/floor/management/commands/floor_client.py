"""`manage.py floor_client NAME`: a user with a DRF token, and the cached value the floor reads; prints the token."""

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

from floor.views import CACHE_KEY


class Command(BaseCommand):
    help = "Create a user and its DRF token, store the value the floor's view reads, print the token."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        user = get_user_model().objects.create_user(username=name)
        cache.set(CACHE_KEY, {"ok": True}, timeout=None)
        self.stdout.write(Token.objects.create(user=user).key)
