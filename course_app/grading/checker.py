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
from typing import TypeVar

from course_app.grading.results import Step
from course_app.grading.tracing import describe_exception, raised_in_learner_code
from course_app.logcapture import LogRecords

__all__ = ["CheckFailed", "Step", "T"]

R = TypeVar("R")


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
        # uvicorn logs "Exception in ASGI application" with the traceback when an endpoint raises.
        self.server_log = LogRecords(logging.ERROR)

    # -- structure -----------------------------------------------------------
    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        crashes_before = len(self.server_log.records)
        try:
            yield
        except StopCheck:
            raise
        except CheckFailed as err:
            detail = _format_failure(err) + self._server_crash(crashes_before)
            self.steps.append(Step(name, False, detail))
            raise StopCheck from None
        except asyncio.CancelledError as err:
            if not self.timed_out:
                raise
            self.steps.append(Step(name, False, "did not finish in time. " + describe_exception(err, self.learner_file, hang=True)))
            raise StopCheck from None
        except Exception as err:  # learner code raised: say where
            detail = describe_exception(err, self.learner_file) + self._server_crash(crashes_before)
            self.steps.append(Step(name, False, detail))
            raise StopCheck from None
        self.steps.append(Step(name, True))

    def _server_crash(self, since: int) -> str:
        """If the learner's code raised inside the server during this step, say where (uvicorn logged it)."""
        for record in self.server_log.records[since:]:
            error = record.exc_info[1] if record.exc_info else None
            where = raised_in_learner_code(error, self.learner_file) if error else None
            if where:
                return f"\nMeanwhile your server code raised {where}"
        return ""

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

