"""Writing files so that a crash or kill -9 never leaves half a file under the real name, and cleaning
up the temporary files that killed processes leave behind."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

PART_SUFFIX = ".colorlab-part"
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, where O_EXCL alone refuses an existing name


def part_path(target: Path) -> Path:
    """A fresh temporary file beside `target` for this process: `.<name>.<pid>.<random>.colorlab-part`,
    created empty with O_EXCL | O_NOFOLLOW, so a file or link planted under that name (the name cannot be
    guessed in advance) is never followed or reused."""
    for _ in range(8):
        path = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(6)}{PART_SUFFIX}")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o644))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{target}: could not create a temporary file beside it")


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` into a fresh temporary file beside `target`, then rename it over `target` (atomic on
    one filesystem); the temporary file is removed if writing fails. A link at `target` itself is
    replaced, never written through."""
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
    """Delete the temporary files of processes that no longer run (killed mid-write), and any link
    under a temporary file's name whoever made it (never a target of colorlab's); returns how many."""
    removed = 0
    for folder in set(folders):
        if not folder.is_dir():
            continue
        for part in folder.glob(f".*{PART_SUFFIX}"):
            fields = part.name[: -len(PART_SUFFIX)].split(".")
            pids = [field for field in fields[-2:] if field.isdigit()]  # .<name>.<pid>[.<random>]
            if part.is_symlink() or (pids and not _alive(int(pids[0]))):
                part.unlink(missing_ok=True)
                removed += 1
    return removed
