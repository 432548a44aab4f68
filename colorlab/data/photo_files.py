"""Finding image files and splitting them deterministically by a hash of their relative path."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
SPLITS = ("train", "val", "test")


def find_images(root: str | Path) -> list[Path]:
    """All image files under `root`, recursively, extensions case-insensitive, sorted by relative path."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data.root={root}: no such folder")
    if not root.is_dir():
        raise NotADirectoryError(f"data.root={root}: not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise PermissionError(f"data.root={root}: folder is not readable")

    def raise_unreadable(err: OSError) -> None:
        raise PermissionError(f"data.root={root}: cannot read {err.filename} ({err.strerror})") from err

    found = []
    for folder, dirs, names in os.walk(root, onerror=raise_unreadable, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # e.g. the downloader's .downloads/
        found += [Path(folder, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    if not found:
        raise FileNotFoundError(
            f"data.root={root}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})"
        )
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _unit_hash(relative_path: str, salt: str = "") -> float:
    """A number uniform in [0, 1) that depends on the relative path (and `salt`) alone."""
    digest = hashlib.sha1((salt + relative_path).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(relative_path: str, fractions: Sequence[float]) -> str:
    """'train', 'val' or 'test' from a hash of the path alone: adding files never moves old ones."""
    u = _unit_hash(relative_path)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions, strict=True):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]


def split_files(root: str | Path, files: Sequence[Path], fractions: Sequence[float]) -> dict[str, list[Path]]:
    """Group `files` (under `root`) into the three splits by `split_of`."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"data.split={list(fractions)}: give three non-negative fractions summing to 1")
    splits: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for path in files:
        splits[split_of(path.relative_to(root).as_posix(), fractions)].append(path)
    return splits


def fixed_subset(root: str | Path, files: Sequence[Path], size: int | None) -> list[Path]:
    """The `size` files with the smallest path hashes: the same subset on every machine and run."""
    if size is None or size >= len(files):
        return list(files)
    if size < 1:
        raise ValueError(f"data.subset={size}: must be a positive number of files, or null for all")
    # Salted: unsalted, the smallest hashes would all fall into the first split.
    chosen = set(sorted(files, key=lambda p: _unit_hash(p.relative_to(root).as_posix(), "subset:"))[:size])
    return [f for f in files if f in chosen]
