"""Things the course starts and must stop: one shape for servers, clusters and Redis.

Every such object has ``start()`` and ``stop()`` and works with ``with`` and
``async with`` (the async form runs start/stop in a thread, so a notebook's
event loop never blocks). Child processes also die with their owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Self

__all__ = ["StartStop", "die_with_parent"]


class StartStop:
    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)


def die_with_parent() -> None:
    """Run in a child (``preexec_fn``): the kernel sends it SIGTERM when its parent dies (Linux only).

    Elsewhere this does nothing, and owners rely on their ``finally`` and atexit cleanup.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6").prctl(pr_set_pdeathsig, signal.SIGTERM)
