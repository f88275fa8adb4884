"""Run the check worker so that nothing it starts outlives the check.

    done = run_contained(cmd, env=env, timeout=15)
    done.returncode, done.output, done.timed_out

The worker gets no stdin and its own pipe for stdout and stderr. We read that
pipe while it runs (keeping only the tail) and stop as soon as the worker
itself exits, so a child that inherited the pipe cannot keep us waiting. Then
the worker's whole process group is killed, and so is every descendant we saw
while it ran (children in a new session leave the group, not the tree).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]  # no stubs in the pinned environment

__all__ = ["Finished", "run_contained"]

TAIL_BYTES = 16 * 1024
_POLL = 0.1  # seconds between looks at the worker's descendants
_DRAIN = 0.5  # seconds to read what is left in the pipe once everything is dead


@dataclass
class Finished:
    returncode: int
    output: str  # the tail of stdout and stderr
    timed_out: bool


def run_contained(cmd: list[str], *, env: dict[str, str], timeout: float) -> Finished:
    """Run ``cmd`` in its own session for at most ``timeout`` seconds; then end it and all it started."""
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    assert proc.stdout is not None
    family = _Family(proc.pid)
    tail = _Tail()
    timed_out = False
    with selectors.DefaultSelector() as selector, _exit_fd(proc.pid) as exit_fd:
        selector.register(proc.stdout, selectors.EVENT_READ, "out")
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ, "exit")
        deadline = time.monotonic() + timeout
        try:
            while not _has_exited(proc):
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                for key, _ in selector.select(min(_POLL, left)):
                    if key.data == "out" and not tail.read_from(proc.stdout.fileno()):
                        selector.unregister(proc.stdout)  # EOF: the worker closed its end
                family.look()
        finally:
            family.end()
            proc.wait()
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(proc.stdout)
            _drain(proc.stdout.fileno(), tail)
            proc.stdout.close()
    return Finished(proc.returncode, tail.text(), timed_out)


class _Tail:
    def __init__(self) -> None:
        self.data = bytearray()

    def read_from(self, fd: int) -> bool:
        """Read what is there; False at end of file."""
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        self.data += chunk
        del self.data[:-TAIL_BYTES]
        return bool(chunk)

    def text(self) -> str:
        return self.data.decode(errors="replace")


def _drain(fd: int, tail: _Tail) -> None:
    """Read what is left without ever blocking for long: a process we could not kill may hold the pipe."""
    os.set_blocking(fd, False)
    deadline = time.monotonic() + _DRAIN
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()) and not tail.read_from(fd):
                return


class _Family:
    """The worker and every descendant seen so far (psutil remembers each one's start time,
    so a recycled pid is never killed by mistake)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[int, psutil.Process] = {}
        self.last_look = 0.0
        try:
            self.root: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self.root = None

    def look(self, *, now: bool = False) -> None:
        if self.root is None or (not now and time.monotonic() - self.last_look < _POLL):
            return
        self.last_look = time.monotonic()
        with contextlib.suppress(psutil.Error):
            for child in self.root.children(recursive=True):
                self.seen.setdefault(child.pid, child)

    def end(self) -> None:
        """Freeze the group, take a last look, then SIGKILL the group and every descendant seen."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGSTOP)  # nothing in the group starts anything new from here
        self.look(now=True)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for child in self.seen.values():
            with contextlib.suppress(psutil.Error):
                child.kill()
        if self.root is not None:
            with contextlib.suppress(psutil.Error):
                self.root.kill()
        _wait_dead(list(self.seen.values()), timeout=2.0)


def _wait_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until none of ``procs`` runs any more (a zombie waiting for its reaper counts as dead)."""
    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        procs = [p for p in procs if _running(p)]
        if procs:
            time.sleep(0.02)


def _running(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Has the worker ended? Without reaping it where we can, so its process group id stays reserved."""
    if hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True
    return proc.poll() is not None


@contextlib.contextmanager
def _exit_fd(pid: int) -> Iterator[int | None]:
    """Linux: a pidfd, readable once the worker exits, so we notice at once (elsewhere we poll)."""
    fd = None
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            fd = os.pidfd_open(pid)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)
