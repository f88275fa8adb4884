"""The browser pages, driven by a real headless Chromium against a real server.

* the echo page round-trips a message, and ``?path=`` points it at another route;
* the chat page shows a message that another (non-browser) client sent to the room;
* a page says in words that the server went away, and reconnects by itself once
  the server is back on the same port.

No Chromium installed is a failure that says how to install it (tests/browser_support.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.sync.client import connect

from course_app.app import create_app
from course_app.server import BackgroundServer
from browser_support import chromium, open_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app()) as running:
        yield running


def _wait_open(page: Page, opens: int = 1) -> None:
    status = page.locator("#status")
    expect(status).to_have_attribute("data-state", "open", timeout=10_000)
    expect(status).to_have_attribute("data-opens", str(opens))
    expect(status).to_contain_text("open")


def _send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.click("#send")


def test_echo_page_round_trips_a_message(browser: Browser, server: BackgroundServer) -> None:
    with open_page(browser, server.url + "/static/echo.html") as page:
        _wait_open(page)
        _send(page, "hello from Chromium ✓")
        expect(page.locator("#log li.sent")).to_have_text(["→ hello from Chromium ✓"])
        expect(page.locator("#log li.received")).to_have_text(["← Server Echo: hello from Chromium ✓"])
        expect(page.locator("#message")).to_have_value("")


def test_the_path_parameter_picks_the_route(browser: Browser, server: BackgroundServer) -> None:
    with open_page(browser, server.url + "/static/echo.html?path=/ws/42") as page:
        _wait_open(page)
        expect(page.locator("#route")).to_have_text(server.ws_url + "/ws/42")
        _send(page, "hi")
        expect(page.locator("#log li.received")).to_have_text(["← Message received: hi"])


def test_chat_page_shows_a_message_sent_by_another_client(browser: Browser, server: BackgroundServer) -> None:
    # The sync client: Playwright's sync API already runs an event loop in this thread.
    def speak_in_the_room(text: str) -> None:
        with connect(server.ws_url + "/chat-room") as ws:
            ws.send(text)
            ws.recv(timeout=5)  # the room echoes to the sender too: it has been broadcast

    with open_page(browser, server.url + "/static/chat.html") as page:
        _wait_open(page)
        speak_in_the_room("script: hello, browser")
        expect(page.locator("#log li.received")).to_have_text(["← script: hello, browser"])
        page.fill("#name", "ada")
        _send(page, "hello, script")
        expect(page.locator("#log li.received").last).to_have_text("← ada: hello, script")


def test_a_page_reconnects_after_the_server_restarts(browser: Browser) -> None:
    first = BackgroundServer(create_app()).start()
    port = first.port
    try:
        with open_page(browser, first.url + "/static/echo.html") as page:
            _wait_open(page)
            first.stop()  # uvicorn closes the socket with 1012 (service restart)
            status = page.locator("#status")
            expect(status).to_have_attribute("data-state", "closed", timeout=10_000)
            expect(status).to_contain_text("retrying in")
            expect(page.locator("#log li.note")).to_have_text(["closed (1012 server restarting)"])
            expect(page.locator("#send")).to_be_disabled()
            with BackgroundServer(create_app(), port=port) as second:
                _wait_open(page, opens=2)  # backoff is capped at 4 s, so this comes within seconds
                expect(status).to_contain_text("reconnected")
                _send(page, "after the restart")
                expect(page.locator("#log li.received")).to_have_text(["← Server Echo: after the restart"])
                assert second.port == port
    finally:
        first.stop()
