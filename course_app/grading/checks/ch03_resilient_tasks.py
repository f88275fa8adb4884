"""Check for ch03_resilient_tasks: a failing background task is contained and reported.

The check injects the failures through the learner's ``outbox``: it is swapped
for a list that raises when a planned entry is appended, so the exception
comes from inside the learner's own task function, whatever way the tasks are
wired. Several checkouts run at once: one with no failure, one where the
first task fails, one where the middle one fails, one where two fail, each
failure with a different exception type. Every failure must be logged at
ERROR level with its traceback (the exact exception object), and every task
after a failure must still run, in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from types import ModuleType
from typing import Any

from course_app.grading.checker import CheckFailed, T
from course_app.grading.checks._inputs import seeded
from course_app.grading.kit import http_client, learner_app, serve
from course_app.logcapture import capture_logs

TASKS = ("email_receipt", "update_stats", "notify_warehouse")
LABELS = ("receipt", "stats", "warehouse")


class ServiceDown(Exception):
    """A failure type of the check's own, so `except <one type>` cannot catch everything by luck."""


FAILURE_TYPES: tuple[type[Exception], ...] = (ConnectionError, ValueError, KeyError, ServiceDown)


class FailingOutbox(list[str]):
    """The learner's outbox, except that appending a planned entry raises the planned exception."""

    def __init__(self, plan: dict[str, Exception]) -> None:
        super().__init__()
        self.plan = plan

    def append(self, entry: str) -> None:
        error = self.plan.get(str(entry))
        if error is not None:
            raise error
        super().append(entry)


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _order_ids(rng: random.Random) -> list[str]:
    ids = [f"A{rng.randint(100, 999)}", f"B-{rng.randint(10, 99)}", rng.choice(["Ü-7", "order 42", "ß3", "北-1"]),
           f"D{rng.randint(1000, 9999)}"]
    return ids


async def _settle(outbox: list[str], want: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(outbox) < want:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # and nothing more arrives


def _level(record: logging.LogRecord) -> str:
    return logging.getLevelName(record.levelno)


async def check(learner: ModuleType, t: T) -> None:
    if not isinstance(getattr(learner, "outbox", None), list):
        raise CheckFailed("Your file has no `outbox` list. Keep `outbox: list[str] = []` from the original file.")
    missing = [name for name in TASKS if not callable(getattr(learner, name, None))]
    if missing:
        raise CheckFailed(f"Your file has no {', '.join(missing)}. Keep the three task functions from the original file.")

    with seeded(t) as rng:
        ok_id, first_id, middle_id, two_id = _order_ids(rng)
        types = list(FAILURE_TYPES)
        rng.shuffle(types)
        failing = {  # order id -> which tasks fail
            ok_id: (),
            first_id: (0,),
            middle_id: (1,),
            two_id: tuple(sorted(rng.sample(range(3), 2))),
        }
        plan: dict[str, Exception] = {}
        for order_id, positions in failing.items():
            for position in positions:
                kind = types.pop()
                plan[f"{LABELS[position]} {order_id}"] = kind(f"injected by the check: {TASKS[position]} could not "
                                                              f"reach its service (order {order_id})")
        outbox = FailingOutbox(plan)
        learner.outbox = outbox  # type: ignore[attr-defined]

        # Not uvicorn's own crash log: the learner's logger (any name) is what counts here.
        with capture_logs(keep=lambda record: not record.name.startswith("uvicorn")) as logs:
            async with serve(learner_app(learner)) as server, http_client(server) as client:
                with t.step("POST /checkout?order_id=... answers, then runs all three tasks in order"):
                    response = await client.post("/checkout", params={"order_id": ok_id})
                    t.expect(response.status_code == 200, expected="status 200",
                             got=f"status {response.status_code}: {response.text[:200]}")
                    t.expect(response.json() == {"order_id": ok_id, "status": "paid"},
                             expected=_show({"order_id": ok_id, "status": "paid"}), got=_show(response.json()))
                    await _settle(outbox, 3, 3)
                    got = [e for e in outbox if e.endswith(f" {ok_id}")]
                    t.expect(got == [f"{label} {ok_id}" for label in LABELS],
                             expected=_show([f"{label} {ok_id}" for label in LABELS]), got=_show(got))

                with t.step("when a task raises, the tasks after it still run (first, middle, two at once; "
                            "different exception types)"):
                    others = [first_id, middle_id, two_id]
                    await asyncio.gather(*(client.post("/checkout", params={"order_id": o}) for o in others))
                    await _settle(outbox, 3 + sum(3 - len(failing[o]) for o in others), 3)
                    for order_id in others:
                        wanted = [f"{LABELS[i]} {order_id}" for i in range(3) if i not in failing[order_id]]
                        failed = [f"{TASKS[i]} raised {type(plan[f'{LABELS[i]} {order_id}']).__name__}"
                                  for i in failing[order_id]]
                        got = [e for e in outbox if e.endswith(f" {order_id}")]
                        t.expect(got == wanted, expected=f"{_show(wanted)} ({', '.join(failed)}; the rest ran)",
                                 got=_show(got))

                with t.step("every failure is logged at error level, with its traceback (logger.exception)"):
                    for entry, error in plan.items():
                        mine = [r for r in logs.records if r.exc_info and r.exc_info[1] is error]
                        if any(r.levelno >= logging.ERROR for r in mine):
                            continue
                        name = next(TASKS[i] for i, label in enumerate(LABELS) if entry.startswith(label + " "))
                        what = f"the {type(error).__name__} from {name} (order {entry.split(' ', 1)[1]})"
                        if mine:
                            t.fail(f"{what} was logged at {_level(mine[0])} level, with its traceback. "
                                   "A failed task is an error: log it at ERROR level (logger.exception does).")
                        mentions = [r for r in logs.records if r.levelno >= logging.ERROR and not r.exc_info]
                        if mentions:
                            t.fail(f"{what} was logged at ERROR level, but without its traceback. "
                                   "logger.exception(...) adds it.")
                        seen = [f"{_level(r)}: {r.getMessage()[:80]}" for r in logs.records]
                        t.expect(False, expected=f"a log record at ERROR level carrying {what}",
                                 got=f"log records: {_show(seen)}" if seen else "no log record at all: the failure vanished")
