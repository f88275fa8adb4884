"""The fan-out layer behind the course app's routes: per-app state, bursts, Redis outages, a dead REDIS_URL.

Real uvicorn on loopback, real websockets/httpx clients, a real redis-server
that is killed and started again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.app import create_app
from course_app.faults import async_wait_until, redis_outage
from course_app.logcapture import capture_logs
from course_app.realtime.codes import CloseCode
from course_app.redis_server import EmbeddedRedis
from course_app.server import BackgroundServer, ServerError, free_port

R = TypeVar("R")


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def closed_with(ws: ClientConnection, seconds: float = 5.0) -> tuple[int | None, str | None, int]:
    """Read until the server closes; how many messages came first. Silence for ``seconds`` fails."""
    n = 0
    try:
        while True:
            await asyncio.wait_for(ws.recv(), seconds)
            n += 1
    except ConnectionClosed:
        return ws.close_code, ws.close_reason, n
    except TimeoutError:
        raise AssertionError(f"silence: no message and no close frame for {seconds} s after {n} messages") from None


def test_two_apps_in_one_process_share_no_state() -> None:
    async def go(a: BackgroundServer, b: BackgroundServer) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any]]:
        async with connect(a.ws_url + "/live-score") as on_a, httpx.AsyncClient() as client:
            await async_wait_until(lambda: _total(client, a.url), 5, "the subscriber on app A")
            to_b = (await client.post(b.url + "/update-score", params={"team": "B", "score": 1})).json()
            rooms_b = (await client.get(b.url + "/rooms")).json()
            to_a = (await client.post(a.url + "/update-score", params={"team": "A", "score": 2})).json()
            return to_b, rooms_b, await asyncio.wait_for(on_a.recv(), 5), to_a  # type: ignore[return-value]

    with BackgroundServer(create_app()) as a, BackgroundServer(create_app()) as b:
        to_b, rooms_b, got_on_a, to_a = run(go(a, b))
    assert to_b["delivered"] == 0 and rooms_b == {"total": 0, "rooms": {}}
    assert json.loads(got_on_a) == {"team": "A", "score": 2}  # the first thing A's subscriber saw
    assert to_a["delivered"] == 1


async def _total(client: httpx.AsyncClient, url: str) -> int:
    return int((await client.get(url + "/rooms")).json()["total"])


def test_a_burst_of_1000_frames_to_scale_ws_is_delivered_or_closed_with_too_slow_never_silence() -> None:
    """Once this gave 316 echoes and then silence with the socket open."""

    async def go(server: BackgroundServer) -> tuple[int, int | None, str | None]:
        async with connect(server.ws_url + "/scale/ws", max_size=None) as ws:
            await asyncio.wait_for(ws.recv(), 5)  # hello
            for n in range(1000):
                await ws.send(f"burst {n}")
            echoes = 0
            while echoes < 1000:
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                except ConnectionClosed:
                    return echoes, ws.close_code, ws.close_reason
                except TimeoutError:
                    raise AssertionError(f"silence after {echoes} echoes, socket still open") from None
                assert message["text"] == f"burst {echoes}"  # in order, none skipped
                echoes += 1
            return echoes, None, None

    with BackgroundServer(create_app()) as server:
        echoes, code, reason = run(go(server))
    assert echoes == 1000 or (code == CloseCode.TOO_SLOW and reason), (echoes, code, reason)


def test_a_client_that_stops_reading_scale_ws_is_closed_with_too_slow_and_the_others_get_everything() -> None:
    async def go(server: BackgroundServer) -> tuple[int | None, str | None, int, int]:
        big = "x" * 4000
        async with connect(server.ws_url + "/scale/ws", max_queue=1, compression=None) as stalled, \
                connect(server.ws_url + "/scale/ws", compression=None, max_size=None) as healthy, \
                httpx.AsyncClient(base_url=server.url) as client:
            for ws in (stalled, healthy):
                await asyncio.wait_for(ws.recv(), 5)  # hello
            stalled.transport.pause_reading()  # from now on this client reads nothing at all
            sent = 0
            for _ in range(2000):  # 2000 x 4 KB: far more than the stalled client's buffers and queue
                reply = (await client.post("/scale/publish", params={"text": big})).json()
                sent += 1
                if reply["receivers"] == 1:
                    break
            got = 0
            while got < sent:
                json.loads(await asyncio.wait_for(healthy.recv(), 5))
                got += 1
            stalled.transport.resume_reading()
            code, reason, _ = await closed_with(stalled)
            return code, reason, sent, got

    with BackgroundServer(create_app()) as server:
        code, reason, sent, got = run(go(server))
    assert code == CloseCode.TOO_SLOW and reason and "too slow" in reason
    assert sent < 2000 and got == sent


def test_during_a_redis_outage_publish_answers_503_and_a_sender_is_closed_1013_then_delivery_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def go(server: BackgroundServer, redis_server: EmbeddedRedis) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with httpx.AsyncClient(base_url=server.url) as client, \
                connect(server.ws_url + "/scale/ws") as listener, connect(server.ws_url + "/scale/ws") as sender:
            for ws in (listener, sender):
                await asyncio.wait_for(ws.recv(), 5)  # hello
            with redis_outage(redis_server):
                response = await client.post("/scale/publish", params={"text": "during"})
                seen["status"], seen["detail"] = response.status_code, response.json()["detail"]
                seen["retry_after"] = response.headers.get("retry-after")
                await sender.send("during")
                seen["sender"] = await closed_with(sender)

            async def delivered() -> bool:  # Pub/Sub is at most once: publish until one arrives again
                if (await client.post("/scale/publish", params={"text": "after"})).status_code != 200:
                    return False
                try:
                    return bool(json.loads(await asyncio.wait_for(listener.recv(), 0.2))["text"] == "after")
                except TimeoutError:
                    return False

            seen["back"] = await async_wait_until(delivered, 5, "delivery after Redis came back")
        return seen

    with EmbeddedRedis() as redis_server:
        monkeypatch.setenv("REDIS_URL", redis_server.url)
        with capture_logs("course_app.realtime", logging.WARNING) as logs, BackgroundServer(create_app()) as server:
            seen = run(go(server, redis_server))
    assert seen["status"] == 503 and redis_server.url in seen["detail"] and seen["retry_after"] == "1"
    code, reason, _ = seen["sender"]
    assert code == CloseCode.TRY_AGAIN_LATER and reason and "Redis" in reason
    assert seen["back"] is True
    assert any("lost Redis" in m for m in logs.messages()) and any("back on Redis" in m for m in logs.messages())


def test_a_dead_redis_url_fails_start_up_at_once_saying_redis_did_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv("REDIS_URL", url)
    with capture_logs("uvicorn.error", logging.ERROR) as logs, pytest.raises(ServerError) as failed:
        BackgroundServer(create_app()).start()
    said = str(failed.value) + "\n".join(logs.messages()) + "\n".join(logs.crashes())
    assert f"Redis at {url} did not answer" in said
    assert "not ready after" not in said
