"""What a check produces, typed the same on both sides of the process boundary.

The check worker builds a ``Result`` and writes it as JSON; the runner reads it
back with ``Result.from_json``. Nothing else crosses between the two processes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal, cast

__all__ = ["Result", "Status", "Step"]

Status = Literal["pass", "fail", "error"]
_STATUSES: tuple[Status, ...] = ("pass", "fail", "error")


@dataclass
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Result:
    id: str
    title: str
    file: str
    status: Status
    steps: list[Step] = field(default_factory=list)
    problem: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def failed_text(self) -> str:
        """The failed steps' names and details, and the problem: what a failure was about."""
        parts = [f"{s.name}\n{s.detail}" for s in self.steps if not s.ok]
        return "\n".join(parts + [self.problem or ""])

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Result":
        data = json.loads(text)
        status = data.get("status")
        if status not in _STATUSES:
            raise ValueError(f"unknown status {status!r}")
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            file=str(data["file"]),
            status=cast(Status, status),
            steps=[Step(str(s["name"]), bool(s["ok"]), str(s.get("detail", ""))) for s in data.get("steps", [])],
            problem=data.get("problem"),
            seconds=float(data.get("seconds", 0.0)),
        )
