"""uvicorn --workers 3 sharing one Redis: a broadcast reaches clients on every worker; nothing is orphaned.

Also the same code across machines: two separate server processes on different
ports, sharing one Redis, exchange broadcasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from course_app.chapters.scaling import MAX_MESSAGE_BYTES
from course_app.realtime import CloseCode
from course_app.redis_server import EmbeddedRedis
from course_app.cluster import Cluster
from course_app.faults import async_wait_until, wait_until
from course_app.grading.checker import CheckFailed
from course_app.grading.kit import serve_cluster
from course_app.logcapture import capture_logs
from course_app.server import BackgroundServer, ServerError

pytestmark = pytest.mark.slow


def _connect_until_every_worker(cluster: Cluster, stack: ExitStack, workers: int, limit: int = 200) -> dict[int, ClientConnection]:
    """The kernel spreads connections unevenly: keep opening until each worker PID was seen."""
    by_pid: dict[int, ClientConnection] = {}
    for _ in range(limit):
        ws = stack.enter_context(connect(cluster.ws_url + "/scale/ws", open_timeout=5))
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello"
        by_pid.setdefault(hello["pid"], ws)
        if len(by_pid) == workers:
            return by_pid
    raise AssertionError(f"saw only workers {sorted(by_pid)} after {limit} connections")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_broadcast_through_redis_reaches_all_three_workers() -> None:
    with Cluster(workers=3) as cluster, ExitStack() as stack:
        by_pid = _connect_until_every_worker(cluster, stack, 3)
        reply = httpx.post(cluster.url + "/scale/publish", params={"text": "goal!"}).json()
        assert reply["receivers"] == 3  # every worker's listener is subscribed
        for pid, ws in by_pid.items():
            message = json.loads(ws.recv(timeout=5))
            while message.get("text") != "goal!":  # skip anything else in flight
                message = json.loads(ws.recv(timeout=5))
            assert message["pid"] == pid  # delivered by the client's own worker
        supervisor = cluster.pid
        workers = list(by_pid)
        redis_pid = cluster._redis.pid  # the cluster owns its Redis
    assert supervisor is not None and not _alive(supervisor)
    assert not [pid for pid in workers if _alive(pid)]
    assert redis_pid is not None and not _alive(redis_pid)


def test_two_servers_on_different_ports_share_one_redis() -> None:
    with EmbeddedRedis() as redis, Cluster(workers=1, redis_url=redis.url) as a, \
            Cluster(workers=1, redis_url=redis.url) as b:
        assert a.port != b.port
        with connect(a.ws_url + "/scale/ws") as on_a, connect(b.ws_url + "/scale/ws") as on_b:
            pid_a = json.loads(on_a.recv(timeout=5))["pid"]
            pid_b = json.loads(on_b.recv(timeout=5))["pid"]
            assert pid_a != pid_b
            on_a.send("hello from a")
            got = json.loads(on_b.recv(timeout=5))
            assert got["text"] == "hello from a" and got["from_pid"] == pid_a and got["pid"] == pid_b


def test_a_cluster_uses_redis_url_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddedRedis() as redis:
        monkeypatch.setenv("REDIS_URL", redis.url)
        with Cluster(workers=1) as cluster, connect(cluster.ws_url + "/scale/ws") as ws:
            assert cluster.redis_url == redis.url and cluster._redis is None  # not ours to start or stop
            ws.recv(timeout=5)  # hello
            assert httpx.post(cluster.url + "/scale/publish", params={"text": "via env"}).json()["receivers"] == 1
            assert json.loads(ws.recv(timeout=5))["text"] == "via env"
        assert redis.running  # the cluster left the shared Redis alone


def test_without_redis_each_worker_is_an_island() -> None:
    """The multi-worker mirage: with no shared Redis, a publish reaches one worker's clients only."""
    with ExitStack() as stack:
        redises = [stack.enter_context(EmbeddedRedis()) for _ in range(2)]
        a = stack.enter_context(Cluster(workers=1, redis_url=redises[0].url))
        b = stack.enter_context(Cluster(workers=1, redis_url=redises[1].url))
        on_b = stack.enter_context(connect(b.ws_url + "/scale/ws"))
        on_b.recv(timeout=5)  # hello
        httpx.post(a.url + "/scale/publish", params={"text": "lost"})
        with pytest.raises(TimeoutError):
            on_b.recv(timeout=1.0)


def test_cluster_start_failure_is_reported() -> None:
    started = time.monotonic()
    with pytest.raises(Exception, match="exited|not ready"):
        Cluster(app="no_such_module:app", workers=2, factory=False).start(ready_timeout=15)
    assert time.monotonic() - started < 15


def test_bad_frames_close_with_a_reason_and_the_worker_keeps_serving() -> None:
    with BackgroundServer() as server:
        for payload, code in ((b"\x00", CloseCode.UNSUPPORTED_DATA), ("x" * (MAX_MESSAGE_BYTES + 1), CloseCode.MESSAGE_TOO_BIG)):
            with connect(server.ws_url + "/scale/ws") as ws:
                ws.recv(timeout=5)  # hello
                ws.send(payload)
                with pytest.raises(ConnectionClosed):
                    while True:
                        ws.recv(timeout=5)
                assert ws.close_code == code and ws.close_reason
        with connect(server.ws_url + "/scale/ws") as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "hello"
            ws.send("still here")
            assert json.loads(ws.recv(timeout=5))["text"] == "still here"


# -- faults: logs, crashes and deaths (any app, started with Cluster(app=...)) -----------------
CHATTY = '''
import logging, os, sys
from fastapi import FastAPI

app = FastAPI()
log = logging.getLogger("chatty")


@app.get("/pid")
async def pid() -> dict:
    return {"pid": os.getpid()}


@app.get("/log")
async def spam(n: int = 100, size: int = 1000, how: str = "log") -> dict:
    line = "x" * size
    for i in range(n):
        if how == "log":
            log.warning("%d %s", i, line)
        else:
            print(i, line, file=sys.stderr if how == "stderr" else sys.stdout)
    return {"pid": os.getpid()}


@app.get("/boom")
async def boom() -> dict:
    return {"x": 1 / 0}
'''

OWNER = '''
import json, sys
from course_app.cluster import Cluster

with Cluster(sys.argv[1] + ":app", factory=False, workers=int(sys.argv[2])) as cluster:
    print(json.dumps({"supervisor": cluster.pid, "workers": cluster.worker_pids(),
                      "redis": cluster.redis.pid, "url": cluster.url}), flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills us
'''


@pytest.fixture
def chatty(tmp_path: Path) -> Path:
    path = tmp_path / "chatty.py"
    path.write_text(CHATTY)
    return path


def _running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The ones still running (a zombie waiting for its reaper is not running)."""
    left = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
    return left


def test_megabytes_of_worker_output_never_block_the_cluster(chatty: Path) -> None:
    """An unread stderr pipe blocks every worker after about 64 KiB; the cluster's reader drains it."""
    written: Counter[int] = Counter()  # bytes per worker
    logged: Counter[int] = Counter()  # lines that went through logging, per worker
    with capture_logs("chatty") as records, Cluster(f"{chatty}:app", factory=False, workers=3) as cluster, \
            httpx.Client(base_url=cluster.url, timeout=10, headers={"Connection": "close"}) as client:
        for _ in range(300):  # new connections: the kernel spreads them over the workers, unevenly
            for how in ("log", "stderr", "stdout"):
                pid = client.get("/log", params={"n": 100, "size": 1000, "how": how}).json()["pid"]
                written[pid] += 100 * 1000
                logged[pid] += 100 if how == "log" else 0
            if len(written) == 3 and min(written.values()) >= 1_000_000:
                break
        assert len(written) == 3 and min(written.values()) >= 1_000_000, written
        assert sorted(written) == cluster.worker_pids()  # all three still up
        total = sum(logged.values())
        wait_until(lambda: len(records.records) == total, 10, f"{total} log records from the workers")
        assert Counter(getattr(r, "worker_pid", None) for r in records.records) == +logged


def test_a_crash_in_any_worker_reaches_the_owners_log_capture(chatty: Path) -> None:
    with capture_logs("uvicorn.error", logging.ERROR) as errors, \
            Cluster(f"{chatty}:app", factory=False, workers=2) as cluster:
        assert httpx.get(cluster.url + "/boom").status_code == 500
        assert wait_until(errors.crashes, 5, "the worker's crash in the owner's log") == ["ZeroDivisionError: division by zero"]
        crash = cluster.crashes[-1]
        assert crash.pid in cluster.worker_pids()
        assert f'File "{chatty}", line' in crash.traceback and "1 / 0" in crash.traceback
        assert "ZeroDivisionError" in cluster.log_tail()


def test_an_app_that_cannot_load_stops_at_once_with_its_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from fastapi import FastAPI\n\napp = FastAPI()\nsettings = {}['missing']\n")
    started = time.monotonic()
    with pytest.raises(ServerError, match=r"(?s)exited.*broken.py\", line 4.*KeyError: 'missing'"):
        Cluster(f"{broken}:app", factory=False, workers=3).start()
    assert time.monotonic() - started < 15  # uvicorn is told it is a start-up failure: no crash loop


@pytest.mark.parametrize("order", ["supervisor, then owner", "owner, then supervisor", "owner SIGKILLed", "worker SIGKILLed"])
def test_nothing_outlives_its_owner(chatty: Path, order: str) -> None:
    """The owner is a real process (like `course serve`); whatever dies first, the rest follows."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # the owner starts its own Redis
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(chatty), "2"], env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdin is not None
        info = json.loads(owner.stdout.readline())
        family = psutil.Process(owner.pid).children(recursive=True)  # supervisor, its helper, workers, Redis
        assert {info["supervisor"], info["redis"], *info["workers"]} <= {p.pid for p in family}
        workers = [psutil.Process(pid) for pid in info["workers"]]
        if order == "supervisor, then owner":
            os.kill(info["supervisor"], signal.SIGKILL)
            wait_until(lambda: not _running(workers), 10, "the workers to die with their supervisor")
            assert owner.poll() is None  # the owner was still alive: the workers did not wait for it
            owner.terminate()
        elif order == "owner, then supervisor":
            owner.terminate()
            owner.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.kill(info["supervisor"], signal.SIGKILL)
        elif order == "owner SIGKILLed":
            owner.kill()
        else:
            os.kill(info["workers"][0], signal.SIGKILL)
            wait_until(lambda: len({httpx.get(info["url"] + "/pid", headers={"Connection": "close"}).json()["pid"]
                                    for _ in range(20)} - set(info["workers"])), 15, "a replacement worker answering")
            family += psutil.Process(owner.pid).children(recursive=True)
            owner.stdin.close()  # a normal end: the owner stops its cluster
        owner.wait(15)
        wait_until(lambda: not _running(family), 10, "every process the owner started to end")
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(5)
        if owner.stdout:
            owner.stdout.close()
        if owner.stdin and not owner.stdin.closed:
            owner.stdin.close()
    assert not _running(family)


def test_serve_cluster_runs_a_learner_file_and_names_its_crash_line(chatty: Path, tmp_path: Path) -> None:
    async def scenario() -> str:
        async with serve_cluster(chatty, workers=2, fail_on_crash=False) as cluster:
            assert len(cluster.worker_pids()) == 2
            async with httpx.AsyncClient(base_url=cluster.url) as client:
                assert (await client.get("/pid")).status_code == 200
        with pytest.raises(CheckFailed) as failed:
            async with serve_cluster(chatty, workers=2) as cluster:
                async with httpx.AsyncClient(base_url=cluster.url) as client:
                    assert (await client.get("/boom")).status_code == 500
                await async_wait_until(lambda: cluster.crashes, 5, "the crash")
        return str(failed.value)

    message = asyncio.run(scenario())
    line = CHATTY.splitlines().index('    return {"x": 1 / 0}') + 1
    assert f"ZeroDivisionError: division by zero\n  at {chatty}, line {line}, in boom: return" in message

    broken = tmp_path / "broken.py"
    broken.write_text("from fastapi import FastAPI\napp = FastAPI(\n")

    async def cannot_start() -> str:
        with pytest.raises(CheckFailed) as failed:
            async with serve_cluster(broken, workers=2):
                pass
        return str(failed.value)

    assert "broken.py, line 2" in asyncio.run(cannot_start())


def test_a_cluster_started_from_a_thread_that_ends_keeps_serving(chatty: Path) -> None:
    cluster = Cluster(f"{chatty}:app", factory=False, workers=2)
    starter = threading.Thread(target=cluster.start)
    starter.start()
    starter.join()
    try:
        before = cluster.worker_pids()
        time.sleep(0.5)  # the supervisor's death signal would have come at the thread's exit
        assert cluster.running and cluster.worker_pids() == before
        assert httpx.get(cluster.url + "/pid").status_code == 200
    finally:
        cluster.stop()
