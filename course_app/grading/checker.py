"""What a check sees: ``t``, a recorder of named steps and expectations.

    async def check(learner, t):
        with t.step("returns one price per product, in order"):
            got = await t.within(5, learner.fetch_all(["a", "b"]), "fetch_all(['a', 'b'])")
            t.expect(got == [1, 2], expected="[price of a, price of b]", got=got)

Steps run in order; the first one that fails ends the check, so the learner
has one thing to fix at a time. Messages say what was expected and what
happened, never the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn, TypeVar

from course_app.grading.lag import LoopWatch
from course_app.grading.results import Step
from course_app.grading.tracing import describe_exception, raised_in_learner_code, raised_in_learner_text
from course_app.logcapture import LogRecords

__all__ = ["CheckFailed", "Step", "T"]

R = TypeVar("R")

# What a send or receive raises when the peer went away (Starlette, uvicorn, websockets).
_DEPARTURES = {"WebSocketDisconnect", "ClientDisconnected", "ConnectionClosed", "ConnectionClosedOK", "ConnectionClosedError"}


class CheckFailed(AssertionError):
    """An expectation was not met; carries expected/got for the report."""

    def __init__(self, message: str, expected: str | None = None, got: str | None = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


class StopCheck(Exception):
    """Raised after a failed step to end the check (never shown to the learner)."""


class T:
    """The recorder handed to every check as ``t``."""

    def __init__(self, learner_file: Path) -> None:
        self.learner_file = learner_file
        self.steps: list[Step] = []
        self.timed_out = False
        # uvicorn logs "Exception in ASGI application" with the traceback when an endpoint raises;
        # asyncio logs "Task exception was never retrieved" for a task nobody awaited.
        self.server_log = LogRecords(logging.ERROR)
        # Learner code that holds an event loop (time.sleep, a busy loop), found by a watchdog.
        self.watch = LoopWatch(learner_file)
        self._crashes_seen = 0
        self._blocks_seen = 0
        self._mark = self.watch.mark()  # since the start of the current step
        self._start = self._mark  # since the start of the check

    # -- structure -----------------------------------------------------------
    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A named requirement. It fails on a failed expectation, on an exception from learner
        code, on a traceback from learner code in the server log, and when learner code held an
        event loop; the report then says which, and where."""
        self._mark = self.watch.mark()
        try:
            yield
        except StopCheck:
            raise
        except CheckFailed as err:
            self._fail(name, _format_failure(err))
        except asyncio.CancelledError as err:
            if not self.timed_out:
                raise
            self._fail(name, "did not finish in time. " + describe_exception(err, self.learner_file, hang=True))
        except Exception as err:  # learner code raised: say where
            self._fail(name, describe_exception(err, self.learner_file))
        problem = self._blocked() or self._crashed()
        if problem:
            self.steps.append(Step(name, False, problem))
            raise StopCheck
        self.steps.append(Step(name, True))

    @contextmanager
    def crash_expected(self) -> Iterator[list[logging.LogRecord]]:
        """The check provokes a crash on purpose (say, a binary frame where the handler reads text):
        tracebacks logged during the body are what is being tested, not a failure of the step.
        Yields the list of those records, filled in when the body ends."""
        first = len(self.server_log.records)
        provoked: list[logging.LogRecord] = []
        try:
            yield provoked
        finally:
            provoked.extend(self.server_log.records[first:])
            self._crashes_seen = max(self._crashes_seen, first + len(provoked))

    def _fail(self, name: str, symptom: str) -> NoReturn:
        """Record a failed step. A blocked loop is the cause of most symptoms, so it comes first."""
        blocked = self._blocked(ongoing=True)
        if blocked:
            detail = f"{blocked}\n(what the check saw: {symptom})"
        else:
            crashed = self._crashed()
            detail = symptom + (f"\nMeanwhile {crashed}" if crashed else "")
        self.steps.append(Step(name, False, detail))
        raise StopCheck from None

    def finish(self) -> None:
        """After the last step: anything that happened since (a crash on the way out, a block) fails."""
        self._mark = self._start
        problem = self._blocked(ongoing=True) or self._crashed()
        if problem:
            self.steps.append(Step("your code ran to the end without blocking or errors in the server log", False, problem))
            raise StopCheck

    def _blocked(self, *, ongoing: bool = False) -> str | None:
        """A new block of an event loop by learner code, as a message (each one is reported once)."""
        blocks = self.watch.blocks[self._blocks_seen:]
        self._blocks_seen = len(self.watch.blocks)
        found = max(blocks, key=lambda b: b.seconds, default=None)
        if found is None and ongoing:
            found = self.watch.ongoing()
        if found is None:
            found = self.watch.held_since(self._mark)
        return found.message() if found else None

    def _crashed(self) -> str | None:
        """A new traceback from learner code in the server log, as a message (each one is reported once)."""
        records = self.server_log.records[self._crashes_seen:]
        self._crashes_seen += len(records)
        for record in records:
            error = record.exc_info[1] if record.exc_info else None
            if error is not None:
                where = raised_in_learner_code(error, self.learner_file)
                kind = type(error).__name__
            else:  # a worker process's record: the traceback came as text
                summary, trace = getattr(record, "crash", None), getattr(record, "traceback", None)
                where = raised_in_learner_text(summary, trace, self.learner_file) if summary and trace else None
                kind = str(summary).split(":", 1)[0].rsplit(".", 1)[-1]
            if where is None:
                continue
            if kind in _DEPARTURES:
                return (
                    f"your server code raised {where}\n"
                    "A client leaving is a normal end of a WebSocket, not an error: catch WebSocketDisconnect "
                    "around the receive loop and do the clean-up in `finally`."
                )
            return f"your server code raised {where}"
        return None

    # -- expectations --------------------------------------------------------
    def expect(self, condition: object, *, expected: str, got: object = None, message: str = "") -> None:
        """Fail the current step unless ``condition`` holds."""
        if not condition:
            shown = got if isinstance(got, str) else _show(got)
            raise CheckFailed(message, expected=expected, got=None if got is None else shown)

    def fail(self, message: str) -> None:
        raise CheckFailed(message)

    async def within(self, seconds: float, awaitable: Awaitable[R], what: str) -> R:
        """Await learner code with a deadline; on timeout, say where it was stuck."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if task in done:
            return task.result()
        task.cancel()
        where = ""
        try:
            await asyncio.wait_for(task, 1.0)
        except asyncio.CancelledError as err:
            where = " " + describe_exception(err, self.learner_file, hang=True)
        except BaseException:  # noqa: BLE001 - anything it raised while cancelling
            pass
        raise CheckFailed(f"{what} did not finish within {seconds:g} s.{where}")

    # -- measuring -----------------------------------------------------------
    @staticmethod
    def clock() -> float:
        return time.perf_counter()


def _show(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _format_failure(err: CheckFailed) -> str:
    lines = []
    if str(err):
        lines.append(str(err))
    if err.expected is not None:
        lines.append(f"expected: {err.expected}")
    if err.got is not None:
        lines.append(f"got:      {err.got}")
    return "\n".join(lines) or "the check failed"

