"""Chapter 08 under faults: Redis restarts, a killed worker, and connection churn across workers.

Real uvicorn workers (Cluster), a real Redis that is killed and comes back, real clients.
Counters, not clocks: every wait has a generous deadline and says what it waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.cluster import Cluster
from course_app.faults import async_wait_until, kill_worker, restart_redis
from course_app.realtime.codes import CloseCode


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _join(url: str) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and read the hello; a 1013 while Redis comes back means: try again."""
    for _ in range(50):
        ws = await connect(url)
        try:
            return ws, json.loads(await asyncio.wait_for(ws.recv(), 5))
        except ConnectionClosed as closed:
            if closed.rcvd is None or closed.rcvd.code != CloseCode.TRY_AGAIN_LATER:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} kept answering 1013")


async def _publish(http: httpx.AsyncClient, texts: list[str]) -> None:
    """At-least-once: a 503 means 'not stored', so send it again."""
    for text in texts:
        for _ in range(100):
            if (await http.post("/replay/publish", params={"text": text})).status_code == 200:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"/replay/publish kept refusing {text!r}")


async def _texts(ws: ClientConnection, want: int, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Frames until ``want`` arrived and then ``quiet`` seconds of nothing (to see a repeat)."""
    frames: list[dict[str, Any]] = []
    try:
        while True:
            timeout = 10.0 if len(frames) < want else quiet
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except TimeoutError:
        return frames


def test_streams_lose_nothing_and_repeat_nothing_across_a_redis_restart() -> None:
    async def go(cluster: Cluster) -> None:
        ws, _ = await _join(cluster.ws_url + "/replay/ws")
        async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
            await _publish(http, [f"a{n}" for n in range(20)])
            await asyncio.to_thread(restart_redis, cluster.redis)
            await _publish(http, [f"b{n}" for n in range(20)])
        frames = await _texts(ws, 40)
        await ws.close()
        assert [f["text"] for f in frames] == [f"a{n}" for n in range(20)] + [f"b{n}" for n in range(20)]

    with Cluster(workers=2, redis_persist=True) as cluster:
        run(go(cluster))


def test_pubsub_delivery_resumes_after_a_redis_restart_and_the_gap_is_counted() -> None:
    """At most once, measured: 3 workers, clients on each, a steady publisher, Redis killed and restarted.

    Every message Redis handed to all 3 workers reaches every client, in order, once;
    the ones lost are exactly those refused (503, Redis down) or handed to fewer
    workers than listen (PUBLISH counted fewer while listeners resubscribed).
    Delivery to every client resumes within 5 s of Redis answering again.
    """
    every = 0.02  # seconds between two publishes: a steady 50 a second

    async def go(cluster: Cluster) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        clients: list[tuple[ClientConnection, dict[str, Any]]] = []
        while len({hello["pid"] for _, hello in clients}) < cluster.workers or len(clients) < 6:
            assert len(clients) < 200, "the kernel never spread the connections over every worker"
            clients.append(await _join(cluster.ws_url + "/scale/ws"))
        received: list[list[tuple[int, float]]] = [[] for _ in clients]

        async def read(ws: ClientConnection, into: list[tuple[int, float]]) -> None:
            with contextlib.suppress(ConnectionClosed):
                async for frame in ws:
                    text = json.loads(frame).get("text", "")
                    if text.isdigit():
                        into.append((int(text), loop.time()))

        readers = [asyncio.create_task(read(ws, into)) for (ws, _), into in zip(clients, received, strict=True)]
        outcome: dict[int, int] = {}  # n -> workers that got it (0 when refused)
        sent_at: dict[int, float] = {}
        stop = asyncio.Event()

        async def publisher(http: httpx.AsyncClient) -> None:
            n = 0
            while not stop.is_set():
                sent_at[n] = loop.time()
                reply = await http.post("/scale/publish", params={"text": str(n)})
                outcome[n] = reply.json()["receivers"] if reply.status_code == 200 else 0
                assert reply.status_code in (200, 503), reply.text
                n += 1
                await asyncio.sleep(every)

        try:
            async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
                publishing = asyncio.create_task(publisher(http))
                await async_wait_until(lambda: len(outcome) >= 25, 10, "25 messages published before the fault")
                killed = loop.time()
                await asyncio.to_thread(restart_redis, cluster.redis)
                back = loop.time()
                first_after = max(sent_at) + 1  # published after Redis answered again

                def resumed() -> bool:
                    return all(any(n >= first_after for n, _ in got) for got in received)

                await async_wait_until(resumed, 5, "delivery to every client after Redis came back")
                resumed_at = max(min(t for n, t in got if n >= first_after) for got in received)
                await async_wait_until(lambda: len(outcome) >= first_after + 25, 10, "25 more messages")
                stop.set()
                await publishing
            last = max(outcome)
            await async_wait_until(lambda: all(got and got[-1][0] == last for got in received), 5,
                                   "the last message at every client")
        finally:
            await asyncio.gather(*(ws.close() for ws, _ in clients))
            await asyncio.gather(*readers)
        for got in received:  # in order, once, and missing only what Redis refused or could not hand to all
            numbers = [n for n, _ in got]
            assert numbers == sorted(set(numbers)), "a client saw a message twice or out of order"
            missing = set(outcome) - set(numbers)
            assert all(outcome[n] < cluster.workers for n in missing), sorted(missing)
        per_client = [len(set(outcome) - {n for n, _ in got}) for got in received]
        return {"published": len(outcome), "refused": sum(1 for k in outcome.values() if k == 0),
                "handed_to_fewer": sum(1 for k in outcome.values() if 0 < k < cluster.workers),
                "lost_per_client": (min(per_client), max(per_client)),
                "restart_s": round(back - killed, 2), "resumed_after_back_s": round(resumed_at - back, 2),
                "resumed_after_kill_s": round(resumed_at - killed, 2)}

    with Cluster(workers=3) as cluster:
        figures = run(asyncio.wait_for(go(cluster), 60))
    print(f"Pub/Sub across a Redis restart: {figures}")  # pytest -s shows the measured gap
    assert figures["resumed_after_back_s"] <= 5
    assert figures["refused"] + figures["handed_to_fewer"] >= figures["lost_per_client"][1]


def test_clients_of_a_killed_worker_resume_on_a_live_one() -> None:
    async def go(cluster: Cluster) -> None:
        clients = []
        while len({hello["pid"] for _, hello in clients}) < 2:
            clients.append(await _join(cluster.ws_url + "/replay/ws"))
        victim = clients[0][1]["pid"]
        mine = [ws for ws, hello in clients if hello["pid"] == victim]
        async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
            await _publish(http, ["before"])
            last = [json.loads(await asyncio.wait_for(ws.recv(), 5))["id"] for ws in mine]
            await asyncio.to_thread(kill_worker, cluster, victim)
            for ws in mine:  # the connection is gone with its process
                await async_wait_until(lambda ws=ws: ws.state.name == "CLOSED", 10, "the killed worker's client to notice")
            await _publish(http, [f"while away {n}" for n in range(5)])
            for last_id in last:
                back, hello = await _join(cluster.ws_url + f"/replay/ws?last_id={last_id}")
                assert hello["pid"] != victim
                frames = await _texts(back, 5)
                await back.close()
                assert [f["text"] for f in frames] == [f"while away {n}" for n in range(5)]
        await asyncio.gather(*(ws.close() for ws, _ in clients))

    with Cluster(workers=2) as cluster:
        run(go(cluster))


def test_a_thousand_connections_come_and_go_and_leave_nothing_behind() -> None:
    async def go(cluster: Cluster) -> None:
        pids: set[int] = set()

        async def cycle(path: str) -> None:
            ws, hello = await _join(cluster.ws_url + path)
            pids.add(hello["pid"])
            await ws.close()

        for start in range(0, 1000, 50):
            path = "/scale/ws" if start % 100 == 0 else "/mirage/ws"
            await asyncio.gather(*(cycle(path) for _ in range(50)))
        assert len(pids) == cluster.workers, f"the churn reached {len(pids)} of {cluster.workers} workers"
        redis = aioredis.from_url(cluster.redis_url or "")
        try:
            numsub: Any = await async_wait_until(
                lambda: _numsub(redis), 10, "Redis to count no subscriber on course:scale")
            assert numsub == [(b"course:scale", 0)]
        finally:
            await redis.aclose()
        async with httpx.AsyncClient(base_url=cluster.url, timeout=5) as http:
            seen: dict[int, int] = {}
            for _ in range(200):
                body = (await http.post("/mirage/publish", params={"text": "anyone?"})).json()
                seen[body["pid"]] = body["clients_here"]
                if len(seen) == cluster.workers:
                    break
        assert seen and all(count == 0 for count in seen.values()), seen

    with Cluster(workers=3) as cluster:
        run(go(cluster))


async def _numsub(redis: aioredis.Redis) -> Any:
    reply: Any = await redis.pubsub_numsub("course:scale")
    return reply if reply == [(b"course:scale", 0)] else None
