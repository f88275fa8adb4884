"""Headless Chromium for the page tests: Playwright (sync or async API) driving the system Chromium.

Playwright's own browser download is never used (no ``playwright install``): CI
installs Chromium with apt, and so can you. A missing Chromium is a test
FAILURE that says how to install it, never a skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
from playwright.async_api import Browser as AsyncBrowser
from playwright.async_api import async_playwright
from playwright.sync_api import Browser, Page, sync_playwright

__all__ = ["CHROMIUM_ARGS", "async_chromium", "chromium_executable", "chromium", "open_page"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


def chromium_executable() -> str:
    """The system Chromium; the binary behind Debian's wrapper first (the wrapper prints a warning)."""
    for path in _CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    pytest.fail(
        "No Chromium found (looked at " + ", ".join(_CANDIDATES) + " and PATH). "
        "The browser tests need it: install it with `apt-get install chromium` "
        "(Debian/Ubuntu), then run the tests again.",
        pytrace=False,
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed on the way out even when the test fails."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser, url: str) -> Iterator[Page]:
    """A fresh page (its own context: no shared cookies or storage) at ``url``."""
    context = browser.new_context(viewport={"width": 900, "height": 640})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(url)
        yield page
    finally:
        context.close()


@asynccontextmanager
async def async_chromium() -> AsyncIterator[AsyncBrowser]:
    """The same headless Chromium through Playwright's async API (for tests that also await servers)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()
