"""`make lab` really serves JupyterLab, opened on the welcome notebook."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from course_app.doctor import _jupyter_server_on
from course_app.server import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_lab_serves_the_welcome_notebook() -> None:
    port = free_port()
    args = f"--no-browser --port={port} --IdentityProvider.token= --ServerApp.port_retries=0"
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                lab = httpx.get(f"http://127.0.0.1:{port}/lab/tree/notebooks/00_welcome.ipynb", timeout=2)
                if lab.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "make lab exited"
            assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
            time.sleep(0.25)
        assert "JupyterLab" in lab.text
        base = f"http://127.0.0.1:{port}"
        landing = httpx.get(base + "/", follow_redirects=True, timeout=5)
        assert landing.url.path == "/lab/tree/notebooks/00_welcome.ipynb"  # opens on the welcome notebook
        notebook = httpx.get(base + "/api/contents/notebooks/00_welcome.ipynb", timeout=5)
        assert notebook.status_code == 200 and notebook.json()["type"] == "notebook"
        exercise = httpx.get(base + "/api/contents/exercises/ch00_warmup.py", timeout=5)
        assert exercise.status_code == 200  # the exercises are in the file browser too
        # `course doctor` recognises the running JupyterLab on its port instead of warning about it.
        assert _jupyter_server_on(port) is not None
        assert _jupyter_server_on(free_port()) is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
