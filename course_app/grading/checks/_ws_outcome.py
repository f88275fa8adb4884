"""How a WebSocket attempt ended, for the chapter 07 checks and the attack corpus.

    outcome = await attempt(url, first=json.dumps({"token": "garbage"}))
    outcome.code, outcome.reason, outcome.frames, outcome.http_status

One shape for every ending: refused at the handshake (an HTTP status), closed
with a code and a reason, dropped without a close frame (1006), or still open
when we stopped waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

__all__ = ["Outcome", "attempt", "ending"]


@dataclass
class Outcome:
    http_status: int | None = None  # set when the handshake was refused
    code: int | None = None  # close code from the server's close frame; 1006 when there was none
    reason: str = ""
    frames: list[str | bytes] = field(default_factory=list)  # data frames received before the end
    still_open: bool = False

    def describe(self) -> str:
        if self.http_status is not None:
            return f"the handshake was refused with HTTP {self.http_status}"
        if self.still_open:
            if not self.frames:
                return "the connection was still open, and nothing was received"
            return f"the connection was still open ({len(self.frames)} frame(s) received: {_preview(self.frames)})"
        said = f", after {len(self.frames)} frame(s): {_preview(self.frames)}" if self.frames else ""
        if self.code == 1006:
            return "the connection dropped without a close frame (1006): did the handler crash?" + said
        return f"closed with code {self.code}, reason {self.reason!r}{said}"


def _preview(frames: Sequence[str | bytes]) -> str:
    return ", ".join(repr(f)[:70] for f in frames[:3]) + (" ..." if len(frames) > 3 else "")


async def ending(ws: ClientConnection, wait: float) -> Outcome:
    """Read until the server closes, or ``wait`` seconds pass."""
    outcome = Outcome()
    try:
        async with asyncio.timeout(wait):
            while True:
                outcome.frames.append(await ws.recv())
    except TimeoutError:
        outcome.still_open = True
        return outcome
    except ConnectionClosed as closed:
        if closed.rcvd is None:
            outcome.code = 1006
        else:
            outcome.code, outcome.reason = closed.rcvd.code, closed.rcvd.reason
    return outcome


async def attempt(
    url: str,
    *,
    first: str | bytes | None = None,
    then: Sequence[str | bytes] = (),
    wait: float = 3.0,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
    subprotocols: Sequence[str] | None = None,
) -> Outcome:
    """Connect, send ``first`` and ``then`` (if given), and report how it ended."""
    try:
        async with connect(
            url,
            origin=origin,  # type: ignore[arg-type]
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            open_timeout=wait,
            max_size=None,
            ping_interval=None,
        ) as ws:
            try:
                for frame in ([first] if first is not None else []) + list(then):
                    await ws.send(frame)
            except ConnectionClosed:
                pass  # closed while we were still sending: ending() reports how
            return await ending(ws, wait)
    except InvalidStatus as refused:
        return Outcome(http_status=refused.response.status_code)
    except (InvalidHandshake, OSError, TimeoutError) as err:
        return Outcome(code=1006, reason=f"handshake failed: {type(err).__name__}")
