"""A run's stored data settings, rebuilt for evaluation from an exact allow-list of typed values.

A checkpoint is a stranger's file. Its data section is never handed to `instantiate` as written:
each data source has a schema below, every key must be in it, and every value is checked by type and
range. A path must be a plain local path (no scheme of any spelling: `http:/`, `HTTP://`, `data:`,
`file:`, `pipe:`, fsspec's `a::b`, `//host`), resolved, existing, and outside the kernel's pseudo
file systems; where to write (caches) and downloads are reset. What is refused is said by key, and the
user gives it on the command line instead (`data=...`), where any URL is theirs to give.
"""

from __future__ import annotations

import math
import os
import re
import reprlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from colorlab.core.config import MAX_IMAGE_SIZE

MAX_BATCH = 4096
MAX_ZOOM_VIEWS = 64
MAX_SHUFFLE = 1_000_000
# `scheme:` (RFC 3986: a letter, then letters, digits, + - .), fsspec's chained `a::b`, `//host/share`.
SCHEME = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.\-]*:")
PSEUDO_FILE_SYSTEMS = (Path("/dev"), Path("/proc"), Path("/sys"), Path("/run"))


SHOWN = reprlib.Repr()
SHOWN.maxlevel, SHOWN.maxstring, SHOWN.maxother = 3, 200, 200


def shown(value: Any) -> str:
    """`value` for a message, bounded in depth and length (a hostile value may be nested 10^5 deep)."""
    return SHOWN.repr(value)


class StoredDataError(ValueError):
    """A stored data setting that evaluation will not use; the message names the key."""


Check = Callable[[Any, str], Any]


def local_path(value: Any, key: str) -> str:
    """A plain local path that exists (read only: photos or shards), resolved."""
    if not isinstance(value, str) or not value.strip():
        raise StoredDataError(f"{key}={shown(value)}: must be a local path")
    if SCHEME.match(value) or "::" in value or value.lstrip().startswith("//") or "\x00" in value:
        raise StoredDataError(
            f"{key}={shown(value)} names a URL, command or scheme; colorlab never opens one from a file: "
            f"give {key}=... on the command line"
        )
    if "${" in value:
        raise StoredDataError(f"{key}={shown(value)}: interpolations are not allowed in a stored setting")
    path = Path(value).expanduser().resolve()
    if any(path == root or root in path.parents for root in PSEUDO_FILE_SYSTEMS):
        raise StoredDataError(f"{key}={shown(value)}: not a folder of photos or shards")
    if not path.exists():
        raise StoredDataError(f"{key}={shown(value)}: no such file or folder here; give {key}=... on the command line")
    return str(path)


def optional(check: Check) -> Check:
    return lambda value, key: None if value is None else check(value, key)


def integer(low: int, high: int) -> Check:
    def check(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise StoredDataError(f"{key}={shown(value)}: must be a whole number, {low} to {high}")
        return value

    return check


def workers(value: Any, key: str) -> int:
    """A loader count bounded by this machine's cores: a file never forks more processes than that."""
    return min(integer(0, 1024)(value, key), os.cpu_count() or 1)


def number(low: float, high: float) -> Check:
    def check(value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise StoredDataError(f"{key}={shown(value)}: must be a finite number")
        if not low <= value <= high:
            raise StoredDataError(f"{key}={shown(value)}: must lie in [{low}, {high}]")
        return float(value)

    return check


def numbers(count: int, low: float, high: float) -> Check:
    def check(value: Any, key: str) -> list[float]:
        if not isinstance(value, list | tuple) or len(value) != count:
            raise StoredDataError(f"{key}={shown(value)}: must be a list of {count} numbers")
        return [number(low, high)(item, f"{key}[{index}]") for index, item in enumerate(value)]

    return check


def flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise StoredDataError(f"{key}={shown(value)}: must be true or false")
    return value


def reset(default: Any) -> Check:
    """A setting evaluation never takes from a file (where to write, what to download)."""
    return lambda value, key: default


COMMON: dict[str, Check] = {
    "image_size": integer(1, MAX_IMAGE_SIZE),
    "batch_size": integer(1, MAX_BATCH),
    "num_workers": workers,
    "crop_scale": optional(numbers(2, 0.0, 1.0)),
    "min_chroma": number(0.0, 200.0),
    "pin_memory": flag,
}
SCHEMAS: dict[str, dict[str, Check]] = {
    "colorlab.data.ColorDataModule": {
        **COMMON,
        "root": local_path,
        "split": numbers(3, 0.0, 1.0),
        "cache_dir": reset(None),
        "download": reset(None),
        "subset": optional(integer(1, 10**9)),
        "cache_features": reset(False),
        "cache_mirror": flag,
        "cache_zoom_views": integer(0, MAX_ZOOM_VIEWS),
        "cache_zoom_scale": numbers(2, 0.0, 1.0),
    },
    "colorlab.data.shard_datamodule.ShardDataModule": {
        **COMMON,
        "urls": local_path,
        "index": optional(local_path),
        "shuffle_buffer": integer(0, MAX_SHUFFLE),
        "seed": integer(-(2**63), 2**63 - 1),
    },
}
REQUIRED = {"colorlab.data.ColorDataModule": ("root",), "colorlab.data.shard_datamodule.ShardDataModule": ("urls",)}


def allow(target: str, schema: dict[str, Check], required: tuple[str, ...] = ()) -> None:
    """Let stored data settings build an extension's own data source, with its typed schema.
    Called by trusted code, never from a checkpoint."""
    SCHEMAS[target] = schema
    REQUIRED[target] = required


def checked_data_settings(data: Any) -> dict[str, Any]:
    """The stored data section rebuilt key by key from its source's schema; StoredDataError names the
    first key that is unknown, missing, of the wrong type, out of range or an address."""
    if not isinstance(data, dict):
        raise StoredDataError("data: holds no data settings of its run")
    target = data.get("_target_")
    if not isinstance(target, str) or target not in SCHEMAS:
        raise StoredDataError(f"data._target_={shown(target)} is not one of the data sources colorlab builds")
    schema = SCHEMAS[target]
    unknown = sorted(str(key) for key in data if key != "_target_" and key not in schema)
    if unknown:
        raise StoredDataError(f"data.{unknown[0]}: not a setting of {target}")
    missing = [key for key in REQUIRED.get(target, ()) if key not in data]
    if missing:
        raise StoredDataError(f"data.{missing[0]}: missing")
    checked = {key: schema[key](value, f"data.{key}") for key, value in data.items() if key != "_target_"}
    return {"_target_": target, **checked}
