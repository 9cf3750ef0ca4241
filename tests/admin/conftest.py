"""Fixtures of the back-office tests: staff with and without the full-name permission, transactions."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

# Tasks in-process unless a test is marked `services`: a write's processing (the overview's upkeep included)
# has run when its request returns, in both CI modes.
from tests.processing.conftest import _task_mode  # noqa: F401
from transactions.services import transaction_create

STAFF_PERMISSIONS = [
    "view_transaction",
    "add_transaction",
    "change_transaction",
    "delete_transaction",
    "view_outboxevent",
    "change_outboxevent",
]


def make_txn(*, user_id=42, full_name="Ama Mensah", day=dt.date(2026, 3, 2), amount="125.50", kind="credit", hour=12):
    return transaction_create(
        user_id=user_id,
        full_name=full_name,
        transaction_date=dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC),
        transaction_amount=Decimal(amount),
        transaction_type=kind,
    )


@pytest.fixture
def staff_user(django_user_model):
    """A staff member who may work with transactions but not see owners' full names."""
    user = django_user_model.objects.create_user("clerk", password="clerk-password-1", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=STAFF_PERMISSIONS))
    return user


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def txn(db):
    return make_txn()
