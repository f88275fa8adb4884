"""Check for ch03_resilient_tasks: a failing background task is contained and reported.

The check injects the failure: it replaces one of the learner's task functions
with one that raises, then reads the outbox (did the later tasks run?) and the
log records (was the failure logged at ERROR level with its traceback?).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import ModuleType

from course_app.grading.checker import CheckFailed, T
from course_app.grading.kit import http_client, learner_app, serve
from course_app.logcapture import capture_logs


TASKS = ("email_receipt", "update_stats", "notify_warehouse")
LABELS = {"email_receipt": "receipt", "update_stats": "stats", "notify_warehouse": "warehouse"}


class InjectedFailure(ConnectionError):
    """The failure the check injects into one task."""


def _failing(name: str) -> Callable[[str], None]:
    def task(order_id: str) -> None:
        raise InjectedFailure(f"injected by the check: {name} could not reach its service (order {order_id})")

    task.__name__ = name
    return task


async def _settle(outbox: list[str], order_id: str, want: int, seconds: float) -> list[str]:
    """Wait until `want` entries for this order are in the outbox, or the time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        mine = [e for e in list(outbox) if str(e).endswith(f" {order_id}")]
        if len(mine) >= want:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # and nothing more arrives
    return [e for e in list(outbox) if str(e).endswith(f" {order_id}")]


async def check(learner: ModuleType, t: T) -> None:
    outbox = getattr(learner, "outbox", None)
    if not isinstance(outbox, list):
        raise CheckFailed("Your file has no `outbox` list. Keep `outbox: list[str] = []` from the original file.")
    originals = {name: getattr(learner, name, None) for name in TASKS}
    missing = [name for name, fn in originals.items() if not callable(fn)]
    if missing:
        raise CheckFailed(f"Your file has no {', '.join(missing)}. Keep the three task functions from the original file.")

    with capture_logs(keep=lambda record: not record.name.startswith("uvicorn")) as logs:  # not the server's own crash log
        async with serve(learner_app(learner)) as server, http_client(server) as client:
            with t.step("POST /checkout?order_id=A1 runs all three tasks in order"):
                response = await client.post("/checkout", params={"order_id": "A1"})
                t.expect(response.status_code == 200, expected="status 200", got=f"status {response.status_code}")
                got = await _settle(outbox, "A1", 3, 3)
                t.expect(got == ["receipt A1", "stats A1", "warehouse A1"],
                         expected='["receipt A1", "stats A1", "warehouse A1"]', got=got)

            with t.step("when update_stats raises (the check injects it), notify_warehouse still runs"):
                learner.update_stats = _failing("update_stats")  # type: ignore[attr-defined]
                await client.post("/checkout", params={"order_id": "B2"})
                got = await _settle(outbox, "B2", 2, 3)
                t.expect(got == ["receipt B2", "warehouse B2"],
                         expected='["receipt B2", "warehouse B2"] (stats failed, the rest ran)', got=got)

            with t.step("the failure is logged at error level, with its traceback (logger.exception)"):
                errors = [r for r in logs.records if r.levelno >= logging.ERROR]
                with_trace = [r for r in errors if r.exc_info and isinstance(r.exc_info[1], InjectedFailure)]
                mentions = [r for r in errors if "update_stats" in r.getMessage() or "B2" in r.getMessage()]
                if not with_trace:
                    if mentions:
                        t.fail("The failure was logged at ERROR level, but without its traceback. logger.exception(...) adds it.")
                    quieter = [f"{logging.getLevelName(r.levelno)}: {r.getMessage()[:80]}" for r in logs.records]
                    t.expect(False, expected="a log record at ERROR level carrying the injected exception",
                             got=f"log records: {quieter}" if quieter else "no log record at all: the failure vanished")

            with t.step("when the first task raises, the other two still run"):
                learner.update_stats = originals["update_stats"]  # type: ignore[attr-defined]
                learner.email_receipt = _failing("email_receipt")  # type: ignore[attr-defined]
                await client.post("/checkout", params={"order_id": "C3"})
                got = await _settle(outbox, "C3", 2, 3)
                t.expect(got == ["stats C3", "warehouse C3"],
                         expected='["stats C3", "warehouse C3"] (receipt failed, the rest ran)', got=got)
