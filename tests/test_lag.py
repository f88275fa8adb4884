"""The loop watchdog blames learner code that holds an event loop, and only that."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from types import ModuleType

from course_app.grading.lag import LoopWatch

LEARNER = '''
import asyncio, time

async def blocks():
    time.sleep(0.6)

async def polls():
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        time.sleep(0.01)
        await asyncio.sleep(0)

async def awaits():
    await asyncio.sleep(0.6)

async def computes():
    end = time.monotonic() + 0.6
    while time.monotonic() < end:
        sum(range(1000))
'''


def _learner(tmp_path: Path) -> tuple[Path, ModuleType]:
    path = tmp_path / "learner.py"
    path.write_text(LEARNER)
    spec = importlib.util.spec_from_file_location("learner_lag", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def _watch(path: Path, coro_name: str, module: ModuleType) -> tuple[LoopWatch, str]:
    watch = LoopWatch(path)

    async def main() -> str:
        watch.add_loop(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        mark = watch.mark()
        await getattr(module, coro_name)()
        await asyncio.sleep(0.1)  # let the watchdog see the loop come back
        held = watch.held_since(mark)
        long = max(watch.blocks, key=lambda b: b.seconds, default=None)
        return (long or held).message() if (long or held) else ""

    try:
        return watch, asyncio.run(main())
    finally:
        watch.stop()


def test_a_long_hold_is_reported_with_its_line(tmp_path: Path) -> None:
    path, module = _learner(tmp_path)
    _, message = _watch(path, "blocks", module)
    assert "the event loop was blocked for" in message
    assert "line 5, in blocks: time.sleep(0.6)" in message


def test_many_short_holds_add_up(tmp_path: Path) -> None:
    path, module = _learner(tmp_path)
    _, message = _watch(path, "polls", module)
    assert "it held the loop for" in message
    assert "in polls: time.sleep(0.01)" in message


def test_awaiting_is_not_blocking(tmp_path: Path) -> None:
    path, module = _learner(tmp_path)
    watch, message = _watch(path, "awaits", module)
    assert message == ""
    assert watch.held < 0.05


def test_a_late_loop_without_learner_code_is_not_blamed(tmp_path: Path) -> None:
    path, _ = _learner(tmp_path)
    watch = LoopWatch(path)

    async def main() -> None:
        watch.add_loop(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        time.sleep(0.5)  # the course's own code holds the loop: not the learner's doing
        await asyncio.sleep(0.1)

    try:
        asyncio.run(main())
    finally:
        watch.stop()
    assert watch.blocks == []


def test_busy_code_is_slow_not_blocked(tmp_path: Path) -> None:
    """On the CPU the whole time (a long loop of work): the watchdog leaves that to the time limit."""
    path, module = _learner(tmp_path)
    _, message = _watch(path, "computes", module)
    assert message == ""
