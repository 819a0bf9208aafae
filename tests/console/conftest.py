"""Fixtures for the console's browser tests: Debian's Chromium driven by
Playwright (executable_path, never a downloaded browser), pages signed in to
the session's gunicorn, and a folder for screenshots that git ignores."""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LONGRUN_CHROMIUM_PATH", "/usr/bin/chromium")
TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("LONGRUN_SCREENSHOTS") or TESTS / ".screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the console tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium, live_api):
    """A fresh browser profile (no cookies) at 1280x800, with the live API as base URL."""
    context = chromium.new_context(
        base_url=live_api.url, viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def api_key(api_headers) -> str:
    return api_headers["Authorization"].removeprefix("Bearer ")


def _sign_in(page, key: str) -> None:
    page.goto("/console/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def sign_in():
    """``sign_in(page, key)``: fill the console's sign-in form as a person would."""
    return _sign_in


@pytest.fixture
def console(browser_context, api_key):
    """A page signed in to the console with the session's test key."""
    page = browser_context.new_page()
    _sign_in(page, api_key)
    page.get_by_role("heading", name="Jobs").wait_for()
    return page
