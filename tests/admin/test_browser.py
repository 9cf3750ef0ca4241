"""The back office in a real browser: log in, find a transaction by name, open the user's analytics chart.

Playwright drives Debian's Chromium (/usr/bin/chromium). Everything touching the database happens
before Playwright starts: its sync API runs an event loop, inside which Django refuses ORM calls.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count

from tests.browser import ARTIFACTS, launch, require_chromium
from transactions.models import Transaction

PASSWORD = "a-browser-test-password-1"
sync_api = require_chromium()


@pytest.fixture
def demo(transactional_db, django_user_model):
    """A superuser, and demo data whose busiest user has a few weeks of history."""
    django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    call_command("seed_demo", users=6, transactions=400, days=45, seed=4, force=True, stdout=StringIO())
    busiest = Transaction.objects.values("user_id").annotate(n=Count("id")).order_by("-n", "user_id").first()
    txn = Transaction.objects.filter(user_id=busiest["user_id"]).first()
    return {"user_id": txn.user_id, "full_name": txn.full_name}


def test_find_a_transaction_by_name_and_see_the_users_chart(live_server, demo):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{live_server.url}/admin/")
            page.fill("#id_username", "boss")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            sync_api.expect(page.locator("#overview-module")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "admin-index.png", full_page=True)

            page.goto(f"{live_server.url}/admin/transactions/transaction/")
            page.fill("#searchbar", demo["full_name"].upper())
            page.press("#searchbar", "Enter")
            rows = page.locator("#result_list tbody tr")
            sync_api.expect(rows.first).to_contain_text(demo["full_name"])
            page.screenshot(path=ARTIFACTS / "admin-search.png", full_page=True)

            page.locator(f"#result_list a.user-analytics-link[href$='user_id={demo['user_id']}']").first.click()
            sync_api.expect(page.locator("h1")).to_have_text(f"Analytics of user {demo['user_id']}")
            chart = page.locator("svg#daily-volume")
            sync_api.expect(chart).to_be_visible()
            assert chart.locator("rect.bar.credit").count() > 0
            assert chart.locator("rect.bar.debit").count() > 0
            assert page.locator('[data-figure="transaction_count"]').inner_text().strip().isdigit()
            page.screenshot(path=ARTIFACTS / "admin-analytics.png", full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "admin-analytics.png").stat().st_size > 10_000
