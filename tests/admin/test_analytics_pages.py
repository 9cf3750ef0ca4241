"""The user analytics page (figures and SVG chart) and the overview on the admin index."""

import datetime as dt
import re
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from fido.dates import start_of_day
from transactions import services

from .conftest import make_txn

pytestmark = pytest.mark.django_db

PAGE = reverse("admin:user-analytics")
INDEX = reverse("admin:index")


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, f"no {name} figure on the page"
    return match.group(1).strip()


@pytest.fixture
def history(db):
    make_txn(user_id=7, day=dt.date(2026, 3, 1), amount="100.00", kind="credit")
    make_txn(user_id=7, day=dt.date(2026, 3, 1), amount="30.25", kind="debit", hour=15)
    make_txn(user_id=7, day=dt.date(2026, 3, 4), amount="50.00", kind="credit")
    make_txn(user_id=8, day=dt.date(2026, 3, 2), amount="9999.00", kind="credit")


def test_user_page_shows_the_figures(staff_client, history):
    response = staff_client.get(PAGE, {"user_id": 7})
    assert response.status_code == HTTPStatus.OK
    html = response.text
    assert figure(html, "transaction_count") == "3"
    assert figure(html, "credit") == "2 totalling 150.00"
    assert figure(html, "debit") == "1 totalling 30.25"
    assert figure(html, "net") == "119.75"
    assert figure(html, "average") == "60.08"
    assert figure(html, "busiest_day") == "2026-03-01 (2 transactions)"


def test_user_page_draws_a_bar_per_day_and_kind(staff_client, history):
    html = staff_client.get(PAGE, {"user_id": 7}).text
    assert '<svg id="daily-volume"' in html
    assert len(re.findall(r'<rect class="bar credit"', html)) == 2
    assert len(re.findall(r'<rect class="bar debit"', html)) == 1
    assert "2026-03-01: credits 100, debits 30.25 (2 transactions)" in html
    assert 'data-unit="day">Daily volume</h2>' in html


def _days(first: dt.date, count: int, *, every: int = 1) -> list[dict]:
    return [
        {
            "date": (first + dt.timedelta(days=n)).isoformat(),
            "transaction_count": 2,
            "credit_total": "1000.00",
            "debit_total": "10.00",
        }
        for n in range(0, count, every)
    ]


@pytest.mark.parametrize(
    ("span", "unit", "slots"),
    # From a Wednesday: the first week starts on the Monday before it.
    [(1, "day", 1), (92, "day", 92), (93, "week", 14), (365, "week", 53), (731, "week", 105), (732, "month", 25)],
)
def test_the_chart_bins_long_periods_by_week_or_month(span, unit, slots):
    from analytics.admin_views import daily_volume_chart

    first = dt.date(2025, 1, 1)  # a Wednesday
    chart = daily_volume_chart(_days(first, span), date_from=first, date_to=first + dt.timedelta(days=span - 1))

    assert chart["unit"] == unit
    credit_bars = [bar for bar in chart["bars"] if bar["kind"] == "credit"]
    assert len(credit_bars) == slots
    assert {"day": "Daily", "week": "Weekly", "month": "Monthly"}[unit] in chart["title"]
    # Never hair-thin: at least 6.5 of the drawing's 960 units (a year of days got 1.9).
    assert min(Decimal(bar["width"]) for bar in credit_bars) >= Decimal("6.5")


@pytest.mark.parametrize(
    ("date_from", "date_to", "unit"),
    [("0001-01-01", "9999-12-31", "year"), ("2020-01-01", "9999-12-31", "month"), ("2026-01-01", "2026-03-31", "day")],
)
def test_a_period_reaching_far_out_is_drawn_up_to_now(staff_client, history, date_from, date_to, unit):
    response = staff_client.get(PAGE, {"user_id": 7, "date_from": date_from, "date_to": date_to})

    assert response.status_code == HTTPStatus.OK
    assert f'data-unit="{unit}"' in response.text
    assert len(re.findall(r'<rect class="bar credit"', response.text)) >= 1


def test_a_week_adds_up_its_days_and_a_month_its_weeks():
    from analytics.admin_views import daily_volume_chart

    first = dt.date(2025, 1, 6)  # a Monday
    weekly = daily_volume_chart(_days(first, 140), date_from=first, date_to=first + dt.timedelta(days=139))
    assert weekly["bars"][0]["title"] == (
        "week of 2025-01-06 to 2025-01-12: credits 7,000, debits 70 (14 transactions)"
    )
    monthly = daily_volume_chart(_days(dt.date(2024, 1, 1), 800), date_from=None, date_to=None)
    assert monthly["bars"][0]["title"] == "Jan 2024: credits 31,000, debits 310 (62 transactions)"
    assert monthly["x_ticks"][0]["label"] == "Jan 2024"


def test_debits_get_their_own_scale_so_small_ones_stay_visible():
    from analytics.admin_views import daily_volume_chart

    days = [{"date": "2025-01-01", "transaction_count": 2, "credit_total": "50000.00", "debit_total": "12.00"}]
    chart = daily_volume_chart(days, date_from=None, date_to=None)

    credit, debit = chart["panels"]
    assert (credit["kind"], debit["kind"]) == ("credit", "debit")
    assert 50_000 <= int(credit["y_ticks"][-1]["label"].replace(",", "")) < 100_000
    assert 12 <= int(debit["y_ticks"][-1]["label"]) <= 20
    assert Decimal(debit["bars"][0]["height"]) > Decimal(100)  # most of its band, not a sliver


def test_user_page_honours_the_period(staff_client, history):
    html = staff_client.get(PAGE, {"user_id": 7, "date_from": "2026-03-02", "date_to": "2026-03-31"}).text
    assert figure(html, "transaction_count") == "1"
    assert figure(html, "net") == "50.00"
    assert len(re.findall(r'<rect class="bar ', html)) == 1


def test_user_page_for_a_user_without_transactions(staff_client, history):
    response = staff_client.get(PAGE, {"user_id": 9})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "User 9 has no transactions." in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"user_id": "abc"},
        {"user_id": "0"},
        {"user_id": "7", "date_from": "2026-13-01"},
        {"user_id": "7", "date_from": "2026-03-05", "date_to": "2026-03-01"},
    ],
)
def test_user_page_rejects_bad_input_with_a_message(staff_client, history, params):
    response = staff_client.get(PAGE, params)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'class="errorlist' in response.text


def test_user_page_without_a_user_shows_the_form(staff_client):
    response = staff_client.get(PAGE)
    assert response.status_code == HTTPStatus.OK
    assert 'name="user_id"' in response.text


def test_user_page_needs_the_view_permission(django_user_model, client, history):
    user = django_user_model.objects.create_user("intern", password="x-password-1", is_staff=True)
    client.force_login(user)
    assert client.get(PAGE, {"user_id": 7}).status_code == HTTPStatus.FORBIDDEN
    user.user_permissions.add(Permission.objects.get(codename="view_transaction"))
    assert client.get(PAGE, {"user_id": 7}).status_code == HTTPStatus.OK


def test_user_page_needs_a_staff_login(client):
    response = client.get(PAGE, {"user_id": 7})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_index_shows_the_last_30_days_and_a_user_form(staff_client, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    noon = dt.timedelta(hours=12)
    rows = [
        (1, timezone.now() - dt.timedelta(minutes=1), "10.00", "credit"),
        (2, start_of_day(today - dt.timedelta(days=29)) + noon, "5.00", "debit"),
        (3, start_of_day(today - dt.timedelta(days=30)) + noon, "1000.00", "credit"),
    ]
    # With their after-commit work (processing, which brings the overview up to date), as after a request.
    with django_capture_on_commit_callbacks(execute=True):
        for user_id, when, amount, kind in rows:
            services.transaction_create(
                user_id=user_id,
                full_name="A B",
                transaction_date=when,
                transaction_amount=Decimal(amount),
                transaction_type=kind,
            )
    response = staff_client.get(INDEX)
    assert response.status_code == HTTPStatus.OK
    html = response.text
    assert figure(html, "transaction_count") == "2"
    assert figure(html, "user_count") == "2"
    assert figure(html, "net") == "5.00"
    assert f'action="{PAGE}"' in html
    assert 'name="user_id"' in html
