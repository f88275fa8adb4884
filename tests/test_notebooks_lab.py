"""Run All in the real JupyterLab UI, in headless Chromium, for every notebook that embeds pages.

nbclient runs the cells but renders nothing, so it cannot see what a learner sees in an IFrame.
Here a real JupyterLab serves a copy of the notebooks, Chromium opens one, and the test clicks
Run > Run All Cells, twice in a row in the same kernel. After each run every embedded course page
must reach ``open``; where the notebook restarts the server, the pages must show that they
reconnected (``data-opens`` of 2 or more: the restart demo really showed something).

A screenshot of each run is kept under the test's tmp_path (the path is printed on failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from browser_support import async_chromium
from course_app.server import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# Notebooks that show course pages in an IFrame, and whether they restart the server under them.
WITH_PAGES = [p for p in NOTEBOOKS if "IFrame(" in p.read_text()]
RESTARTS = {"04_websocket_echo"}
RUN_TIMEOUT = 300.0


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a free port, serving a copy of notebooks/ (autosave can never touch the real ones)."""
    root = tmp_path / "lab"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("conftest.py"))
    port = free_port()
    # A workspace and settings of its own: JupyterLab restores the tabs of the last session from
    # ~/.jupyter/lab/workspaces, and a notebook someone had open there would be a second .jp-Notebook.
    env = {**os.environ, "COURSE_ROOT": str(ROOT), "COURSE_SOLUTIONS": "1",
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--allow-root", "--no-browser", f"--port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", "--ServerApp.ip=127.0.0.1"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/status", timeout=2).status_code == 200:
                    break
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()
            assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
            time.sleep(0.25)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


async def _kernel_idle_for(base: str, seconds: float) -> None:
    """Wait until the notebook's kernel has been idle for ``seconds`` in a row (Run All is over)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    idle_since: float | None = None
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() < deadline:
            kernels = (await client.get("/api/kernels")).json()
            states = {k["execution_state"] for k in kernels}
            if kernels and states == {"idle"}:
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= seconds:
                    return
            else:
                idle_since = None
            await asyncio.sleep(0.25)
    raise AssertionError(f"Run All did not finish within {RUN_TIMEOUT:.0f} s")


async def _run_all(page: Page, base: str) -> None:
    await page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    await page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
    await asyncio.sleep(2)  # let the kernel turn busy
    await _kernel_idle_for(base, 4.0)


async def _errors_shown(page: Page) -> list[str]:
    """Tracebacks shown in outputs of cells that are not tagged as deliberate failures."""
    texts = await page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    return [t[:300] for t in texts if "Exception in ASGI application" in t or "Task exception was never retrieved" in t]


async def _pages_state(page: Page) -> list[dict[str, str]]:
    states = []
    for frame in page.frames:
        if "/static/" not in frame.url:
            continue
        status = frame.locator("#status")
        states.append({
            "page": frame.url.rsplit("/", 1)[-1],
            "state": await status.get_attribute("data-state") or "",
            "opens": await status.get_attribute("data-opens") or "0",
            "text": await status.inner_text(),
            "log": " | ".join(await frame.locator("#log li.note").all_inner_texts()),
        })
    return states


async def _drive(base: str, name: str, shots: Path) -> list[list[dict[str, str]]]:
    runs = []
    async with async_chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 2400})
        page = await context.new_page()
        page.set_default_timeout(30_000)
        await page.goto(f"{base}/lab/tree/notebooks/{name}.ipynb")
        await expect(page.locator(".jp-Notebook")).to_be_visible(timeout=60_000)
        await _kernel_idle_for(base, 1.0)
        for run in (1, 2):
            await _run_all(page, base)
            frames = page.locator(".jp-OutputArea-output iframe")
            count = await frames.count()
            for i in range(count):  # render every page (JupyterLab may defer cells that are off-screen)
                await frames.nth(i).scroll_into_view_if_needed()
            deadline = time.monotonic() + 20
            while True:
                states = await _pages_state(page)
                if states and all(s["state"] == "open" for s in states) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            await page.screenshot(path=str(shots / f"{name}-run{run}.png"), full_page=False)
            runs.append(states + [{"errors": json.dumps(await _errors_shown(page))}])
        await context.close()
    return runs


@pytest.mark.parametrize("path", WITH_PAGES, ids=lambda p: p.stem)
def test_run_all_twice_in_jupyterlab_opens_every_page(path: Path, lab: str, tmp_path: Path) -> None:
    runs = asyncio.run(_drive(lab, path.stem, tmp_path))
    report = json.dumps(runs, indent=1) + f"\nscreenshots: {tmp_path}"
    for states in runs:
        *pages, errors = states
        assert len(pages) >= 2, report  # both pages of the run were rendered
        assert json.loads(errors["errors"]) == [], report
        for state in pages:
            assert state["state"] == "open", report
            if path.stem in RESTARTS:
                assert int(state["opens"]) >= 2, report  # it was open, saw the restart, and came back
                assert "1012" in state["log"], report  # and it said why it closed
