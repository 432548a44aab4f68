"""Baseline scores kept between evaluations: the gray, mean and random baselines do not depend on the
model, so a temperature sweep, a hint sweep or a second model on the same photos scores them once.

An entry is one JSON file under `<cache_dir>/baselines/`, named by a hash of everything the scores
depend on: the baseline, the colour statistics (the mean baseline's colour, the random baseline's
prior and the rebalancing weights), the seed, the evaluation settings (protocol, image size, batch
size, device type, autocast), the source of the metric code, and every photo's path, size and
modification time. Anything else (another photo, other statistics, an edited file, new metric code)
is another key. An entry is a list of one row of finite metrics per photo; one that is unreadable or
of the wrong shape is recomputed, with a warning naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from colorlab.core import color, metrics
from colorlab.core.atomic import atomic_write
from colorlab.evaluation import scoring as evaluation
from colorlab.models.ab_grid import ColorStats

log = logging.getLogger(__name__)

VERSION = 1


def photos_key(stats: ColorStats, files: Sequence[str], **settings: object) -> str:
    """The hash of what every baseline's scores on `files` (in order) depend on under `settings`; a
    baseline's entry is named by it and the baseline's name (`entry_key`)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"v{VERSION}|{sorted(settings.items())}".encode())
    for module in (evaluation, metrics, color):  # new metric code, new scores
        digest.update(Path(module.__file__).read_bytes())
    for tensor in (stats.prior, stats.mean_ab):
        digest.update(tensor.detach().to(torch.float64).cpu().contiguous().numpy().tobytes())
    for file in files:
        stat = Path(file).stat()
        digest.update(f"|{file}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def entry_key(name: str, photos: str) -> str:
    """The entry name of baseline `name`'s scores on the photos `photos_key` describes."""
    return hashlib.blake2b(f"{photos}|{name}".encode(), digest_size=16).hexdigest()


def load(folder: Path, key: str, count: int) -> list[dict[str, float]] | None:
    """The stored rows for `key`, or None when there are none or they are not `count` rows of finite
    metrics (then with a warning)."""
    path = folder / f"{key}.json"
    if not path.is_file():
        return None
    try:
        rows = json.loads(path.read_text())
        valid = (
            isinstance(rows, list)
            and len(rows) == count
            and all(
                isinstance(row, dict)
                and set(row) == set(evaluation.METRIC_KEYS)
                and all(isinstance(v, float) and math.isfinite(v) for v in row.values())
                for row in rows
            )
        )
    except (OSError, ValueError) as err:
        log.warning("baseline cache entry %s is unreadable (%s): recomputing it", path, err)
        return None
    if not valid:
        log.warning("baseline cache entry %s does not hold %d rows of metrics: recomputing it", path, count)
        return None
    return rows


def store(folder: Path, key: str, rows: list[dict[str, float]]) -> None:
    """Write `rows` for `key` (atomically: a parallel evaluation never reads half an entry)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(rows)
    atomic_write(folder / f"{key}.json", lambda tmp: tmp.write_text(text))


class KeptBaselines:
    """The kept baseline scores of one evaluation (`split` of `datamodule` under `settings`); off, so
    that `load` finds nothing and `store` keeps nothing, when the data source has no cache folder or
    cannot name its photos in advance."""

    def __init__(self, datamodule, split: str, stats: ColorStats, **settings: object) -> None:
        self.files = datamodule.eval_names(split)
        cache_dir = datamodule.hparams.get("cache_dir")
        self.folder = Path(cache_dir).expanduser() / "baselines" if self.files and cache_dir else None
        if self.folder is not None:  # the photos are stat-ed and the metric code read once, for all baselines
            settings = {"image_size": datamodule.image_size(), "split": split, **settings}
            self.photos = photos_key(stats, self.files, **settings)

    def _key(self, name: str) -> str:
        return entry_key(name, self.photos)

    def load(self, name: str) -> list[dict[str, float]] | None:
        if self.folder is None:
            return None
        rows = load(self.folder, self._key(name), len(self.files))
        if rows is not None:
            log.info("%s baseline: %d photos' scores reused from %s", name, len(rows), self.folder)
        return rows

    def store(self, name: str, rows: list[dict[str, float]]) -> None:
        if self.folder is not None:
            store(self.folder, self._key(name), rows)
