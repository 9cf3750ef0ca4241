"""The API's documentation works offline: Swagger UI and ReDoc in a real browser that may reach nothing but this
machine still list the operations, and "Try it out" with a token gets real answers from the API."""

import json
import re

import pytest

from tests.browser import ARTIFACTS, launch, offline, require_chromium
from transactions.clients import api_client_create
from transactions.models import Transaction

sync_api = require_chromium()
expect = sync_api.expect

USER = 12345678
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
BODY = {
    "user_id": USER,
    "full_name": "Ama Mensah",
    "transaction_date": "2026-11-20T14:03:00Z",
    "transaction_amount": "125.50",
    "transaction_type": "credit",
}


@pytest.fixture
def token(transactional_db) -> str:
    return api_client_create(name="docs-reader", scope="write").key


def _operation(page, method: str, path: str):
    return page.locator(f".opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")


def _try_it_out(operation, body: dict | None = None) -> tuple[str, str]:
    """Expand an operation, press "Try it out" and "Execute"; the status code and body Swagger UI shows."""
    operation.locator(".opblock-summary").first.click()
    operation.locator(".try-out__btn").click()
    if body is not None:
        operation.locator("textarea.body-param__text").fill(json.dumps(body))
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    expect(status).to_have_text(re.compile(r"^\d{3}"), timeout=15_000)
    answer = operation.locator(".live-responses-table tr.response .response-col_description").first.inner_text()
    return status.inner_text().strip(), answer


def test_swagger_ui_offline_lists_the_operations_and_tries_them_with_a_token(live_server, token):
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            refused = offline(context)
            page = context.new_page()
            console = []
            page.on("console", lambda message: console.append(message.text))

            response = page.goto(f"{live_server.url}/api/docs/")
            assert "script-src 'self'" in response.headers["content-security-policy"]
            expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
            assert page.locator(".opblock").count() >= 10
            for method, path in [
                ("get", "/api/v1/transactions/"),
                ("post", "/api/v1/transactions/"),
                ("get", "/api/v1/users/{user_id}/analytics/"),
                ("get", "/api/v1/alerts/"),
            ]:
                expect(_operation(page, method, path)).to_have_count(1)

            page.locator("button.authorize").first.click()
            scheme = page.locator(".modal-ux form", has_text="tokenAuth")
            scheme.locator("input").fill(f"Token {token}")
            scheme.locator("button.authorize").click()
            page.locator(".modal-ux button.btn-done").first.click()

            created = _try_it_out(_operation(page, "post", "/api/v1/transactions/"), BODY)
            listed = _try_it_out(_operation(page, "get", "/api/v1/transactions/"))
            page.screenshot(path=ARTIFACTS / "api-docs.png", full_page=False)
        finally:
            browser.close()

    assert (created[0], listed[0]) == ("201", "200")
    assert f'"user_id": {USER}' in listed[1]  # the list, unfiltered, shows what was just created
    assert Transaction.objects.filter(user_id=USER).count() == 1
    assert refused == []  # nothing even tried to leave the machine
    assert not [line for line in console if "Content Security Policy" in line or "Refused to" in line]


def test_redoc_offline_lists_the_operations(live_server, transactional_db):
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            refused = offline(context)
            page = context.new_page()
            console = []
            page.on("console", lambda message: console.append(message.text))

            response = page.goto(f"{live_server.url}/api/redoc/")
            assert "script-src 'self'" in response.headers["content-security-policy"]
            expect(page.locator("h1", has_text="Fido transactions service")).to_be_visible(timeout=15_000)
            for operation in ("v1_transactions_list", "v1_transactions_create", "v1_users_analytics_retrieve"):
                expect(page.locator(f"h2:has(a[href$='/operation/{operation}'])")).to_have_count(1)
            assert page.locator("h2:has(a[href*='/operation/'])").count() >= 10
        finally:
            browser.close()

    assert refused == []
    # The one thing the bundle would fetch from elsewhere is ReDoc's branding logo (hard-coded, hidden when it
    # fails to load): the Content-Security-Policy stops it before it leaves the browser.
    blocked = [line for line in console if "Content Security Policy" in line or "Refused to" in line]
    assert all(REDOCLY_LOGO in line for line in blocked), blocked
