"""Check for ch04_echo: an echo loop that survives clients leaving and records their close codes.

The learner's app runs on a real uvicorn server; real ``websockets`` clients talk
to it, then leave with different close codes. Crashes are read from uvicorn's
own error log, exactly where a developer would see them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import ModuleType

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from course_app.grading.checker import CheckFailed, T
from course_app.grading.kit import learner_app, serve
from course_app.logcapture import capture_logs
from course_app.realtime.codes import CloseCode


async def _echo_of(ws: ClientConnection, text: str) -> object:
    try:
        await ws.send(text)
        return await asyncio.wait_for(ws.recv(), 2)
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            return "the connection dropped without a close frame (1006): did the handler return, or crash?"
        return f"the server closed the connection (code {closed.rcvd.code}) instead of answering"
    except TimeoutError:
        return "no answer within 2 s"


def _crash_report(errors: list[str]) -> str:
    kinds = "; ".join(dict.fromkeys(errors))
    return f"uvicorn logged 'Exception in ASGI application' {len(errors)} time(s): {kinds}"


async def _wait_for(condition: Callable[[], object], seconds: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


async def check(learner: ModuleType, t: T) -> None:
    codes = getattr(learner, "close_codes", None)
    if not isinstance(codes, list):
        raise CheckFailed("Your file has no `close_codes` list. Keep the line `close_codes: list[int] = []`.")
    async with serve(learner_app(learner)) as server:
        url = server.ws_url + "/echo"
        with capture_logs("uvicorn.error", logging.ERROR) as logs:
            async with connect(url) as ws:
                with t.step("echoes one message"):
                    got = await _echo_of(ws, "hello")
                    t.expect(got == "hello", expected="'hello' back", got=got)
                with t.step("echoes every message, in order, on the same connection"):
                    for text in ["second", "héllo wörld ✓", "", "x" * 1000]:
                        got = await _echo_of(ws, text)
                        t.expect(got == text, expected=f"{text[:20]!r} back", got=got)
            with t.step("two clients at once each get their own echo"):
                async with connect(url) as a, connect(url) as b:
                    await a.send("from a")
                    await b.send("from b")
                    got = (await asyncio.wait_for(a.recv(), 2), await asyncio.wait_for(b.recv(), 2))
                    t.expect(got == ("from a", "from b"), expected='("from a", "from b")', got=got)
            codes.clear()
            with t.step("a client closing normally (1000) ends the handler without a crash"):
                async with connect(url) as ws:
                    await _echo_of(ws, "bye")
                await _wait_for(lambda: codes or logs.crashes())
                t.expect(not logs.crashes(), expected="no error in the server log",
                         got=_crash_report(logs.crashes()))
            with t.step("the close code 1000 is recorded in close_codes"):
                t.expect(codes == [CloseCode.NORMAL], expected="close_codes == [1000]", got=codes)
            with t.step("a tab closing: going away (1001) is recorded too"):
                async with connect(url) as ws:
                    await _echo_of(ws, "closing the tab")
                    await ws.close(CloseCode.GOING_AWAY, "tab closed")
                await _wait_for(lambda: len(codes) >= 2 or logs.crashes())
                t.expect(codes == [CloseCode.NORMAL, CloseCode.GOING_AWAY], expected="close_codes == [1000, 1001]", got=codes)
            with t.step("an application code (4000) is recorded as sent"):
                async with connect(url) as ws:
                    await ws.close(4000, "done for today")
                await _wait_for(lambda: len(codes) >= 3 or logs.crashes())
                t.expect(codes[2:] == [4000], expected="close_codes ends with 4000", got=codes)
                t.expect(not logs.crashes(), expected="no error in the server log", got=_crash_report(logs.crashes()))
