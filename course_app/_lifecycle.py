"""Things the course starts and must stop: one shape for servers, clusters and Redis.

Every such object has ``start()`` and ``stop()`` and works with ``with`` and
``async with`` (the async form runs start/stop in a thread, so a notebook's
event loop never blocks). Child processes also die with their owner.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import signal
import socket
import sys
from collections.abc import Callable
from typing import Self

__all__ = ["StartStop", "die_with_parent", "free_port", "parent_death_signal"]

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
if sys.platform.startswith("linux"):  # loaded once, here: a preexec_fn must not import or load anything
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        _libc = None


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


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Run it in a child: as ``preexec_fn`` (see ``parent_death_signal``) or first thing in
    a worker process. "Parent" is the *thread* that started the child: start long-lived
    children from a thread that lives as long as they should.
    Elsewhere this does nothing, and owners rely on their ``finally`` and atexit cleanup.
    """
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def parent_death_signal(sig: int) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get ``sig`` when its parent dies."""

    def preexec() -> None:
        die_with_parent(sig)

    return preexec


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for processes that bind it themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
