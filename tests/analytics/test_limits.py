"""Figures at the edge of what they can hold: a user's day total is a bigint (a write past it is a 400 that
changes nothing), and the service-wide day, which adds up every user's, never overflows (SQLite included).

About 92,000 maximum amounts (999,999,999,999.99) fill a bigint of cents: rather than writing them, each test
sets a day's figures near the limit directly, then writes through the API and reads the overview and the
admin index as a client and a staff member would.
"""

import datetime as dt
import re
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics import service_figures
from analytics.figures import DAY_TOTAL_LIMIT_MESSAGE
from analytics.models import ServiceDayFigures, UserDayFigures
from fido.dates import local_day
from transactions.models import Transaction
from transactions.rules import BIGINT_MAX, MAX_AMOUNT
from transactions.services import transactions_bulk_create

from .conftest import TRANSACTIONS

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/v1/analytics/overview/"
MAX_CENTS = int(MAX_AMOUNT.scaleb(2))


def money(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


@pytest.fixture
def when() -> dt.datetime:
    """A moment of today (the admin index shows the last 30 days), safely in the past."""
    return timezone.now() - dt.timedelta(minutes=1)


def near_the_limit(user_id: int, day: dt.date, *, room_cents: int, field: str = "credit_cents") -> int:
    """Set the user's figures of `day` to leave `room_cents` below a bigint; returns what they were raised by."""
    figures = UserDayFigures.objects.get(user_id=user_id, day=day)
    raised_by = BIGINT_MAX - room_cents - getattr(figures, field)
    UserDayFigures.objects.filter(pk=figures.pk).update(**{field: F(field) + raised_by})
    return raised_by


def post(write_client, **fields):
    return write_client.post(TRANSACTIONS, fields, format="json")


def body(user_id: int, when: dt.datetime, amount: str, kind: str = "credit") -> dict:
    return {
        "user_id": user_id,
        "full_name": "Ama Mensah",
        "transaction_date": when.isoformat(),
        "transaction_amount": amount,
        "transaction_type": kind,
    }


def test_the_service_day_holds_more_than_a_bigint_exactly(create, read_client, when):
    """Two users each at a bigint on one day: the service-wide day holds twice that, to the cent."""
    day = local_day(when)
    create(**body(1, when, "1.00"))
    create(**body(2, when, "1.00"))
    create(**body(2, when, "2.50", "debit"))
    near_the_limit(1, day, room_cents=0)
    near_the_limit(2, day, room_cents=0)

    service_figures.rebuild()  # as rebuild_analytics does

    stored = ServiceDayFigures.objects.get(day=day)
    assert (stored.credit_cents, stored.debit_cents) == (2 * BIGINT_MAX, 250)
    answer = read_client.get(OVERVIEW, {"date_from": day.isoformat(), "date_to": day.isoformat()})
    assert answer.status_code == HTTPStatus.OK, answer.content
    assert answer.json()["credit"] == {"count": 2, "total": money(2 * BIGINT_MAX)}
    assert answer.json()["net"] == money(2 * BIGINT_MAX - 250)


def test_a_write_folds_into_a_service_day_past_a_bigint(create, write_client, read_client, when):
    """The refresh that a write triggers (not a rebuild) takes the service day past a bigint."""
    day = local_day(when)
    create(**body(1, when, "1.00"))
    near_the_limit(1, day, room_cents=0)

    create(**body(2, when, str(MAX_AMOUNT)))  # its processing refreshes the day

    answer = read_client.get(OVERVIEW, {"date_from": day.isoformat(), "date_to": day.isoformat()}).json()
    assert answer["credit"] == {"count": 2, "total": money(BIGINT_MAX + MAX_CENTS)}
    assert ServiceDayFigures.objects.get(day=day).credit_cents == BIGINT_MAX + MAX_CENTS


def test_the_admin_index_shows_a_service_day_past_a_bigint(create, when, django_user_model):
    day = local_day(when)
    create(**body(1, when, "1.00"))
    near_the_limit(1, day, room_cents=0)
    create(**body(2, when, "0.01"))
    staff = django_user_model.objects.create_user("clerk", password="clerk-password-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename="view_transaction"))
    client = Client()
    client.force_login(staff)

    response = client.get(reverse("admin:index"))

    assert response.status_code == HTTPStatus.OK
    net = re.search(r'data-figure="net">([^<]*)<', response.text)
    assert net and net.group(1).strip() == money(BIGINT_MAX + 1)


def test_a_write_that_would_overflow_a_users_day_is_refused_and_changes_nothing(create, write_client, when):
    day = local_day(when)
    create(**body(7, when, "1.00"))
    near_the_limit(7, day, room_cents=100)
    before = list(UserDayFigures.objects.filter(user_id=7).values())
    rows = Transaction.objects.count()

    refused = post(write_client, **body(7, when, "1.01"))

    assert refused.status_code == HTTPStatus.BAD_REQUEST, refused.content
    assert refused.json() == {
        "type": "validation_error",
        "errors": [{"code": "day_total_limit", "detail": DAY_TOTAL_LIMIT_MESSAGE, "attr": "transaction_amount"}],
    }
    assert Transaction.objects.count() == rows
    assert list(UserDayFigures.objects.filter(user_id=7).values()) == before
    # Exactly up to the limit is fine, and the debits of that day are a total of their own.
    assert post(write_client, **body(7, when, "1.00")).status_code == HTTPStatus.CREATED
    assert post(write_client, **body(7, when, "1.01", "debit")).status_code == HTTPStatus.CREATED
    assert UserDayFigures.objects.get(user_id=7, day=day).credit_cents == BIGINT_MAX


def test_moving_a_transaction_onto_a_full_day_is_refused(create, write_client, when):
    day = local_day(when)
    create(**body(7, when, "1.00"))
    other = create(**body(8, when, "5.00"))
    near_the_limit(7, day, room_cents=499)

    refused = write_client.patch(f"{TRANSACTIONS}{other['id']}/", {"user_id": 7}, format="json")

    assert refused.status_code == HTTPStatus.BAD_REQUEST, refused.content
    assert refused.json()["errors"][0]["code"] == "day_total_limit"
    assert Transaction.objects.get(pk=other["id"]).user_id == 8
    assert UserDayFigures.objects.get(user_id=8, day=day).credit_cents == 500


def test_a_bulk_load_past_a_users_day_is_refused_whole(when):
    rows = [{**body(9, when, str(MAX_AMOUNT)), "transaction_date": when} for _ in range(2)]
    UserDayFigures.objects.create(user_id=9, day=local_day(when), credit_count=1, credit_cents=BIGINT_MAX - MAX_CENTS)

    with pytest.raises(ValidationError, match="the most one user's day can hold"):
        transactions_bulk_create(rows=rows)

    assert not Transaction.objects.filter(user_id=9).exists()


def test_an_admin_save_past_a_users_day_says_so_and_saves_nothing(create, when, django_user_model):
    create(**body(7, when, "1.00"))
    near_the_limit(7, local_day(when), room_cents=100)
    rows = Transaction.objects.count()
    staff = django_user_model.objects.create_user("keeper", password="keeper-password-1", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(codename__in=["add_transaction", "view_transaction"]))
    client = Client()
    client.force_login(staff)
    local = timezone.localtime(when)
    form = {
        "user_id": "7",
        "full_name": "Ama Mensah",
        "transaction_date_0": local.strftime("%Y-%m-%d"),
        "transaction_date_1": local.strftime("%H:%M:%S"),
        "transaction_amount": "1.01",
        "transaction_type": "credit",
    }

    response = client.post(reverse("admin:transactions_transaction_add"), form, follow=True)

    assert response.status_code == HTTPStatus.OK
    assert DAY_TOTAL_LIMIT_MESSAGE in [str(message) for message in response.context["messages"]]
    assert Transaction.objects.count() == rows
