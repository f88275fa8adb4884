"""Check for ch04_echo: an echo loop that survives clients leaving and records their close codes.

The learner's app runs on a real uvicorn server; real ``websockets`` clients talk
to it, then leave: politely with codes drawn at random for this run, several at
the same moment, and abruptly with a TCP reset. The messages change on every run
too (empty, whitespace, non-ASCII, repeated, large). A handler that crashes when a
client leaves is caught by the checker itself, from uvicorn's log.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable
from types import ModuleType

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import learner_app, serve
from course_app.realtime.codes import CloseCode

# What a reset client is reported as: uvicorn's handler sees 1005 (RFC 6455 would say 1006).
_NO_CODE = {int(CloseCode.NO_STATUS), int(CloseCode.ABNORMAL)}


def _messages(rng: random.Random) -> list[str]:
    """Texts for this run: tricky ones always, in a random order, plus random words and one repeat."""
    tricky = ["", " ", "  padded  ", "héllo wörld ✓", "ünïcödé 🙂 日本", "line one\nline two", "0", "false",
              '{"type": "not parsed"}']
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzé ") for _ in range(rng.randint(1, 30))) for _ in range(4)]
    texts = tricky + words + ["x" * rng.randint(20_000, 60_000)]
    rng.shuffle(texts)
    repeat = rng.randrange(len(texts))
    texts.insert(repeat + 1, texts[repeat])  # the same text twice in a row
    return texts


def _show(text: object) -> str:
    if isinstance(text, str) and len(text) > 40:
        return f"a text of {len(text)} characters starting {text[:12]!r}"
    return repr(text)


async def _reply(ws: ClientConnection) -> object:
    """The next frame (str for text, bytes for binary), or a sentence saying why there was none."""
    try:
        return await asyncio.wait_for(ws.recv(), 2)
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            return "the connection dropped without a close frame: did the handler return, or crash?"
        return f"the server closed the connection (code {closed.rcvd.code}) instead of answering"
    except TimeoutError:
        return "no answer within 2 s"


def _same(t: T, sent: str, got: object) -> None:
    if isinstance(got, bytes):
        t.fail(f"The echo of {_show(sent)} came back as a binary frame ({len(got)} bytes). "
               "Send text back as text: websocket.send_text(...).")
    t.expect(got == sent, expected=f"{_show(sent)} back, unchanged", got=_show(got))


def reset(ws: ClientConnection) -> None:
    """Drop the connection with a TCP RST: no close frame (SO_LINGER 0), like a phone losing its network."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def _wait_for(condition: Callable[[], object], seconds: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


async def check(learner: ModuleType, t: T) -> None:
    codes = getattr(learner, "close_codes", None)
    if not isinstance(codes, list):
        raise CheckFailed("Your file has no `close_codes` list. Keep the line `close_codes: list[int] = []`.")
    with seeded(t) as rng:
        await _check(learner, t, codes, rng)


async def _check(learner: ModuleType, t: T, codes: list[object], rng: random.Random) -> None:
    texts = _messages(rng)
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/echo"
        async with connect(url, max_size=None) as ws:
            with t.step("echoes one message, as a text frame"):
                first = "hello " + rng.choice(["world", "there", "echo", "again"])
                await ws.send(first)
                _same(t, first, await _reply(ws))
            with t.step("echoes every message, unchanged and in order, on the same connection"):
                for text in texts:  # one at a time: each reply before the next message
                    await ws.send(text)
                    _same(t, text, await _reply(ws))
                burst = rng.sample(texts, 6)  # several sent before any reply is read
                for text in burst:
                    await ws.send(text)
                for text in burst:
                    _same(t, text, await _reply(ws))

        with t.step("several clients at once each get their own echoes, and only those"):
            clients = [await connect(url) for _ in range(rng.randint(3, 5))]
            try:
                mine = [[f"client {n}: {rng.choice(texts[:5])} #{k}" for k in range(3)] for n in range(len(clients))]
                for k in range(3):  # interleaved: a, b, c, a, b, c, ...
                    for ws, texts_of in zip(clients, mine):
                        await ws.send(texts_of[k])
                for ws, texts_of in zip(clients, mine):
                    for text in texts_of:
                        _same(t, text, await _reply(ws))
            finally:
                await asyncio.gather(*(ws.close() for ws in clients))
        await _wait_for(lambda: len(codes) >= len(clients), 2.0)

        with t.step("a client closing normally (1000) is recorded in close_codes"):
            codes.clear()
            async with connect(url) as ws:
                await ws.send("bye")
                await _reply(ws)
            await _wait_for(lambda: codes)
            t.expect(len(codes) == 1, expected="close_codes == [1000]", got=codes)
            t.expect(type(codes[0]) is int, expected="close codes stored as int, e.g. 1000",
                     got=f"{codes[0]!r} of type {type(codes[0]).__name__}")
            t.expect(codes == [CloseCode.NORMAL], expected="close_codes == [1000]", got=codes)

        polite = [int(CloseCode.GOING_AWAY), rng.randint(4000, 4999), rng.randint(3000, 3999), int(CloseCode.NORMAL)]
        rng.shuffle(polite)
        with t.step("clients leaving one by one with codes 1001, 3000-3999 and 4000-4999 are each recorded, in order"):
            codes.clear()
            for n, code in enumerate(polite, 1):
                async with connect(url) as ws:
                    await ws.send(f"leaving with {code}")
                    await _reply(ws)
                    await ws.close(code, "done for today")
                await _wait_for(lambda: len(codes) >= n, 1.5)  # noqa: B023 - used at once
            t.expect(codes == polite, expected=f"close_codes == {polite}", got=codes)

        together = [rng.randint(4000, 4999) for _ in range(rng.randint(4, 7))] + [int(CloseCode.GOING_AWAY)] * 2
        with t.step("several clients leaving at the same moment are all recorded"):
            codes.clear()
            clients = [await connect(url) for _ in together]
            for ws in clients:
                await ws.send("here")
                await _reply(ws)
            await asyncio.gather(*(ws.close(code) for ws, code in zip(clients, together)))
            await _wait_for(lambda: len(codes) >= len(together))
            t.expect(Counter(codes) == Counter(together), expected=f"close_codes holds {sorted(together)} (any order)",
                     got=sorted(codes, key=str))

        with t.step("a client that vanishes (TCP reset, no close frame) ends the handler quietly"):
            codes.clear()
            dropped = rng.randint(2, 4)
            for _ in range(dropped):
                ws = await connect(url)
                await ws.send("about to vanish")
                await _reply(ws)
                reset(ws)
            await _wait_for(lambda: len(codes) >= dropped)
            t.expect(len(codes) == dropped and set(codes) <= _NO_CODE,
                     expected=f"{dropped} entries, each 1005 or 1006 (no close code was sent)", got=codes)

        with t.step("the server still echoes for a new client afterwards"):
            async with connect(url) as ws:
                text = rng.choice(texts[:6]) + " again"
                await ws.send(text)
                _same(t, text, await _reply(ws))
