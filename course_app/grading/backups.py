"""Never lose a learner's file: numbered backups that are never overwritten.

    backup = restore_pristine(path, original_text)
    # exercises/ch01_gather.py.1.bak, then .2.bak, ... (None when nothing needed saving)

A backup is created with an exclusive open, so two resets, even at the same
moment, can never write over each other or over an older backup. The new file
is written beside the old one and moved into place in one step, so a crash
halfway leaves either the learner's version or the original, never half of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

__all__ = ["backups_of", "restore_pristine", "save_backup"]


def backups_of(path: Path) -> list[Path]:
    """Existing backups of ``path``, oldest first."""
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)\.bak$")
    found = [(int(m.group(1)), p) for p in path.parent.glob(path.name + ".*.bak") if (m := pattern.match(p.name))]
    return [p for _, p in sorted(found)]


def save_backup(path: Path) -> Path:
    """Copy ``path`` byte for byte to the next free ``<name>.<n>.bak``; returns the copy."""
    data = path.read_bytes()
    existing = backups_of(path)
    n = int(existing[-1].name.rsplit(".", 2)[-2]) + 1 if existing else 1
    while True:
        backup = path.with_name(f"{path.name}.{n}.bak")
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            n += 1
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return backup


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def restore_pristine(path: Path, original: str) -> Path | None:
    """Put ``original`` at ``path``; first back the learner's version up unless it already is the original."""
    backup = None
    if path.exists() and path.read_bytes() != original.encode():
        backup = save_backup(path)
    _replace(path, original)
    return backup
