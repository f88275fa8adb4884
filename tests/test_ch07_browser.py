"""Cross-site WebSocket hijacking, live in headless Chromium.

The victim logs in on the course app's inbox page (an HttpOnly cookie). A page
from a second server on another port, opened in the same browser, opens a
WebSocket to the victim's app: the browser attaches the cookie by itself.

* against the route without an Origin check, the attack page reads the victim's messages;
* against ``/ws/cookie`` (exact Origin allowlist) the handshake is refused, and the page
  sees only code 1006, while the victim's own page keeps working;
* the browser's WebSocket API has no way to set an Authorization header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from websockets.sync.client import connect

from course_app.app import create_app
from course_app.chapters.ch07_attacker import attacker_app
from course_app.security.tokens import issue_token
from course_app.server import BackgroundServer
from browser_support import CHROMIUM_ARGS, chromium_executable

pytestmark = pytest.mark.slow

SECRET = "the deploy key is under the mat"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[BackgroundServer, BackgroundServer]]:
    with BackgroundServer(create_app()) as victim, BackgroundServer(attacker_app()) as evil:
        yield victim, evil


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        running = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield running
        finally:
            running.close()


@pytest.fixture()
def context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser profile: the victim's tabs share its cookie jar."""
    ctx = browser.new_context(viewport={"width": 900, "height": 700})
    try:
        yield ctx
    finally:
        ctx.close()


def _victim_logs_in(context: BrowserContext, victim: BackgroundServer) -> Page:
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(victim.url + "/static/ch07_inbox.html")
    page.click("#login")
    expect(page.locator("#status")).to_have_text("open: authenticated as alice")
    expect(page.locator("#cookie")).to_have_text("none")  # HttpOnly: scripts cannot read it
    return page


def _bob_posts(victim: BackgroundServer, text: str) -> None:
    with connect(victim.ws_url + "/ws/secure") as ws:
        ws.send(json.dumps({"token": issue_token("bob")}))
        ws.recv(timeout=5)
        ws.send(json.dumps({"room": "general", "text": text}))
        ws.recv(timeout=5)  # his own copy: the room has it


def test_the_attack_page_reads_the_victims_messages_without_an_origin_check(
    servers: tuple[BackgroundServer, BackgroundServer], context: BrowserContext, tmp_path: Path
) -> None:
    victim, evil = servers
    _victim_logs_in(context, victim)
    attack = context.new_page()
    attack.goto(f"{evil.url}/?target={victim.ws_url}/ws/cookie/no-origin-check")
    expect(attack.locator("#status")).to_have_text("HIJACKED: connected with the victim's cookie")
    _bob_posts(victim, SECRET)
    expect(attack.locator("#stolen li")).to_have_text(["logged in as alice, rooms general, ops", f"general / bob: {SECRET}"])
    expect(attack.locator("#cookie")).to_have_text("none")  # it never saw the cookie, and did not need to
    attack.screenshot(path=str(tmp_path / "hijacked.png"), full_page=True)


def test_the_origin_allowlist_refuses_the_attack_page_and_serves_the_victim(
    servers: tuple[BackgroundServer, BackgroundServer], context: BrowserContext, tmp_path: Path
) -> None:
    victim, evil = servers
    inbox = _victim_logs_in(context, victim)
    attack = context.new_page()
    attack.goto(f"{evil.url}/?target={victim.ws_url}/ws/cookie")
    expect(attack.locator("#status")).to_have_text("REFUSED: code 1006 (no reason: the browser sees only 1006)")
    _bob_posts(victim, SECRET)
    expect(inbox.locator("#log li.received")).to_have_text([f"general / bob: {SECRET}"])  # the real page still works
    expect(attack.locator("#stolen li")).to_have_count(0)
    attack.screenshot(path=str(tmp_path / "refused.png"), full_page=True)


def test_the_browser_websocket_api_cannot_send_an_authorization_header(
    servers: tuple[BackgroundServer, BackgroundServer], context: BrowserContext
) -> None:
    victim, _ = servers
    page = context.new_page()
    page.goto(victim.url + "/static/ch07_inbox.html")
    result = page.evaluate(
        """async (url) => {
            let thrown = null;
            try { new WebSocket(url, {headers: {Authorization: "Bearer x"}}); } catch (e) { thrown = e.name; }
            const seen = await new Promise((resolve) => {
                const ws = new WebSocket(url);
                ws.onmessage = (event) => resolve(JSON.parse(event.data));
            });
            return {thrown, authorization: seen.authorization, origin: seen.headers.origin};
        }""",
        victim.ws_url + "/ws/handshake",
    )
    assert result == {"thrown": "SyntaxError", "authorization": False, "origin": victim.url}
