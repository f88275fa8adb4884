"""Notice when learner code holds an event loop, and say where.

A watchdog thread posts a tiny callback to every watched loop (the check's own
loop, and the loop of each app the check serves) and samples the loop thread's
stack while it waits. When the callback runs late by more than ``BLOCK`` seconds
and the learner's file was on the loop thread's stack for most of that time,
that is a block: learner code held the loop (``time.sleep``, a sync HTTP call,
a busy loop), and nobody else was served meanwhile.

A loop that is late while only the course's own code (or nothing) is on its
stack is not blamed on the learner: on a loaded machine the operating system
may simply not have run the process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

__all__ = ["Block", "LoopWatch", "current", "watch_running_loop"]

BLOCK = 0.25  # a single hold of the loop this long is reported
TOTAL = 1.0  # ... and so are shorter holds adding up to this much
_SHORT = 0.04  # holds shorter than this do not count towards TOTAL
_TICK = 0.02  # how often each loop is probed
_SAMPLE = 0.005  # how often a late loop's stack is sampled


@dataclass(frozen=True)
class Block:
    seconds: float
    where: str  # "exercises/x.py, line 9, in f: time.sleep(1)"

    def message(self) -> str:
        return (
            f"the event loop was blocked for {self.seconds:.2f} s at {self.where}\n"
            "While it is blocked, nothing else runs: no other request, no timer, no heartbeat. "
            "Await instead (asyncio.sleep, an async client), or move blocking work to a thread "
            "(await asyncio.to_thread(...))."
        )


class _Probe:
    """One watched loop: a callback in flight and the learner lines seen while it waits."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ident: int) -> None:
        self.loop = loop
        self.ident = ident
        self.posted = 0.0
        self.done = threading.Event()
        self.samples = 0
        self.seen: Counter[str] = Counter()

    def post(self) -> bool:
        self.done.clear()
        self.samples = 0
        self.seen.clear()
        self.posted = time.perf_counter()
        try:
            self.loop.call_soon_threadsafe(self.done.set)
        except RuntimeError:  # the loop is closed: stop watching it
            return False
        return True


class LoopWatch:
    """Watch loops for learner code that holds them; ``blocks`` lists what was found."""

    def __init__(self, learner_file: Path) -> None:
        self._target = str(learner_file.resolve())
        self._probes: dict[int, _Probe] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.blocks: list[Block] = []
        self.short_total = 0.0
        self._short_where: Counter[str] = Counter()
        self._lines: list[str] | None = None

    # -- what to watch -------------------------------------------------------
    def add_loop(self, loop: asyncio.AbstractEventLoop, ident: int | None = None) -> None:
        with self._lock:
            self._probes[id(loop)] = _Probe(loop, ident if ident is not None else threading.get_ident())
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loop-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    # -- what was found ------------------------------------------------------
    def ongoing(self) -> Block | None:
        """A block still in progress (the loop has not come back yet), if it is the learner's."""
        now = time.perf_counter()
        with self._lock:
            probes = list(self._probes.values())
        for probe in probes:
            late = now - probe.posted
            if not probe.done.is_set() and late > BLOCK:
                where = _blamed(probe)
                if where:
                    return Block(late, where)
        return None

    def too_much_short(self) -> Block | None:
        """Many short holds that add up (e.g. ``time.sleep(0.05)`` in a polling loop)."""
        if self.short_total < TOTAL or not self._short_where:
            return None
        where = self._short_where.most_common(1)[0][0]
        return Block(self.short_total, where + " (many short holds, added up)")

    # -- the watchdog --------------------------------------------------------
    def _run(self) -> None:
        current = sys._current_frames
        while not self._stop.is_set():
            with self._lock:
                probes = list(self._probes.values())
            for probe in probes:
                if not probe.post():
                    with self._lock:
                        self._probes.pop(id(probe.loop), None)
            # Wait for every probe, sampling the stacks of the loops that are late.
            deadline = time.perf_counter() + _TICK
            pending = list(probes)
            while pending and not self._stop.is_set():
                frames = current()
                for probe in pending:
                    frame = frames.get(probe.ident)
                    probe.samples += 1
                    where = self._learner_line(frame)
                    if where:
                        probe.seen[where] += 1
                # A loop that closed with our callback still queued will never run it.
                pending = [p for p in pending if not p.done.is_set() and not p.loop.is_closed()]
                time.sleep(_SAMPLE)
            for probe in probes:
                if probe.done.is_set():
                    self._judge(probe)
            remaining = deadline - time.perf_counter()
            if remaining > 0:
                self._stop.wait(remaining)

    def _judge(self, probe: _Probe) -> None:
        late = time.perf_counter() - probe.posted
        where = _blamed(probe)
        if where is None or late < _SHORT:
            return
        if late >= BLOCK:
            self.blocks.append(Block(late, where))
        else:
            self.short_total += late
            self._short_where[where] += 1

    def _learner_line(self, frame: FrameType | None) -> str | None:
        """The innermost frame of the learner's file on this stack, as ``file, line N, in f: code``."""
        while frame is not None:
            if frame.f_code.co_filename == self._target:
                from course_app.grading.tracing import relative

                lineno = frame.f_lineno
                if self._lines is None:
                    try:
                        self._lines = Path(self._target).read_text().splitlines()
                    except OSError:
                        self._lines = []
                text = self._lines[lineno - 1].strip() if 0 < lineno <= len(self._lines) else ""
                return f"{relative(self._target)}, line {lineno}, in {frame.f_code.co_name}: {text}"
            frame = frame.f_back
        return None


def _blamed(probe: _Probe) -> str | None:
    """The learner line seen in most samples, when the learner's file was there most of the time."""
    if not probe.seen or probe.samples < 3:
        return None
    where = probe.seen.most_common(1)[0][0]
    return where if sum(probe.seen.values()) >= 0.6 * probe.samples else None


current: LoopWatch | None = None
"""The watch of the check running in this process (the worker sets it)."""


def watch_running_loop() -> None:
    """Called from inside a loop (a served app's lifespan): watch this loop for the running check."""
    if current is not None:
        current.add_loop(asyncio.get_running_loop(), threading.get_ident())
