"""Reconnect a WebSocket client with exponential backoff and full jitter.

    async with aclosing(reconnecting(url, backoff=Backoff(seed=1))) as connections:
        async for ws in connections:          # a fresh, open connection each time
            try:
                async for message in ws:
                    ...
            except ConnectionClosed:
                continue                      # dropped: wait a little, then reconnect

Three rules keep a thousand clients from stampeding a server that just restarted:

* the waits grow exponentially (``base * factor ** attempt``) up to a ``cap``;
* each wait is drawn uniformly from ``[0, that ceiling]`` ("full jitter"), so
  clients that lost the server at the same instant come back spread out;
* the backoff resets only after a connection stayed up ``stable_after``
  seconds, so a server that accepts and then closes at once is not hammered.

A handshake the server rejects with a 4xx status is not retried: waiting will
not fix a wrong URL or a missing token.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidHandshake, InvalidStatus

__all__ = ["Backoff", "reconnecting"]

OnWait = Callable[[int, float, str], None]


class Backoff:
    """Delays for attempt 1, 2, 3 ...: uniform in ``[0, min(cap, base * factor ** (attempt - 1))]``."""

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        factor: float = 2.0,
        *,
        seed: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("Backoff needs base > 0, cap >= base and factor >= 1, e.g. Backoff(0.5, 30, 2).")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.rng = rng or random.Random(seed)
        self.attempt = 0

    def ceiling(self) -> float:
        """The largest wait the next attempt may draw."""
        return min(self.cap, self.base * self.factor**self.attempt)

    def next_delay(self) -> float:
        delay = self.rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0

    def __repr__(self) -> str:
        return f"Backoff(base={self.base:g}, cap={self.cap:g}, factor={self.factor:g}, attempt={self.attempt})"


def _why(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}"


async def reconnecting(
    url: str,
    *,
    backoff: Backoff | None = None,
    stable_after: float = 5.0,
    on_wait: OnWait | None = None,
    **connect_options: Any,
) -> AsyncIterator[ClientConnection]:
    """Yield an open connection to ``url``; when the caller asks for the next one, reconnect.

    ``on_wait(attempt, delay, reason)`` is called before every wait, which is
    handy for logging. Close the generator (``contextlib.aclosing``) to stop:
    the open connection is closed too.
    """
    backoff = backoff or Backoff()
    while True:
        try:
            connection = await websockets.connect(url, **connect_options)
        except InvalidStatus as err:
            if err.response.status_code < 500:
                raise ConnectionRefusedError(
                    f"{url} refused the WebSocket handshake with HTTP {err.response.status_code}; "
                    "retrying will not help: check the URL and credentials."
                ) from err
            reason = _why(err)
        except (OSError, InvalidHandshake, TimeoutError) as err:
            reason = _why(err)
        else:
            opened = time.monotonic()
            try:
                yield connection
            finally:
                await connection.close()
            if time.monotonic() - opened >= stable_after:
                backoff.reset()
            code = connection.close_code
            reason = f"closed with code {code}" + (f" ({connection.close_reason})" if connection.close_reason else "")
        delay = backoff.next_delay()
        if on_wait is not None:
            on_wait(backoff.attempt, delay, reason)
        await asyncio.sleep(delay)
