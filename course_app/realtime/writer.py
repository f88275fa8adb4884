"""The per-member writer: one long-lived task per WebSocket sends what its subscriber receives.

    async with broadcast.subscribe("chat") as subscriber:
        await first_completed(send_events(websocket, subscriber), read_frames(websocket))

A broadcast only queues (it never awaits a client); each member's writer
drains its own queue. No task, timer or extra future is made per member per
message, so a thousand members do not flood the event loop or the garbage
collector. A member that cannot keep up is closed with
``CloseCode.TOO_SLOW`` and a reason: when its queue overflows, or when one
send waits longer than ``send_timeout``. The close itself is bounded: to a
peer that stopped reading, the close frame waits behind the unread data, so
after ``close_timeout`` the writer gives up and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from course_app.realtime.backends.base import Event
from course_app.realtime.codes import CloseCode
from course_app.realtime.frames import close, send_text
from course_app.realtime.subscriber import Subscriber, SubscriberTooSlow

__all__ = ["GONE", "close_within", "send_events"]

# What a send to a socket that is gone raises: Starlette turns uvicorn's ClientDisconnected
# into WebSocketDisconnect; a send after our own close raises WebSocketDisconnected.
GONE = (WebSocketDisconnect, WebSocketDisconnected, OSError)

Render = Callable[[Event], str]


async def send_events(
    websocket: WebSocket,
    subscriber: Subscriber,
    *,
    render: Render | None = None,
    send_timeout: float = 1.0,
    close_timeout: float = 1.0,
) -> None:
    """Send each event (``event.text``, or ``render(event)``) until the peer leaves or is too slow.

    The send deadline costs no timer per message: one watchdog callback per
    writer looks every ``send_timeout / 2`` seconds at the send in progress,
    so a stuck send is noticed between 1 and 1.5 times ``send_timeout``.
    """
    loop = asyncio.get_running_loop()
    writer = asyncio.current_task()
    assert writer is not None
    sending_since: float | None = None  # when the send in progress started
    stuck = False
    watchdog: asyncio.TimerHandle

    def watch() -> None:
        nonlocal stuck, watchdog
        if sending_since is not None and loop.time() - sending_since >= send_timeout:
            stuck = True
            writer.cancel()
            return
        watchdog = loop.call_later(send_timeout / 2, watch)

    watchdog = loop.call_later(send_timeout / 2, watch)
    try:
        while True:
            event = await subscriber.get()
            text = event.text if render is None else render(event)
            sending_since = loop.time()
            if not await send_text(websocket, text):
                return  # the peer left, or the socket was closed under us (by uvicorn or our reader)
            sending_since = None
    except asyncio.CancelledError:
        if not stuck or writer.uncancel() > 0:
            raise  # cancelled from outside (the reader ended, or shutdown)
        reason = f"too slow: one message waited over {send_timeout:g} s to be sent; read faster or reconnect"
        await close_within(websocket, CloseCode.TOO_SLOW, reason, close_timeout)
    except SubscriberTooSlow as slow:
        await close_within(websocket, slow.code, slow.reason, close_timeout)
    except GONE:
        return  # the peer went away: a normal end
    finally:
        watchdog.cancel()


async def close_within(websocket: WebSocket, code: int, reason: str, timeout: float = 1.0) -> None:
    """Close with ``code`` and ``reason``, waiting at most ``timeout`` (a stalled peer never lets it finish)."""
    with contextlib.suppress(*GONE):  # TimeoutError is an OSError: the peer never read the close frame
        async with asyncio.timeout(timeout):
            await close(websocket, code, reason)
