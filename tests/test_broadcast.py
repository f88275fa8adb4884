"""realtime.Broadcast on its three backends, against a real Redis: fan-out, overflow policies, cleanup, restarts.

Redis restarts are real: the redis-server is killed and started again on the
same port. Waits are bounded by counters and deadlines, never by fixed sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import redis

from course_app.faults import async_wait_until, redis_outage, restart_redis
from course_app.realtime import Broadcast, BroadcastUnavailable, CloseCode, Subscriber, SubscriberTooSlow
from course_app.realtime.gc_tuning import tune_gc
from course_app.redis_server import EmbeddedRedis
from course_app.server import free_port

R = TypeVar("R")


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.fixture(scope="module")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis() as server:
        yield server


def urls(server: EmbeddedRedis) -> dict[str, str]:
    return {"pubsub": server.url, "streams": server.url.replace("redis://", "redis-streams://", 1)}


async def drain(subscriber: Subscriber, n: int, seconds: float = 5.0) -> list[Any]:
    return [(await asyncio.wait_for(subscriber.get(), seconds)).message for _ in range(n)]


# -- one process ---------------------------------------------------------------------

def test_memory_publish_reaches_the_channel_only_and_counts_its_subscribers() -> None:
    async def go() -> tuple[int | None, list[Any], int]:
        async with Broadcast() as broadcast, broadcast.subscribe("a") as a1, broadcast.subscribe("a") as a2, \
                broadcast.subscribe("b") as b:
            reached = await broadcast.publish("a", {"n": 1})
            return reached, [(await a1.get()).message, (await a2.get()).message], b.pending()

    assert run(go()) == (2, [{"n": 1}, {"n": 1}], 0)


@pytest.mark.parametrize("backend", ["memory", "pubsub", "streams"])
def test_every_backend_delivers_in_order_with_channel_and_text(redis_server: EmbeddedRedis, backend: str) -> None:
    url = "memory://" if backend == "memory" else urls(redis_server)[backend]

    async def go() -> list[tuple[str, Any, str, bool]]:
        async with Broadcast(url) as broadcast, broadcast.subscribe("orders") as subscriber:
            for n in range(20):
                await broadcast.publish("orders", {"n": n, "é": "\ud800"})  # a lone surrogate travels as an escape
            events = [await asyncio.wait_for(subscriber.get(), 5) for _ in range(20)]
            return [(e.channel, e.message["n"], e.text, e.id is not None) for e in events]

    got = run(go())
    assert [n for _, n, _, _ in got] == list(range(20))
    assert all(channel == "orders" and text.isascii() for channel, _, text, _ in got)
    assert all(has_id == (backend == "streams") for *_, has_id in got)


def test_two_broadcasts_share_a_redis_channel_like_two_workers(redis_server: EmbeddedRedis) -> None:
    async def go() -> tuple[int | None, Any, Any]:
        async with Broadcast(redis_server.url) as one, Broadcast(redis_server.url) as two, \
                one.subscribe("room") as on_one, two.subscribe("room") as on_two:
            receivers = await one.publish("room", "hello")
            return receivers, (await asyncio.wait_for(on_one.get(), 5)).message, (await asyncio.wait_for(on_two.get(), 5)).message

    assert run(go()) == (2, "hello", "hello")  # Redis counted two listening processes


# -- a subscriber that falls behind is told -------------------------------------------

def test_overflow_close_drops_the_subscriber_with_too_slow_and_a_reason() -> None:
    async def go() -> tuple[SubscriberTooSlow, int, int | None]:
        async with Broadcast(queue_size=3) as broadcast, broadcast.subscribe("feed") as slow, \
                broadcast.subscribe("feed", queue_size=100) as fast:
            for n in range(4):
                await broadcast.publish("feed", n)
            with pytest.raises(SubscriberTooSlow) as caught:
                await slow.get()
            after = await broadcast.publish("feed", 4)  # only the fast one is left
            return caught.value, len(await drain(fast, 5)), after

    error, fast_got, after = run(go())
    assert error.code == CloseCode.TOO_SLOW
    assert "too slow" in error.reason and "feed" in error.reason
    assert fast_got == 5 and after == 1


def test_overflow_drop_oldest_keeps_the_newest_and_counts_the_dropped() -> None:
    async def go() -> tuple[list[Any], int]:
        async with Broadcast(queue_size=3, overflow="drop_oldest") as broadcast, broadcast.subscribe("feed") as sub:
            for n in range(5):
                await broadcast.publish("feed", n)
            return await drain(sub, 3), sub.dropped

    assert run(go()) == ([2, 3, 4], 2)


def test_overflow_latest_wins_replaces_the_backlog_with_the_newest() -> None:
    async def go() -> tuple[list[Any], int, int]:
        async with Broadcast(queue_size=3) as broadcast, broadcast.subscribe("state", overflow="latest_wins") as sub:
            for n in range(7):
                await broadcast.publish("state", {"v": n})
            pending = sub.pending()
            return await drain(sub, pending), sub.dropped, broadcast.subscribers("state")

    got, dropped, still_subscribed = run(go())
    assert got[-1] == {"v": 6}  # the newest always arrives
    assert dropped == 7 - len(got) and still_subscribed == 1


def test_bad_arguments_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="memory://"):
        Broadcast("kafka://somewhere")
    with pytest.raises(ValueError, match="drop_oldest"):
        Subscriber("c", 4, "ignore")  # type: ignore[arg-type]

    async def go() -> None:
        async with Broadcast() as broadcast:
            async with broadcast.subscribe("c", last_id="0-0"):
                pass

    with pytest.raises(ValueError, match="Streams"):
        run(go())


def test_members_are_served_in_the_order_they_joined() -> None:
    """Writers wake in join order (a dict of members, not a set): first come, first served."""
    async def go() -> list[int]:
        served: list[int] = []
        async with Broadcast() as broadcast, contextlib.AsyncExitStack() as stack:
            subscribers = [await stack.enter_async_context(broadcast.subscribe("feed")) for _ in range(50)]

            async def member(n: int, subscriber: Subscriber) -> None:
                await subscriber.get()
                served.append(n)

            order = list(range(50))
            random.Random(8).shuffle(order)  # tasks started in another order than the members joined
            tasks = [asyncio.create_task(member(n, subscribers[n])) for n in order]
            await asyncio.sleep(0)  # every member waits
            await broadcast.publish("feed", "go")
            await asyncio.gather(*tasks)
        return served

    assert run(go()) == list(range(50))


def test_a_backlog_is_read_after_one_wake_up() -> None:
    """get() suspends only on an empty queue: ten queued events cost a writer one wake-up, not ten."""
    async def go() -> tuple[list[Any], int]:
        loop = asyncio.get_running_loop()
        created = 0
        make_future = loop.create_future

        def counting_create_future() -> asyncio.Future[Any]:
            nonlocal created
            created += 1
            return make_future()

        async with Broadcast() as broadcast, broadcast.subscribe("feed") as subscriber:
            loop.create_future = counting_create_future  # type: ignore[method-assign]
            try:
                first = asyncio.create_task(subscriber.get())
                await asyncio.sleep(0)  # the reader waits: one future
                for n in range(10):
                    await broadcast.publish("feed", n)
                got = [(await first).message] + [(await subscriber.get()).message for _ in range(9)]
            finally:
                del loop.create_future  # type: ignore[method-assign]
        return got, created

    got, waits = run(go())
    assert got == list(range(10)) and waits == 1


def test_tune_gc_stops_the_collections_a_broadcast_to_1000_members_causes() -> None:
    """Counted with gc.callbacks: the default young threshold collects about once per broadcast, tune_gc() never."""
    async def broadcasts(n: int) -> None:
        async with Broadcast(queue_size=4) as broadcast, contextlib.AsyncExitStack() as stack:
            subscribers = [await stack.enter_async_context(broadcast.subscribe("feed")) for _ in range(1000)]

            async def writer(subscriber: Subscriber) -> None:
                while True:
                    await subscriber.get()

            tasks = [asyncio.create_task(writer(s)) for s in subscribers]
            await asyncio.sleep(0)
            collections.clear()
            for _ in range(n):
                await broadcast.publish("feed", "x" * 200)
                await asyncio.sleep(0)  # every writer takes its event
                await asyncio.sleep(0)
            counted.append(collections.count("young"))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    collections: list[str] = []
    counted: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append("young" if info["generation"] == 0 else f"gen{info['generation']}")

    gc.callbacks.append(count)
    old = gc.get_threshold()
    try:
        gc.set_threshold(700, old[1], old[2])  # CPython's default
        run(broadcasts(40))
        assert tune_gc() == (700, old[1], old[2])
        assert gc.get_threshold()[0] == 10_000 and gc.get_freeze_count() > 0
        run(broadcasts(40))
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()
        gc.set_threshold(*old)
    default, tuned = counted
    assert default >= 30, counted  # about one per broadcast
    assert tuned == 0, counted
    with pytest.raises(ValueError, match="positive"):
        tune_gc(0)


# -- cleanup -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["memory", "pubsub", "streams"])
def test_a_subscriber_leaves_when_the_body_raises_and_the_listener_ends_with_the_broadcast(
    redis_server: EmbeddedRedis, backend: str,
) -> None:
    url = "memory://" if backend == "memory" else urls(redis_server)[backend]

    async def go() -> tuple[dict[str, int], int, set[asyncio.Task[Any]]]:
        async with Broadcast(url) as broadcast:
            with pytest.raises(ZeroDivisionError):
                async with broadcast.subscribe("c"):
                    1 / 0
            left = broadcast.channels()
            numsub = 0
            if backend == "pubsub":
                with redis.Redis.from_url(redis_server.url) as client:
                    numsub = int(client.pubsub_numsub("c")[0][1])
        return left, numsub, {t for t in asyncio.all_tasks() if t.get_name().startswith("broadcast-listener")}

    left, numsub, tasks = run(go())
    assert left == {} and numsub == 0  # unsubscribed from Redis too
    assert not tasks  # the listener task was cancelled and awaited


def test_a_dead_redis_url_fails_at_once_naming_the_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"

    async def go() -> None:
        async with Broadcast(url):
            pass

    with pytest.raises(BroadcastUnavailable, match=f"Redis at {url} did not answer"):
        run(go())


# -- Redis restarts ------------------------------------------------------------------

def test_pubsub_delivery_comes_back_after_a_redis_restart(caplog: pytest.LogCaptureFixture) -> None:
    async def go(server: EmbeddedRedis) -> tuple[str, Any]:
        async with Broadcast(server.url) as broadcast, broadcast.subscribe("c") as sub:
            with redis_outage(server):
                with pytest.raises(BroadcastUnavailable) as down:
                    await broadcast.publish("c", "lost")

            async def delivered() -> Any:  # at most once: publish until one arrives again
                with __import__("contextlib").suppress(BroadcastUnavailable):
                    await broadcast.publish("c", "back")
                    return (await asyncio.wait_for(sub.get(), 0.2)).message
                return None

            return down.value.reason, await async_wait_until(_quiet(delivered), 5, "Pub/Sub delivery after the restart")

    with caplog.at_level(logging.WARNING, "course_app.realtime"), EmbeddedRedis() as server:
        reason, back = run(go(server))
    assert "did not answer" in reason and server.url in reason
    assert back == "back"
    assert any("back on Redis" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("backend", ["pubsub", "streams"])
def test_publishing_right_after_a_redis_restart_does_not_fail_on_stale_pooled_connections(backend: str) -> None:
    """Every idle pooled connection died with the old Redis: no publish may fail because it drew one."""

    async def go(server: EmbeddedRedis) -> tuple[int, list[str]]:
        async with Broadcast(urls(server)[backend]) as broadcast, broadcast.subscribe("c") as sub:
            await asyncio.gather(*(broadcast.publish("c", n) for n in range(10)))  # ten pooled connections
            await drain(sub, 10)
            pooled = len(broadcast.backend._client.connection_pool._available_connections)  # type: ignore[attr-defined]
            await asyncio.to_thread(restart_redis, server)
            await async_wait_until(broadcast.backend.listener.ready.is_set, 10,  # type: ignore[attr-defined]
                                   "the listener to be back on Redis")
            outcomes = [await asyncio.wait_for(broadcast.publish("c", "first"), 10)]
            outcomes += await asyncio.gather(*(asyncio.wait_for(broadcast.publish("c", n), 10) for n in range(10)),
                                             return_exceptions=True)
            if backend == "streams":  # XREVRANGE and XRANGE draw pooled connections too
                async with broadcast.subscribe("other") as other, broadcast.subscribe("c", last_id="0-0") as again:
                    outcomes += [other.pending(), again.pending()]
            return pooled, [repr(o) for o in outcomes if isinstance(o, BaseException)]

    with EmbeddedRedis(persist=True) as server:
        pooled, failures = run(go(server))
    assert pooled >= 5  # otherwise the test did not set up what it means to test
    assert failures == []


def _quiet(probe: Any) -> Any:
    async def attempt() -> Any:
        try:
            return await probe()
        except TimeoutError:
            return None
    return attempt


def test_streams_lose_nothing_and_duplicate_nothing_across_a_redis_restart() -> None:
    """Entries added while the listener is reconnecting are read from its last id, exactly once."""

    async def go(server: EmbeddedRedis) -> tuple[list[Any], list[Any], int]:
        url = server.url.replace("redis://", "redis-streams://", 1)
        async with Broadcast(url) as reader, Broadcast(url) as writer, reader.subscribe("log") as sub:
            for n in range(5):
                await writer.publish("log", n)
            first = await drain(sub, 5)
            with redis_outage(server):
                await async_wait_until(lambda: not reader.backend.listener.ready.is_set(), 5,  # type: ignore[attr-defined]
                                       "the listener to notice the outage")
            for n in range(5, 10):  # at once: the listener is most likely still backing off
                await _publish_when_up(writer, "log", n)
            rest = await drain(sub, 5)
            extra = sub.pending()
            return first, rest, extra

    with EmbeddedRedis(persist=True) as server:
        first, rest, extra = run(go(server))
    assert first + rest == list(range(10))
    assert extra == 0  # nothing delivered twice


async def _publish_when_up(broadcast: Broadcast, channel: str, message: Any) -> None:
    async def published() -> bool:
        try:
            await broadcast.publish(channel, message)
        except BroadcastUnavailable:
            return False
        return True

    await async_wait_until(published, 5, f"Redis to take {message!r} again")


def test_streams_replay_from_last_id_then_live_without_gaps_or_repeats(redis_server: EmbeddedRedis) -> None:
    url = urls(redis_server)["streams"]

    async def go() -> tuple[list[Any], list[Any]]:
        async with Broadcast(url) as broadcast:
            async with broadcast.subscribe("replay") as first:
                for n in range(6):
                    await broadcast.publish("replay", n)
                seen = [await asyncio.wait_for(first.get(), 5) for _ in range(3)]
            last_id = seen[-1].id  # the client saw 0, 1, 2 and then lost its connection
            for n in range(6, 8):
                await broadcast.publish("replay", n)
            async with broadcast.subscribe("replay", last_id=last_id) as resumed:
                await broadcast.publish("replay", 8)
                got = await drain(resumed, 6)
                return [e.message for e in seen], got + [resumed.pending()]

    seen, resumed = run(go())
    assert seen == [0, 1, 2]
    assert resumed == [3, 4, 5, 6, 7, 8, 0]


def test_streams_are_capped_with_maxlen(redis_server: EmbeddedRedis) -> None:
    from course_app.realtime.backends.redis_streams import RedisStreamsBackend

    async def go() -> int:
        async with Broadcast(RedisStreamsBackend(redis_server.url, maxlen=100)) as broadcast:
            for n in range(1000):
                await broadcast.publish("capped", n)
        with redis.Redis.from_url(redis_server.url) as client:
            return int(client.xlen("capped"))

    length = run(go())
    assert 100 <= length < 1000  # MAXLEN ~ trims whole nodes: about 100, never everything
