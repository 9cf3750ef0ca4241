"""Every back-office page in a real browser 1,280 px wide: each one fits (no sideways scrolling), names are masked
for a clerk and plain for the admin, and a year-long chart is binned by week. It also takes the screenshots of
docs/screenshots/: `make screenshots` (SCREENSHOT_DIR=docs/screenshots) writes them there; otherwise they go to
test-artifacts/ for inspection.
"""

import datetime as dt
import os
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from tests.browser import ARTIFACTS, launch, require_chromium
from transactions import services
from transactions.models import OutboxEvent, Transaction

sync_api = require_chromium()
expect = sync_api.expect

WIDTH = 1280
PASSWORD = "a-screens-test-password-1"
SHOTS = Path(os.environ.get("SCREENSHOT_DIR") or ARTIFACTS / "screenshots")
if not SHOTS.is_absolute():
    SHOTS = Path(settings.BASE_DIR) / SHOTS
CLERK_PERMISSIONS = ["view_transaction", "view_outboxevent", "view_alert", "view_creditprofile", "view_userstatistics"]


@pytest.fixture
def back_office(transactional_db, django_user_model):
    """A year of demo data for a few users, some alerts and a failed event; an admin and a clerk."""
    django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)
    clerk = django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)
    clerk.user_permissions.set(Permission.objects.filter(codename__in=CLERK_PERMISSIONS))
    end = timezone.localdate()
    call_command(
        "seed_demo", users=12, transactions=1500, days=365, seed=11, end_date=end, force=True, stdout=StringIO()
    )
    busiest = Transaction.objects.values("user_id").annotate(n=Count("id")).order_by("-n", "user_id").first()["user_id"]
    name = Transaction.objects.filter(user_id=busiest).first().full_name
    # Writes through the service, as the API makes them: alerts, credit profiles and processing to look at.
    for days_ago, amount in [(3, "25000.00"), (2, "12500.50"), (1, "18000.00"), (0, "9400.00")]:
        services.transaction_create(
            user_id=busiest,
            full_name=name,
            transaction_date=timezone.now() - dt.timedelta(days=days_ago, hours=1),
            transaction_amount=Decimal(amount),
            transaction_type="credit",
        )
    OutboxEvent.objects.filter(pk=OutboxEvent.objects.order_by("-id").values("pk")[:1]).update(
        status=OutboxEvent.Status.FAILED,
        attempts=8,
        last_error="ConnectionError: the broker at redis://broker:6379/1 did not answer within 1 s (a long error line)",
    )
    txn = Transaction.objects.filter(user_id=busiest).order_by("-id").first()
    return {"user_id": busiest, "full_name": name, "txn_id": txn.pk}


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def _fits(page) -> None:
    """Nothing to scroll sideways: not the page, and not the list's own scrolling box (Django's `.results`)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} is {width} px wide"
    cut = page.evaluate(
        "[...document.querySelectorAll('.results, #content-main, .module')]"
        ".filter(box => box.scrollWidth > box.clientWidth + 1).map(box => box.className + ' ' + box.scrollWidth)"
    )
    assert cut == [], f"{page.url}: cut off: {cut}"


def _shoot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=SHOTS / f"{name}.png", full_page=full_page)


def test_every_back_office_page_fits_1280_pixels_and_masks_names_for_the_clerk(live_server, back_office):
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    lists = {
        "alerts": "/admin/analytics/alert/",
        "outbox": "/admin/transactions/outboxevent/",
        "credit-profiles": "/admin/analytics/creditprofile/",
        "statistics": "/admin/analytics/userstatistics/",
    }
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            admin = browser.new_context(viewport={"width": WIDTH, "height": 800}).new_page()
            _log_in(admin, base, "admin")
            _fits(admin)
            _shoot(admin, "index")

            admin.goto(f"{base}/admin/transactions/transaction/")
            expect(admin.locator("#result_list")).to_contain_text(back_office["full_name"])
            _fits(admin)
            _shoot(admin, "transactions-unmasked", full_page=False)
            admin.goto(f"{base}/admin/transactions/transaction/{back_office['txn_id']}/change/")
            expect(admin.locator("#id_full_name")).to_have_value(back_office["full_name"])
            _fits(admin)
            _shoot(admin, "transaction-change-unmasked")

            for name, path in lists.items():
                admin.goto(f"{base}{path}")
                expect(admin.locator("#result_list tbody tr").first).to_be_visible()
                _fits(admin)
                _shoot(admin, name)

            admin.goto(f"{base}/admin/user-analytics/?user_id={back_office['user_id']}")
            expect(admin.locator("h2.fido-chart-title")).to_have_attribute("data-unit", "week")
            expect(admin.locator("h2.fido-chart-title")).to_contain_text("Weekly")
            assert 50 <= admin.locator("svg#daily-volume rect.bar.credit").count() <= 54
            assert admin.locator("svg#daily-volume rect.bar.debit").count() > 40
            widths = admin.locator("svg#daily-volume rect.bar").evaluate_all(
                "bars => bars.map(bar => bar.getBoundingClientRect().width)"
            )
            assert min(widths) >= 8, min(widths)  # not hair-thin: a week is a real bar on screen
            _fits(admin)
            _shoot(admin, "user-analytics")

            clerk = browser.new_context(viewport={"width": WIDTH, "height": 800}).new_page()
            _log_in(clerk, base, "clerk")
            clerk.goto(f"{base}/admin/transactions/transaction/")
            masked = clerk.locator("#result_list")
            expect(masked).not_to_contain_text(back_office["full_name"])
            expect(masked).to_contain_text("***")
            _fits(clerk)
            _shoot(clerk, "transactions-masked", full_page=False)
            clerk.goto(f"{base}/admin/transactions/transaction/{back_office['txn_id']}/change/")
            expect(clerk.locator("#content-main")).not_to_contain_text(back_office["full_name"])
            _fits(clerk)
            _shoot(clerk, "transaction-change-masked")
        finally:
            browser.close()
