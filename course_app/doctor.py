"""``course doctor``: is this machine ready for the course? Each problem comes with its fix."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Finding", "diagnose", "run_doctor"]

PACKAGES = ["fastapi", "uvicorn", "websockets", "redis", "httpx", "nest_asyncio", "jupyterlab", "ipykernel"]
TEST_PACKAGES = ["pytest", "nbval", "playwright"]
PORTS = {8000: "`course serve`", 8888: "JupyterLab"}
CHROMIUM_PATHS = ["/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"]


@dataclass(frozen=True)
class Finding:
    level: str  # "OK", "WARN" or "FAIL"
    what: str
    fix: str = ""


def _python() -> list[Finding]:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 11):
        return [Finding("FAIL", text, "Python 3.11 or newer is needed (3.11 or 3.12 is best): install it "
                        "(python.org, your package manager, or pyenv), then `make clean setup PYTHON=python3.11`.")]
    if not sys.prefix.endswith(".venv") and os.environ.get("CONDA_PREFIX") is None:
        return [Finding("WARN", text + ", not the course's .venv",
                        "Start JupyterLab with `make lab`, or run `.venv/bin/course` (or `source .venv/bin/activate` first).")]
    return [Finding("OK", text)]


def _packages() -> list[Finding]:
    found = []
    for name in PACKAGES + TEST_PACKAGES:
        dist = name.replace("_", "-")
        try:
            importlib.import_module(name)
            found.append(Finding("OK", f"{dist} {importlib.metadata.version(dist)}"))
        except Exception as err:  # noqa: BLE001 - any import failure is a finding
            level = "WARN" if name in TEST_PACKAGES else "FAIL"
            found.append(Finding(level, f"{dist} cannot be imported ({type(err).__name__})", _setup_fix()))
    return found


def _redis() -> list[Finding]:
    from course_app.redis_server import EmbeddedRedis, RedisUnavailable, find_redis_binary

    url = os.environ.get("REDIS_URL")
    if url:
        try:
            import redis

            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
            return [Finding("OK", f"Redis at REDIS_URL={url} answers PING")]
        except Exception as err:  # noqa: BLE001
            return [Finding("FAIL", f"REDIS_URL={url} does not answer ({err})",
                            "Start that Redis, or `unset REDIS_URL` to let the course start its own.")]
    binary = find_redis_binary()
    if binary is None:
        from course_app.redis_server import HOW_TO_GET_REDIS

        return [Finding("FAIL", "no Redis: REDIS_URL unset and no redis-server found", HOW_TO_GET_REDIS)]
    try:
        with EmbeddedRedis(binary) as server:
            return [Finding("OK", f"embedded Redis starts and answers PING ({server.binary})")]
    except RedisUnavailable as err:
        return [Finding("FAIL", f"{binary} would not start", str(err))]


def _ports() -> list[Finding]:
    found = []
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
        found.append(Finding("OK", "can open local ports (the notebooks pick free ones)"))
    except OSError as err:
        found.append(Finding("FAIL", f"cannot open a local port ({err})", "Check firewall or sandbox settings for 127.0.0.1."))
    for port, user in PORTS.items():
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                found.append(Finding("OK", f"port {port} is free ({user})"))
            except OSError:
                holder = _jupyter_server_on(port)
                if holder:
                    found.append(Finding("OK", f"port {port} is in use by a running Jupyter server ({holder}): fine"))
                elif port == 8888:
                    found.append(Finding("OK", f"port {port} is in use: `make lab` will take the next free port and print its URL"))
                else:
                    found.append(Finding("WARN", f"port {port} is in use ({user} will need another)",
                                         f"Pass another port: `course serve --port 8001` (or `make serve PORT=8001`); "
                                         f"`lsof -i :{port}` shows what holds {port}."))
    return found


def _jupyter_server_on(port: int) -> str | None:
    """``"jupyter_server X.Y"`` when a Jupyter server answers on ``port`` (JupyterLab, Notebook), else None."""
    import httpx

    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/api", timeout=1.0)
        version = reply.json().get("version") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return f"jupyter_server {version}" if isinstance(version, str) else None


def _setup_fix() -> str:
    """The tool that installs the course's packages in the environment this runs in."""
    if os.environ.get("CONDA_PREFIX") and not sys.prefix.endswith(".venv"):
        return "Update the conda environment: `conda env update -f environment.yml`, then `pip install -e .` in it."
    return "Run `make setup` in the course folder (it installs the pinned versions from constraints.txt into .venv)."


def _chromium() -> list[Finding]:
    for path in CHROMIUM_PATHS:
        if os.access(path, os.X_OK):
            return [Finding("OK", f"Chromium for the browser tests ({path})")]
    which = shutil.which("chromium") or shutil.which("google-chrome")
    if which:
        return [Finding("OK", f"Chromium for the browser tests ({which})")]
    return [Finding("WARN", "no Chromium (only the browser tests need it; your own browser works for the pages)",
                    "Debian/Ubuntu: `sudo apt-get install chromium`; macOS: `brew install --cask chromium`; "
                    "or install Google Chrome.")]


def _jupyter() -> list[Finding]:
    try:
        import jupyterlab

        return [Finding("OK", f"JupyterLab {jupyterlab.__version__}")]
    except ImportError:
        return [Finding("FAIL", "JupyterLab is missing", _setup_fix() + " Then start it with `make lab`.")]


CHECKS: list[tuple[str, Callable[[], list[Finding]]]] = [
    ("Python", _python),
    ("Packages", _packages),
    ("Redis", _redis),
    ("Ports", _ports),
    ("Browser", _chromium),
    ("JupyterLab", _jupyter),
]


def diagnose() -> list[Finding]:
    findings: list[Finding] = []
    for _name, probe in CHECKS:
        try:
            findings.extend(probe())
        except Exception as err:  # noqa: BLE001 - the doctor must never crash
            findings.append(Finding("FAIL", f"{_name}: the check itself failed ({err!r})", "Please report this."))
    return findings


def run_doctor() -> int:
    findings = diagnose()
    for f in findings:
        print(f"{f.level:<4}  {f.what}")
        if f.fix and f.level != "OK":
            first, *rest = f.fix.splitlines()
            print(f"      fix: {first}")
            for line in rest:
                print(f"           {line}")
    fails = sum(f.level == "FAIL" for f in findings)
    warns = sum(f.level == "WARN" for f in findings)
    print(f"\n{'Ready for the course.' if not fails else 'Not ready yet: fix the FAIL lines above.'} "
          f"({fails} problems, {warns} warnings)")
    return 1 if fails else 0
