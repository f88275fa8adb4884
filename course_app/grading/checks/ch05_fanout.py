"""Check for ch05_fanout: one stalled reader must not hold up a broadcast.

The stalled reader is real: a client socket with a tiny receive buffer whose
websockets connection stops reading (max_queue=1, never calls recv). Once the
kernel buffers between it and the server are full (a few MB on Linux, see the
notebook), every send to it waits. The check then measures what that does to
eight healthy readers, and whether the slow one is closed with TOO_SLOW.
"""

from __future__ import annotations

import asyncio
import socket
from types import ModuleType

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import T
from course_app.grading.kit import http_client, learner_app, serve
from course_app.realtime.codes import CloseCode


READERS = 8
MESSAGES = 150
SIZE = 32 * 1024  # 150 x 32 KiB = 4.8 MB: more than the kernel buffers of a stalled reader hold
POST_LIMIT = 3.0  # one publish may take SEND_TIMEOUT (0.5 s) plus a wide margin
ALL_LIMIT = 10.0  # all publishes, normally about 2 s


async def stalled_reader(url: str) -> ClientConnection:
    """A client that stops reading: 4 KiB receive buffer, and its library keeps one message at most."""
    host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: it sets the TCP window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return await connect(url, sock=sock, max_queue=1, compression=None)


async def _reader(ws: ClientConnection, seen: list[int]) -> None:
    try:
        async for message in ws:
            seen.append(int(message[:5]))
    except ConnectionClosed:
        pass


async def _subscribers(client: httpx.AsyncClient) -> int:
    return int((await client.post("/publish", content=b"00000 ping")).json()["subscribers"])


async def check(learner: ModuleType, t: T) -> None:
    async with serve(learner_app(learner)) as server, http_client(server, timeout=POST_LIMIT) as client:
        url = server.ws_url + "/feed"
        readers = [await connect(url, compression=None) for _ in range(READERS)]
        seen: list[list[int]] = [[] for _ in readers]
        tasks = [asyncio.create_task(_reader(ws, s)) for ws, s in zip(readers, seen)]
        try:
            with t.step("every subscriber gets every message, in order"):
                for i in range(1, 11):
                    await client.post("/publish", content=f"{i:05d} hello".encode())
                await _wait(lambda: all(len(s) >= 10 for s in seen), 3.0)
                t.expect(all(s[:10] == list(range(1, 11)) for s in seen), expected="messages 1..10 in order, for each reader",
                         got=[s[:10] for s in seen if s[:10] != list(range(1, 11))][:1])
                for s in seen:
                    s.clear()

            slow = await stalled_reader(url)
            with t.step("one stalled reader does not hold up the others"):
                body = b"x" * SIZE
                started = t.clock()
                worst = 0.0
                for i in range(1, MESSAGES + 1):
                    sent = t.clock()
                    try:
                        await client.post("/publish", content=f"{i:05d}".encode() + body)
                    except httpx.TimeoutException:
                        t.fail(f"POST /publish number {i} did not answer within {POST_LIMIT:g} s: "
                               "the broadcast is waiting for the reader that stopped reading.")
                    worst = max(worst, t.clock() - sent)
                    if t.clock() - started > ALL_LIMIT:
                        t.fail(f"After {ALL_LIMIT:g} s only {i} of {MESSAGES} messages were published "
                               f"(slowest publish: {worst:.2f} s). Every publish still waits for the stalled reader.")
                await _wait(lambda: all(len(s) >= MESSAGES for s in seen), 3.0)
                counts = sorted({len(s) for s in seen})
                t.expect(counts == [MESSAGES], expected=f"each healthy reader got all {MESSAGES} messages", got=counts)

            with t.step("the stalled reader is closed with CloseCode.TOO_SLOW (4004)"):
                left = await _subscribers(client)
                t.expect(left == READERS, expected=f"{READERS} subscribers left after dropping the slow one", got=left,
                         message="The slow client is still subscribed: everything sent to it piles up in memory.")
                got: list[int] = []
                reader = asyncio.create_task(_reader(slow, got))  # it reads again: the backlog, then the close
                done, _ = await asyncio.wait({reader}, timeout=5.0)
                if not done:
                    reader.cancel()
                    t.fail(f"The slow client read {len(got)} messages and then waited 5 s without a close frame. "
                           "Close it with CloseCode.TOO_SLOW when you drop it.")
                code = slow.close_code
                t.expect(code == CloseCode.TOO_SLOW, expected="close code 4004 (CloseCode.TOO_SLOW)", got=f"close code {code}")
                t.expect(len(got) < MESSAGES, expected=f"fewer than {MESSAGES} messages: it was dropped",
                         got=f"{len(got)} messages")
        finally:
            for task in tasks:
                task.cancel()
            for ws in readers:
                ws.transport.abort()


async def _wait(condition: object, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)
