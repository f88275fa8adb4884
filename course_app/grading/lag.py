"""Notice when learner code holds an event loop, and say where.

A watchdog thread posts a tiny callback to every watched loop (the check's own
loop, and the loop of each app the check serves) and samples the loop thread's
stack while it waits. When the callback runs late by more than ``BLOCK`` seconds
and the learner's file was on the loop thread's stack for most of that time,
that is a block: learner code held the loop (``time.sleep``, a sync HTTP call,
a busy loop), and nobody else was served meanwhile.

A loop that is late while only the course's own code (or nothing) is on its
stack is not blamed on the learner: on a loaded machine the operating system
may simply not have run the process. Nor is a loop whose thread was on the CPU
for most of the time (learner code that is busy, say a long fan-out loop, is
slow, not blocked); the loop thread's own CPU clock tells the two apart.
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

from course_app.grading.tracing import relative

__all__ = ["Block", "LoopWatch", "Mark", "current", "watch_running_loop"]

BLOCK = 0.25  # a single hold of the loop this long is reported
HELD = 0.2  # ... and so is learner code seen running on a loop this long in all,
HELD_SHARE = 0.3  # ... when that is this share of the time or more
_SAMPLE = 0.005  # how often the loop threads' stacks are sampled (and a probe re-posted once it ran)
_GAP = 0.05  # a longer pause of the watchdog itself (a loaded machine) counts as this much


@dataclass(frozen=True)
class Mark:
    at: float
    held: float
    where: Counter[str]


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
        try:
            self._clock: int | None = time.pthread_getcpuclockid(ident)
        except (OSError, AttributeError):  # not Linux/POSIX: judge by the stack alone
            self._clock = None
        self.cpu_at_post: float | None = None
        self.cpu_at_sample: float | None = None
        self.posted = 0.0
        self.ran = 0.0
        self.done = threading.Event()
        self.samples = 0
        self.seen: Counter[str] = Counter()

    def _ran(self) -> None:
        self.ran = time.perf_counter()
        self.done.set()

    def cpu(self) -> float | None:
        """CPU time the loop's thread has used so far (None when it cannot be read)."""
        if self._clock is None:
            return None
        try:
            return time.clock_gettime(self._clock)
        except OSError:  # the thread has ended
            return None

    def waiting(self, since: float | None, wall: float) -> bool:
        """True unless the thread was on the CPU for a tenth of ``wall`` or more since CPU time ``since``.

        A blocking call (time.sleep, a sync HTTP call) waits off the CPU and uses next to none
        of it; code that is merely busy (a long fan-out loop) uses it whenever it is scheduled,
        which on a loaded 2-core machine may be a third of the time or less, hence a tenth.
        """
        now = self.cpu()
        return since is None or now is None or now - since < 0.1 * wall

    def post(self) -> bool:
        self.cpu_at_post = self.cpu()
        self.done.clear()
        self.samples = 0
        self.seen.clear()
        self.posted = time.perf_counter()
        try:
            self.loop.call_soon_threadsafe(self._ran)
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
        self.held = 0.0
        self._held_where: Counter[str] = Counter()
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
            if not probe.done.is_set() and late > BLOCK and probe.waiting(probe.cpu_at_post, late):
                where = _blamed(probe)
                if where:
                    return Block(late, where)
        return None

    def mark(self) -> "Mark":
        """Where the count of learner time on the loops stands now (see ``held_since``)."""
        return Mark(time.perf_counter(), self.held, Counter(self._held_where))

    def held_since(self, mark: "Mark") -> Block | None:
        """Learner code that ran on a loop for much of the time since ``mark``, in many short holds
        (e.g. ``time.sleep(0.01)`` in a polling loop): each hold is short, together they starve the loop."""
        held = self.held - mark.held
        elapsed = time.perf_counter() - mark.at
        if held < HELD or held < HELD_SHARE * elapsed:
            return None
        where = (self._held_where - mark.where).most_common(1)
        if not where:
            return None
        return Block(held, where[0][0] + f" (it held the loop for {held / elapsed:.0%} of {elapsed:.2f} s)")

    # -- the watchdog --------------------------------------------------------
    def _run(self) -> None:
        current = sys._current_frames
        last = time.perf_counter()
        while not self._stop.is_set():
            now = time.perf_counter()
            # The time since the last sample, not the nominal interval: on a loaded machine this
            # thread wakes late, and a hold it sampled once may have lasted several intervals.
            gap, last = min(now - last, _GAP), now
            with self._lock:
                probes = list(self._probes.values())
            frames = current()
            for probe in probes:
                # A probe is posted again as soon as it ran, so its lateness is the length of a hold.
                if probe.posted == 0.0 or probe.done.is_set():
                    if probe.posted:
                        self._judge(probe)
                    if not probe.post():
                        with self._lock:
                            self._probes.pop(id(probe.loop), None)
                        continue
                elif probe.loop.is_closed():  # closed with our callback still queued
                    with self._lock:
                        self._probes.pop(id(probe.loop), None)
                    continue
                where = self._learner_line(frames.get(probe.ident))
                probe.samples += 1
                cpu_before, probe.cpu_at_sample = probe.cpu_at_sample, probe.cpu()
                if where:
                    # Learner code is on the loop's stack right now. A coroutine that only awaits
                    # is almost never caught here; one that blocks is caught every time. It counts
                    # as held only while the thread waits off the CPU (sleeping, blocking I/O).
                    probe.seen[where] += 1
                    if probe.waiting(cpu_before, gap):
                        self.held += gap
                        self._held_where[where] += 1
            del frames
            self._stop.wait(_SAMPLE)

    def _judge(self, probe: _Probe) -> None:
        """A probe came back: if it was late because learner code held the loop, that is a block."""
        late = probe.ran - probe.posted
        if late < BLOCK or not probe.waiting(probe.cpu_at_post, late):
            return
        where = _blamed(probe)
        if where is not None:
            self.blocks.append(Block(late, where))

    def _learner_line(self, frame: FrameType | None) -> str | None:
        """The innermost frame of the learner's file on this stack, as ``file, line N, in f: code``."""
        while frame is not None:
            if frame.f_code.co_filename == self._target:
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
