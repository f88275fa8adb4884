"""The Python reconnecting client: full-jitter backoff, and real reconnects after a real server restart."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
from contextlib import aclosing

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from course_app.app import create_app
from course_app.realtime.codes import CloseCode
from course_app.realtime.reconnect import Backoff, reconnecting
from course_app.server import BackgroundServer, free_port


def run(coro: object) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


# -- Backoff -------------------------------------------------------------------------
def test_ceilings_grow_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=5.0, seed=1)
    ceilings = []
    for _ in range(7):
        ceilings.append(backoff.ceiling())
        backoff.next_delay()
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_every_delay_is_drawn_from_zero_to_its_ceiling() -> None:
    backoff = Backoff(base=1.0, cap=8.0, seed=7)
    for _ in range(200):
        ceiling = backoff.ceiling()
        assert 0.0 <= backoff.next_delay() <= ceiling
        if backoff.attempt > 6:
            backoff.reset()


def test_full_jitter_spreads_clients_over_the_whole_range() -> None:
    # 1000 clients lose the server at the same instant; their first retries spread out evenly.
    rng = random.Random(42)
    firsts = [Backoff(base=2.0, cap=30.0, rng=rng).next_delay() for _ in range(1000)]
    assert min(firsts) < 0.1 and max(firsts) > 1.9
    assert 0.9 < statistics.mean(firsts) < 1.1  # uniform on [0, 2]: mean 1
    per_bucket = [sum(1 for d in firsts if k * 0.4 <= d < (k + 1) * 0.4) for k in range(5)]
    assert min(per_bucket) > 150, per_bucket  # no clump: ~200 in each fifth


def test_the_same_seed_gives_the_same_delays_and_reset_starts_over() -> None:
    a, b = Backoff(seed=3), Backoff(seed=3)
    assert [a.next_delay() for _ in range(5)] == [b.next_delay() for _ in range(5)]
    a.reset()
    assert a.attempt == 0 and a.ceiling() == a.base


@pytest.mark.parametrize("args", [(0, 1, 2), (2, 1, 2), (0.5, 10, 0.5)])
def test_nonsense_settings_are_refused_with_an_example(args: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError, match="e.g. Backoff"):
        Backoff(*args)


# -- reconnecting() against a real server ----------------------------------------------
def test_reconnects_after_a_server_restart_on_the_same_port() -> None:
    port = free_port()
    waits: list[tuple[int, float, str]] = []

    async def scenario() -> None:
        server = await BackgroundServer(create_app(), port=port).__aenter__()
        sessions: list[list[int]] = []

        async def restart() -> None:
            await asyncio.sleep(0.4)
            await server.__aexit__(None, None, None)
            await asyncio.sleep(0.8)  # down long enough for several refused attempts
            await BackgroundServer.__aenter__(server)

        restarter = asyncio.create_task(restart())
        url = f"ws://127.0.0.1:{port}/ticker?interval=0.05"
        try:
            async with aclosing(reconnecting(url, backoff=Backoff(0.05, 0.4, seed=1), on_wait=lambda *w: waits.append(w))) as connections:
                async for ws in connections:
                    seqs: list[int] = []
                    sessions.append(seqs)
                    try:
                        async for raw in ws:
                            seqs.append(json.loads(raw)["seq"])
                            if len(sessions) == 2 and len(seqs) == 3:
                                break
                    except ConnectionClosed:
                        continue
                    break
            await restarter
        finally:
            await server.__aexit__(None, None, None)
        assert len(sessions) == 2 and sessions[1] == [1, 2, 3]
        assert sessions[0][:3] == [1, 2, 3]

    run(scenario())
    reasons = [w[2] for w in waits]
    assert f"code {int(CloseCode.SERVICE_RESTART)}" in reasons[0]
    assert any("ConnectionRefusedError" in r for r in reasons[1:]), reasons
    attempts = [w[0] for w in waits]
    assert attempts == list(range(1, len(attempts) + 1)), "attempts count up while the server is down"
    assert all(0 <= delay <= 0.4 for _, delay, _ in waits), "never more than the cap"


def test_backoff_resets_only_after_a_stable_connection() -> None:
    async def attempts_after_two_short_sessions(stable_after: float) -> list[int]:
        seen: list[int] = []
        async with BackgroundServer(create_app()) as server:
            url = server.ws_url + "/ticker?interval=0.01&count=1"  # the server closes after one tick
            async with aclosing(reconnecting(url, backoff=Backoff(0.01, 0.05, seed=2), stable_after=stable_after,
                                             on_wait=lambda attempt, *_: seen.append(attempt))) as connections:
                async for ws in connections:
                    async for _ in ws:
                        pass
                    if len(seen) == 3:
                        break
        return seen

    async def scenario() -> None:
        assert await attempts_after_two_short_sessions(stable_after=60) == [1, 2, 3]  # flapping: keep backing off
        assert await attempts_after_two_short_sessions(stable_after=0) == [1, 1, 1]  # stable: start over each time

    run(scenario())


def test_a_refused_handshake_is_not_retried() -> None:
    async def scenario() -> None:
        async with BackgroundServer(create_app()) as server:
            with pytest.raises(ConnectionRefusedError, match="HTTP 403.*retrying will not help"):
                async with aclosing(reconnecting(server.ws_url + "/no-such-route")) as connections:
                    async for _ in connections:
                        pass

    run(scenario())


def test_closing_the_generator_closes_the_open_connection() -> None:
    async def scenario() -> None:
        async with BackgroundServer(create_app()) as server:
            async with aclosing(reconnecting(server.ws_url + "/ticker?interval=0.05")) as connections:
                async for ws in connections:
                    await ws.recv()
                    break
            assert ws.state is State.CLOSED

    run(scenario())
