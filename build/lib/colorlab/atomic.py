"""Writing files so that a crash or kill -9 never leaves half a file under the real name, and cleaning
up the temporary files that killed processes leave behind."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

PART_SUFFIX = ".colorlab-part"


def part_path(target: Path) -> Path:
    """The temporary file beside `target` that this process writes before renaming it into place."""
    return target.with_name(f".{target.name}.{os.getpid()}{PART_SUFFIX}")


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` into a temporary file beside `target`, then rename it over `target` (atomic on one
    filesystem); the temporary file is removed if writing fails."""
    tmp = part_path(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_parts(folders: Iterable[Path]) -> int:
    """Delete the temporary files of processes that no longer run (killed mid-write); returns how many."""
    removed = 0
    for folder in set(folders):
        if not folder.is_dir():
            continue
        for part in folder.glob(f".*{PART_SUFFIX}"):
            pid = part.name[: -len(PART_SUFFIX)].rsplit(".", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                part.unlink(missing_ok=True)
                removed += 1
    return removed
