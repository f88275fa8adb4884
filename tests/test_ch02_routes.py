"""Chapter 02 routes over real HTTP: the classic order, where endpoints run, blocking vs awaiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from course_app.app import create_app
from course_app.server import BackgroundServer


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app()) as running:
        yield running


async def _burst(server: BackgroundServer, path: str, n: int, **params: object) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return list(await asyncio.gather(*(client.get(path, params=params) for _ in range(n))))


def test_two_orders_at_once_take_about_three_seconds(server: BackgroundServer) -> None:
    started = time.perf_counter()
    replies = asyncio.run(_burst(server, "/order/pizza", 2))
    took = time.perf_counter() - started
    assert [r.json() for r in replies] == [{"order": "pizza", "status": "ready!"}] * 2
    assert 2.9 <= took < 5.0, f"two concurrent orders took {took:.2f} s; expected ~3 s (6 s would mean they ran in turn)"


def test_async_endpoints_run_on_the_loop_and_def_endpoints_in_the_threadpool(server: BackgroundServer) -> None:
    on_loop = httpx.get(server.url + "/ch02/where/async").json()
    in_pool = httpx.get(server.url + "/ch02/where/sync").json()
    assert on_loop == {"kind": "async def", "thread": f"uvicorn-{server.port}"}
    assert in_pool["kind"] == "def" and in_pool["thread"] == "AnyIO worker thread"
    assert httpx.get(server.url + "/ch02/threadpool").json()["total_tokens"] == 40


def test_time_sleep_in_async_def_serialises_requests(server: BackgroundServer) -> None:
    started = time.perf_counter()
    replies = asyncio.run(_burst(server, "/ch02/sleep/blocking", 3, seconds=0.3))
    took = time.perf_counter() - started
    assert max(r.json()["in_flight"] for r in replies) == 1
    assert took >= 0.85, "three blocking 0.3 s requests cannot finish faster than one after another"


@pytest.mark.parametrize("how", ["await", "to-thread", "def"])
def test_each_fix_lets_requests_overlap(server: BackgroundServer, how: str) -> None:
    replies = asyncio.run(_burst(server, f"/ch02/sleep/{how}", 4, seconds=0.4))
    assert all(r.status_code == 200 for r in replies)
    assert {r.json()["how"] for r in replies} == {how}
    assert max(r.json()["in_flight"] for r in replies) == 4


def test_bad_sleep_duration_is_a_422_with_a_message(server: BackgroundServer) -> None:
    reply = httpx.get(server.url + "/ch02/sleep/await", params={"seconds": 9})
    assert reply.status_code == 422
    assert "less than or equal to 5" in reply.text


def test_ping_and_upstream(server: BackgroundServer) -> None:
    assert httpx.get(server.url + "/ch02/ping").json() == {"pong": True}
    quote = httpx.get(server.url + "/ch02/upstream/prices", params={"delay": 0}).json()
    assert quote == {"service": "prices", "price": 16, "delay": 0.0}
    assert httpx.get(server.url + "/ch02/upstream/prices", params={"delay": -1}).status_code == 422
