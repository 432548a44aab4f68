"""One pass over a dataset's files: which are unreadable, and how colorful each is (mean chroma).

Near-gray photos teach a colorizer nothing but gray, so the training split drops them. The scan
decodes a 64 px thumbnail of each file once; results are cached by path, size and mtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from colorlab.core.atomic import atomic_write
from colorlab.core.color import chroma, rgb_to_lab
from colorlab.data.images import UnreadableImageError, read_rgb

log = logging.getLogger(__name__)

THUMB = 64
CACHE_VERSION = 1
_SCANNED: dict[str, dict[str, list]] = {}  # this process's scans by root: compare evaluates many runs of one folder


def mean_chroma(images: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) uint8 RGB -> (B,) mean per-pixel chroma sqrt(a^2+b^2), in ab units."""
    _, ab = rgb_to_lab(images)
    return chroma(ab).flatten(1).mean(1)


def scan_chroma(root: Path, files: Sequence[Path], cache_dir: str | Path | None) -> dict[Path, float | None]:
    """Mean chroma of each file (None when it cannot be decoded), reusing the cache where valid."""
    cache_file = _cache_file(root, cache_dir)
    memory = _SCANNED.setdefault(str(root.resolve()), {})
    cached = {**memory, **_load_cache(cache_file)}
    result: dict[Path, float | None] = {}
    todo: list[tuple[Path, str, list[int]]] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        stat = path.stat()
        key = [stat.st_size, stat.st_mtime_ns]
        entry = cached.get(rel)
        if entry is not None and entry[:2] == key:
            result[path] = entry[2]
        else:
            todo.append((path, rel, key))
    if todo:
        kept = " (cached afterwards)" if cache_file is not None else ""
        log.info("scanning %d images under %s for colorfulness%s", len(todo), root, kept)
    for start in range(0, len(todo), 256):
        chunk = todo[start : start + 256]
        thumbs, readable = [], []
        for path, rel, key in chunk:
            try:
                img = read_rgb(path, min_side=THUMB)
            except UnreadableImageError as err:
                log.warning("skipping %s", err)
                result[path] = None
                cached[rel] = [*key, None]
                continue
            thumbs.append(TF.resize(TF.pil_to_tensor(img), [THUMB, THUMB], antialias=True))
            readable.append((path, rel, key))
        if thumbs:
            for (path, rel, key), value in zip(readable, mean_chroma(torch.stack(thumbs)).tolist(), strict=True):
                result[path] = value
                cached[rel] = [*key, value]
    memory.update(cached)
    if todo and cache_file is not None:
        _save_cache(cache_file, cached)
    return result


def _cache_file(root: Path, cache_dir: str | Path | None) -> Path | None:
    if cache_dir is None:
        return None
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / "scan" / f"chroma-v{CACHE_VERSION}-{digest}.json"


def _load_cache(cache_file: Path | None) -> dict[str, list]:
    if cache_file is None or not cache_file.is_file():
        return {}
    try:
        data = json.loads(cache_file.read_text())
        if data.get("version") == CACHE_VERSION and isinstance(data.get("files"), dict):
            return data["files"]
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable scan cache %s (%s); rescanning", cache_file, err)
    return {}


def _save_cache(cache_file: Path, entries: dict[str, list]) -> None:
    """Write atomically, so an interrupted run never leaves a half-written cache."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": CACHE_VERSION, "files": entries})
        atomic_write(cache_file, lambda tmp: tmp.write_text(text))
    except OSError as err:
        log.warning("could not write scan cache %s (%s); the next run scans again", cache_file, err)
