"""A real browser for the tests that need one: Playwright driving Debian's Chromium (/usr/bin/chromium).

A module that imports this is skipped where there is no Chromium, unless REQUIRE_BROWSER_TESTS is set (CI),
where a missing Chromium is an error. Playwright's sync API runs an event loop, inside which Django refuses
ORM calls: everything touching the database happens before the browser starts, or after it stops.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def require_chromium():
    """Playwright's sync API, or a skip (an error under REQUIRE_BROWSER_TESTS) when Chromium is missing."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER_TESTS"):
            raise RuntimeError(f"REQUIRE_BROWSER_TESTS is set but there is no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
    return pytest.importorskip("playwright.sync_api")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)


def offline(context) -> list[str]:
    """Abort every request of `context` that would leave this machine; returns the list of those refused."""
    refused = []

    def route(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    return refused
