"""Routes every chapter relies on: who answered (worker PID) and a health probe."""

from __future__ import annotations

import os

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["system"])


@router.get("/whoami")
async def whoami() -> dict[str, int]:
    """Which worker process answered: with --workers N, different requests may get different PIDs."""
    return {"pid": os.getpid()}
