"""Check for ch08_redis_manager: every message on every worker, in order, once; and back after Redis restarts.

The learner's file runs under real ``uvicorn --workers 3`` sharing one Redis
that this check owns. Connections are opened until every worker's PID has been
seen (the kernel spreads them unevenly), and at least two per worker on average,
so a subscription per connection cannot pass for one per worker. Then one message,
Redis's subscriber count, idle workers' CPU (a listener that polls instead of
waiting burns a core), a burst from one publisher per worker, and a Redis outage
while the clients stay connected. Publishers, burst sizes and texts change on every run.
When delivery stops, the workers are stopped to see why: a listener task that raised
shows its exception only when stop() awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import redis.asyncio as aioredis

from course_app.faults import redis_outage
from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._ch08 import Client, CrashWatch, busy_workers, own_redis, traceback_at_stop, wait_all
from course_app.grading.checks._inputs import AWKWARD_WORDS, seeded
from course_app.grading.kit import serve_cluster

WORKERS = 3
MIN_CONNECTIONS = 2 * WORKERS  # more clients than workers: one subscription per client would show
PER_WORKER = 5  # once a worker has this many, further connections to it are closed again
MAX_ATTEMPTS = 150  # connections tried before giving up on meeting every worker
IDLE_WINDOW = 1.5  # seconds of quiet over which the workers' CPU time is counted
START_HANG = (
    " In this exercise start-up is start(): it must return once the subscription is made and the listener "
    "task started. Does it await the listener itself, or does listen() loop without ever waiting "
    "(redis-py's listen() ends at once while nothing is subscribed, so a `while True` around it spins)?"
)
SPIN = (
    "{which} used {rate} of a CPU core with nothing to do. A loop that never waits holds the worker: "
    "redis-py's listen() ends at once while nothing is subscribed (is the subscribe awaited, and done first?), "
    "and get_message() returns at once with its default timeout of 0."
)
DELIVERY_TIMEOUT = 3.0
RESUME_WITHIN = 5.0


async def check(learner: ModuleType, t: T) -> None:
    with seeded(t) as rng:
        await _check(t, rng)


def _mine(run: str) -> Callable[[Any], bool]:
    return lambda frame: isinstance(frame, dict) and frame.get("run") == run


def _received(client: Client, run: str) -> list[dict[str, Any]]:
    keep = _mine(run)
    return [frame for frame in client.frames if keep(frame)]


def _by_worker(clients: list[Client], ok: list[bool]) -> str:
    """'2 of 3 on worker 101, 0 of 2 on worker 102' for a failure message."""
    total: Counter[Any] = Counter(c.pid for c in clients)
    good: Counter[Any] = Counter(c.pid for c, fine in zip(clients, ok) if fine)
    return ", ".join(f"{good[pid]} of {total[pid]} on worker {pid}" for pid in sorted(total, key=str))


async def _check(t: T, rng: random.Random) -> None:
    run = f"{rng.randrange(16**8):08x}"
    async with contextlib.AsyncExitStack() as stack:
        redis_server = await stack.enter_async_context(own_redis())
        with t.step("your app starts under uvicorn --workers 3 with one shared Redis"):
            try:
                cluster = await stack.enter_async_context(
                    serve_cluster(t.learner_file, WORKERS, fail_on_crash=False, redis_url=redis_server.url)
                )
            except CheckFailed as failed:
                if "workers ready after" not in str(failed):
                    raise
                head, tail, lines = str(failed).partition(" The workers' last lines:")
                raise CheckFailed(head + START_HANG + tail + lines) from None
        watch = CrashWatch(cluster, t.learner_file)
        clients: list[Client] = []

        async def close_all() -> None:
            await asyncio.gather(*(c.close() for c in clients))

        stack.push_async_callback(close_all)
        url = cluster.ws_url + "/ws"

        with t.step("clients on every worker are greeted with their worker's PID"):
            await _meet_every_worker(t, url, clients, cluster.worker_pids())
            watch.check()

        async def why_not() -> str:
            """Why a worker stopped delivering: a loop that spins, or a listener task that raised."""
            busy = await busy_workers(cluster.worker_pids(), 1.0)
            if busy:
                return " " + _spin(busy)
            where = await traceback_at_stop(cluster, t.learner_file)
            return (f" When the workers stopped, your listener task turned out to have raised {where}" if where else "")

        with t.step("a message sent through one worker reaches every client on every worker, once"):
            sender = rng.choice(clients)
            text = json.dumps({"run": run, "from": -1, "n": 0, "text": rng.choice(AWKWARD_WORDS)}, ensure_ascii=False)
            await sender.send(text)
            ok = await wait_all(clients, lambda c: bool(_received(c, run)), DELIVERY_TIMEOUT)
            watch.check()
            if not all(ok):
                local = all(fine == (c.pid == sender.pid) for c, fine in zip(clients, ok))
                t.fail(
                    f"{sum(ok)} of {len(clients)} clients received it within {DELIVERY_TIMEOUT:g} s "
                    f"({_by_worker(clients, ok)}); it was sent through worker {sender.pid}. "
                    + ("Only the sender's worker delivered it: the broadcast is local to one process "
                       "(the multi-worker mirage). Publish through Redis, and let each worker's listener deliver."
                       if local else
                       "Is each worker subscribed, and is its listener task still running?" + await why_not())
                )
            await asyncio.sleep(0.3)
            twice = [c for c in clients if len(_received(c, run)) > 1]
            t.expect(not twice, expected="each client gets it once",
                     got=f"{len(twice)} clients got it twice or more (on workers {sorted({c.pid for c in twice}, key=str)})",
                     message="A client got the same message twice: does the worker send it locally AND publish it?")

        with t.step("each worker holds one Redis subscription, however many clients it serves"):
            await _one_subscription_per_worker(t, redis_server.url, len(clients))

        with t.step("while nothing is sent, the workers sit idle: the listener waits for messages instead of polling"):
            await asyncio.sleep(0.3)  # let the first message's sends finish
            busy = await busy_workers(cluster.worker_pids(), IDLE_WINDOW)
            t.expect(not busy, expected="about 0 CPU seconds per second on each idle worker", got=_rates(busy),
                     message=_spin(busy))

        with t.step("messages from several publishers arrive everywhere, each publisher's in order, once"):
            await _burst(t, rng, clients, f"{run}-burst")
            watch.check()

        with t.step("after a Redis restart, delivery resumes on every worker within 5 s, and the clients stay connected"):
            await asyncio.to_thread(_outage, redis_server)
            await _resume(t, clients, f"{run}-resume", why_not)
            watch.check()


async def _meet_every_worker(t: T, url: str, clients: list[Client], pids: list[int]) -> None:
    """Open connections a few at a time until every worker has greeted one and there are enough.

    The kernel, not uvicorn, picks the worker, and on a busy machine one worker can lose
    nearly every race: connections to a worker that has plenty are closed again, and
    more are tried.
    """
    seen: Counter[Any] = Counter()
    attempts = 0
    while (set(pids) - set(seen) or len(clients) < MIN_CONNECTIONS) and attempts < MAX_ATTEMPTS:
        batch = await asyncio.gather(*(Client.open(url) for _ in range(WORKERS)), return_exceptions=True)
        attempts += len(batch)
        for opened in batch:
            if isinstance(opened, BaseException):
                busy = await busy_workers(pids, 1.0)
                raise CheckFailed(f"Could not open a WebSocket to /ws: {type(opened).__name__}: {opened}"
                                  + (f". {_spin(busy)}" if busy else ""))
            hello = opened.hello
            if not (isinstance(hello, dict) and hello.get("type") == "hello" and isinstance(hello.get("pid"), int)):
                clients.append(opened)
                t.fail(f'The first frame should be {{"type": "hello", "pid": <the worker\'s PID>}}; got {hello!r}')
            if seen[hello["pid"]] >= PER_WORKER and set(pids) - set(seen):
                await opened.close()  # this worker has plenty; make room for tries at the others
                continue
            clients.append(opened)
            seen[hello["pid"]] += 1
    strangers = set(seen) - set(pids)
    t.expect(not strangers, expected=f"PIDs of the workers {pids}", got=sorted(strangers),
             message="The hello frame's pid is not one of the workers' PIDs: send os.getpid().")
    if set(pids) - set(seen):
        busy = await busy_workers(pids, 1.0)
        t.fail(f"{len(seen)} of {WORKERS} workers answered after {attempts} connections: the kernel never handed one "
               "to the others. " + (_spin(busy) if busy else "Run the check again; if it keeps failing, say so."))


def _rates(busy: dict[int, float]) -> str:
    return ", ".join(f"worker {pid}: {rate:.2f}" for pid, rate in sorted(busy.items())) or "nothing"


def _spin(busy: dict[int, float]) -> str:
    which = ("Worker " if len(busy) == 1 else "Workers ") + ", ".join(str(pid) for pid in sorted(busy))
    top = max(busy.values(), default=0.0)
    return SPIN.format(which=which, rate=f"{min(top, 1.0):.0%}" if len(busy) == 1 else f"up to {min(top, 1.0):.0%}")


async def _one_subscription_per_worker(t: T, redis_url: str, n_clients: int) -> None:
    client = aioredis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 2.0
        while True:
            listing: Any = await client.client_list()
            subscribed = sum(1 for c in listing if int(c.get("sub", 0)) + int(c.get("psub", 0)) > 0)
            if subscribed == WORKERS or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    if subscribed > WORKERS:
        t.fail(f"Redis counts {subscribed} subscribed connections for {WORKERS} workers serving {n_clients} clients. "
               "A subscription (and a listener) per WebSocket costs one Redis connection per client: "
               "subscribe once per worker, at start-up, and fan out to the worker's own sockets.")
    t.expect(subscribed == WORKERS, expected=f"{WORKERS} subscribed connections (one per worker)", got=subscribed)


async def _burst(t: T, rng: random.Random, clients: list[Client], run: str) -> None:
    """One publisher per worker sends a numbered burst, all at the same time."""
    publishers: dict[Any, Client] = {}
    for client in clients:
        publishers.setdefault(client.pid, client)
    sizes = {pid: rng.randint(8, 15) for pid in publishers}

    async def send_burst(index: int, pid: Any) -> None:
        for n in range(sizes[pid]):
            await publishers[pid].send(json.dumps({"run": run, "from": index, "n": n}))

    await asyncio.gather(*(send_burst(i, pid) for i, pid in enumerate(publishers)))
    total = sum(sizes.values())
    ok = await wait_all(clients, lambda c: len(_received(c, run)) >= total, DELIVERY_TIMEOUT + 2)
    await asyncio.sleep(0.2)
    if not all(ok):
        got = min(len(_received(c, run)) for c in clients)
        t.fail(f"{len(publishers)} publishers sent {total} messages in all; {sum(ok)} of {len(clients)} clients got them all "
               f"({_by_worker(clients, ok)}); the unluckiest got {got}.")
    for client in clients:
        frames = _received(client, run)
        for index, pid in enumerate(publishers):
            order = [f.get("n") for f in frames if f.get("from") == index]
            if order != list(range(sizes[pid])):
                dup = len(order) != len(set(order))
                t.fail(f"A client on worker {client.pid} got publisher {index + 1}'s messages as {order[:20]}"
                       f"{' ...' if len(order) > 20 else ''} instead of 0 to {sizes[pid] - 1} in order, once each"
                       + (": some twice." if dup else "."))


def _outage(server: Any) -> None:
    with redis_outage(server):
        time.sleep(0.5)


async def _resume(t: T, clients: list[Client], run: str, why_not: Callable[[], Awaitable[str]]) -> None:
    """Publish a probe every 0.2 s until every client got one after the restart."""
    started = time.monotonic()
    n = 0
    ok = [False] * len(clients)
    while time.monotonic() - started < RESUME_WITHIN:
        live = [c for c in clients if c.closed is None]
        if len(live) < len(clients):
            break
        publisher = live[n % len(live)]
        with contextlib.suppress(Exception):
            await publisher.send(json.dumps({"run": run, "from": -1, "n": n}))
        n += 1
        await asyncio.sleep(0.2)
        ok = [bool(_received(c, run)) for c in clients]
        if all(ok):
            return
    dropped = [c for c in clients if c.closed is not None]
    if dropped:
        codes = sorted({str(c.closed[0]) for c in dropped if c.closed})
        t.fail(f"{len(dropped)} of {len(clients)} clients were disconnected when Redis restarted (close codes {', '.join(codes)}). "
               "A Redis outage should not cost the clients their connections: catch RedisError where it happens.")
    t.fail(f"Redis was back, and {n} messages were sent over {RESUME_WITHIN:g} s; {sum(ok)} of {len(clients)} clients "
           f"received any of them ({_by_worker(clients, ok)}). Does the listener end when Redis goes away? "
           "Catch RedisError inside listen()'s loop, wait a moment and read again: the listener must outlive the outage."
           + await why_not())
