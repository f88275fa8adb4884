"""Collect log records for a while: how checks and tests see that a handler crashed.

Works for a ``Cluster`` too: its workers' records are re-emitted on the same
logger names in the owner process.

    with capture_logs("uvicorn.error", logging.ERROR) as logs:
        ...                           # talk to the server
    assert not logs.crashes()         # uvicorn logs "Exception in ASGI application" on a crash
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["LogRecords", "capture_logs"]


class LogRecords(logging.Handler):
    """A thread-safe list of the records that reached it (the server logs from its own thread)."""

    def __init__(self, level: int, keep: Callable[[logging.LogRecord], bool] | None = None) -> None:
        super().__init__(level)
        self._keep = keep or (lambda record: True)
        self._guard = threading.Lock()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self._keep(record):
            with self._guard:
                self.records.append(record)

    def messages(self) -> list[str]:
        with self._guard:
            return [record.getMessage() for record in self.records]

    def crashes(self) -> list[str]:
        """``"TypeName: message"`` of every exception that was logged with its traceback.

        Records from a ``Cluster``'s workers carry it as ``record.crash`` (the exception
        object stayed in the worker); they count too.
        """
        with self._guard:
            found = []
            for record in self.records:
                if record.exc_info and record.exc_info[1] is not None:
                    found.append(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
                elif isinstance(crash := getattr(record, "crash", None), str):
                    found.append(crash)
            return found


@contextmanager
def capture_logs(
    logger: str = "",
    level: int = logging.DEBUG,
    keep: Callable[[logging.LogRecord], bool] | None = None,
) -> Iterator[LogRecords]:
    """Attach a collector to ``logger`` ("" is the root) for the duration; detach it in ``finally``."""
    handler = LogRecords(level, keep)
    target = logging.getLogger(logger)
    target.addHandler(handler)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
