"""The chapter 01 checks grade behaviour, not one way of writing it.

tests/test_exercises.py proves each check can fail (stub, wrong solutions).
Here, correct solutions written differently from solutions/ must pass too,
so a learner who takes another good road is not told they are wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_app.grading import registry, report
from course_app.grading.runner import run_check

ALTERNATIVES = {
    "gather_taskgroup": ("ch01_gather", '''
import asyncio

async def fetch_all(fetch, items):
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(fetch(item)) for item in items]
    return [task.result() for task in tasks]
'''),
    "gather_create_task_then_await_each": ("ch01_gather", '''
import asyncio

async def fetch_all(fetch, items):
    tasks = [asyncio.create_task(fetch(item)) for item in items]
    return [await task for task in tasks]
'''),
    "bounded_try_finally": ("ch01_bounded", '''
import asyncio

async def fetch_bounded(fetch, items, limit):
    slots = asyncio.Semaphore(limit)

    async def fetch_one(item):
        await slots.acquire()
        try:
            return await fetch(item)
        finally:
            slots.release()

    return await asyncio.gather(*(fetch_one(item) for item in items), return_exceptions=True)
'''),
    "bounded_worker_pool": ("ch01_bounded", '''
import asyncio

async def fetch_bounded(fetch, items, limit):
    results = [None] * len(items)
    queue = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))

    async def worker():
        while not queue.empty():
            index, item = queue.get_nowait()
            try:
                results[index] = await fetch(item)
            except Exception as err:
                results[index] = err

    await asyncio.gather(*(worker() for _ in range(limit)))
    return results
'''),
    "timeout_wait_for": ("ch01_timeout", '''
import asyncio

async def fetch_with_timeout(fetch, item, seconds, default):
    try:
        return await asyncio.wait_for(fetch(item), seconds)
    except TimeoutError:
        return default
'''),
    "timeout_cleanup_then_reraise": ("ch01_timeout", '''
import asyncio

async def fetch_with_timeout(fetch, item, seconds, default):
    try:
        async with asyncio.timeout(seconds):
            return await fetch(item)
    except asyncio.CancelledError:
        raise  # somebody cancelled us: let it through
    except TimeoutError:
        return default
'''),
}


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_another_correct_solution_passes(name: str, tmp_path: Path) -> None:
    exercise_id, source = ALTERNATIVES[name]
    path = tmp_path / f"{exercise_id}.py"
    path.write_text(source.lstrip())
    result = run_check(registry.get(exercise_id), path=path)
    assert result.passed, report.render(result)


def test_a_hang_in_learner_code_is_reported_not_waited_on(tmp_path: Path) -> None:
    """fetch_all that waits on something that never happens: the check ends with the line it was stuck on."""
    path = tmp_path / "ch01_gather.py"
    path.write_text(
        "import asyncio\n\n"
        "async def fetch_all(fetch, items):\n"
        "    await asyncio.Event().wait()\n"
    )
    result = run_check(registry.get("ch01_gather"), path=path)
    text = report.render(result)
    assert result.status == "fail", text
    assert "did not finish within" in text and "line 4" in text, text
    assert result.seconds < registry.get("ch01_gather").time_limit, text
