"""LightningDataModule: a folder of photos -> uint8 RGB batches -> (L, ab) on the device (kornia)."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from colorlab.core.atomic import atomic_write
from colorlab.core.color import rgb_to_lab
from colorlab.data.archives import ensure_dataset
from colorlab.data.feature_cache import CachedViews, FeatureBatch, FeatureCache
from colorlab.data.images import ImageFiles
from colorlab.data.photo_files import find_images, fixed_subset, split_files
from colorlab.data.scan import scan_chroma
from colorlab.data.source import DataSource
from colorlab.data.transforms import EVAL_PROTOCOLS, checked_zoom_scale, eval_transform, train_transform
from colorlab.models import ab_grid

if TYPE_CHECKING:
    from colorlab.models import Colorizer

log = logging.getLogger(__name__)


class ColorDataModule(DataSource):
    """Photos under `root` (recursively), split 80/10/10 by a hash of each relative path.

    Train: random resized crop + horizontal flip (`crop_scale=null`: centre crop + flip); val/test:
    resize the short side + centre crop.
    Unreadable files are skipped (logged by name); training photos whose mean chroma is below
    `min_chroma` ab units are dropped as near-gray (0 keeps all). Loaders yield (B,3,S,S) uint8;
    `on_after_batch_transfer` turns them into (L/100, ab/128) on the device. `subset=N` uses a fixed,
    hash-chosen N of the files (for quick experiments and benchmarks).

    `cache_features=true`: at fit time (`build_feature_cache`, called by the `BuildFeatureCache`
    callback that `colorlab.train` adds) the frozen encoder's output for the centre crop and its mirror
    of every train and val photo is computed once into `cache_dir` (see `colorlab.data.feature_cache`) and
    train/val loaders yield `FeatureBatch`es from it; test and evaluation still read the photos.
    `cache_mirror=false` caches the centre crop alone (half the build; training without the flip).
    `cache_zoom_views=K` caches K more views of each photo, seeded random zooms into the centre crop
    (area fraction in `cache_zoom_scale`), so training sees 2 + K views of a photo, not 2.
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int = 224,
        batch_size: int = 16,
        num_workers: int = 0,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        crop_scale: Sequence[float] = (0.5, 1.0),
        min_chroma: float = 1.0,
        cache_dir: str | Path | None = None,
        download: str | None = None,
        pin_memory: bool = False,
        subset: int | None = None,
        cache_features: bool = False,
        cache_mirror: bool = True,
        cache_zoom_views: int = 0,
        cache_zoom_scale: Sequence[float] = (0.5, 1.0),
    ) -> None:
        super().__init__()
        if cache_zoom_views < 0:
            raise ValueError(f"data.cache_zoom_views={cache_zoom_views}: must be 0 or more")
        cache_zoom_scale = checked_zoom_scale(cache_zoom_scale, "data.cache_zoom_scale")  # plain, for checkpoints
        if cache_features and crop_scale is not None:
            raise ValueError(
                "data.cache_features=true caches the centre crop and its mirror, but "
                f"data.crop_scale={list(crop_scale)} asks for random crops the cache cannot hold: "
                "set data.crop_scale=null (or turn the cache off)"
            )
        if cache_features and not cache_dir:
            raise ValueError("data.cache_features=true needs data.cache_dir (a folder for the cached features)")
        if image_size < 1:
            raise ValueError(f"data.image_size={image_size}: must be positive")
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}: must be positive")
        split = tuple(map(float, split))  # plain tuples, for checkpoints
        crop_scale = None if crop_scale is None else tuple(map(float, crop_scale))
        self.save_hyperparameters()
        self.root = Path(root).expanduser()
        self.splits: dict[str, list[Path]] = {}
        self.dropped_gray = 0
        self.dropped_unreadable = 0
        self.cached: dict[str, list[Path]] = {}  # split -> feature cache entries, once built
        self.cache_report = None
        self.cache_layout = None

    def prepare_data(self) -> None:
        if self.hparams.download:
            ensure_dataset(self.hparams.download, self.root)

    def setup(self, stage: str | None = None) -> None:
        self._find_splits()

    def _find_splits(self) -> None:
        if self.splits:
            return
        files = fixed_subset(self.root, find_images(self.root), self.hparams.subset)
        splits = split_files(self.root, files, self.hparams.split)
        scores = scan_chroma(self.root, files, self.hparams.cache_dir)
        self.dropped_unreadable = sum(score is None for score in scores.values())
        splits = {name: [f for f in part if scores[f] is not None] for name, part in splits.items()}
        train = [f for f in splits["train"] if scores[f] >= self.hparams.min_chroma]
        self.dropped_gray = len(splits["train"]) - len(train)
        splits["train"] = train
        log.info(
            "data %s: %d train, %d val, %d test; dropped %d near-gray training photos "
            "(mean chroma < %g) and %d unreadable files",
            self.root,
            *(len(splits[name]) for name in ("train", "val", "test")),
            self.dropped_gray,
            self.hparams.min_chroma,
            self.dropped_unreadable,
        )
        self.splits = splits

    def build_feature_cache(
        self,
        net: Colorizer,
        device: torch.device | str = "cpu",
        precision: str = "32",
        autocast: Callable[[], AbstractContextManager] = nullcontext,
        rank: int = 0,
        world: int = 1,
        barrier: Callable[[], None] | None = None,
    ) -> None:
        """Encode every train and val photo once with `net.encode` (each rank a share, then `barrier`);
        train/val loaders then serve cached features."""
        from colorlab.models.colorizer import Colorizer

        if not isinstance(net, Colorizer):
            raise ValueError(
                f"data.cache_features=true caches a frozen encoder's output; a {net.family} model has none"
            )
        self._find_splits()
        net.encoder.to(device)
        cache = FeatureCache(
            self.hparams.cache_dir,
            net.encoder,
            self.hparams.image_size,
            precision,
            self.hparams.cache_mirror,
            skip_strides=net.skip_strides,  # a U-Net's skips are cached with the features
            zoom_views=self.hparams.cache_zoom_views,
            zoom_scale=self.hparams.cache_zoom_scale,
        )
        files = self.splits["train"] + self.splits["val"]

        def encode(lightness: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
            with autocast():
                return net.encode(lightness)

        build = functools.partial(cache.build, files, self._centre_crops, device, encode, self.hparams.batch_size)
        entries, report = build(shard=(rank, world))
        if world > 1:  # every rank computed its share; now collect all of them
            barrier()
            entries, collected = build()
            report.seconds += collected.seconds  # the counts stay this rank's own
        log.info(
            "feature cache %s: %d entries reused, %d computed (%d of them replaced invalid ones) in %.1f s",
            cache.folder, report.reused, report.computed, report.rebuilt, report.seconds,
        )  # fmt: skip
        self.cache_report, self.cache_layout = report, cache.layout
        count = len(self.splits["train"])
        self.cached = {"train": entries[:count], "val": entries[count:]}

    def _centre_crops(self, files: list[Path]) -> ImageFiles:
        """Resize the short side + centre crop: the deterministic view evaluation and the cache use."""
        return ImageFiles(files, *eval_transform(self.hparams.image_size))

    def _dataset(
        self,
        split: str,
        augment: bool,
        max_images: int | None = None,
        features: bool = False,
        protocol: str = "centre_crop",
    ) -> ImageFiles | CachedViews:
        """A split's files, augmented or in an evaluation `protocol` (centre_crop, resize); `max_images`
        keeps a fixed subset; `features` serves the split's cached encoder features instead of photos
        (once built at fit time)."""
        self._find_splits()
        if features and split in self.cached:
            entries, layout = self.cached[split], self.cache_layout
            return CachedViews(entries, layout, mirror=augment, images=self._centre_crops(self.splits[split]))
        files = fixed_subset(self.root, self.splits[split], max_images)
        if not files:
            raise ValueError(
                f"data.root={self.root}: the {split} split is empty ({len(self.splits['train'])} train, "
                f"{len(self.splits['val'])} val, {len(self.splits['test'])} test after filtering); "
                "add images or change data.split / data.min_chroma"
            )
        size = self.hparams.image_size
        if protocol not in EVAL_PROTOCOLS:
            raise ValueError(f"protocol={protocol}: choose one of {', '.join(EVAL_PROTOCOLS)}")
        if augment:
            transform, min_side = train_transform(size, self.hparams.crop_scale)
        else:
            transform, min_side = EVAL_PROTOCOLS[protocol](size)
        return ImageFiles(files, transform, min_side=min_side)

    def _loader(
        self,
        split: str,
        training: bool | None = None,
        max_images: int | None = None,
        features: bool = False,
        protocol: str = "centre_crop",
    ) -> DataLoader:
        training = split == "train" if training is None else training
        workers = self.hparams.num_workers
        return DataLoader(
            self._dataset(split, augment=training, max_images=max_images, features=features, protocol=protocol),
            batch_size=self.hparams.batch_size,
            shuffle=training,
            drop_last=training and len(self.splits["train"]) > self.hparams.batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.hparams.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", features=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", features=True)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def eval_dataloader(self, split: str, max_images: int | None = None, protocol: str = "centre_crop") -> DataLoader:
        """Any split in file order, deterministic: resize the short side + centre crop (`centre_crop`, the
        default) or resize to a square (`resize`, DDColor's protocol); for evaluation and priors."""
        return self._loader(split, training=False, max_images=max_images, protocol=protocol)

    def eval_names(self, split: str) -> list[str]:
        self._find_splits()
        return [str(path) for path in self.splits[split]]

    def describe(self) -> str:
        return str(self.root)

    def color_stats(self, max_images: int | None = 2000) -> ab_grid.ColorStats:
        """The training split's color statistics (ab prior and mean) over a fixed subset of it.

        Deterministic crops; cached in `cache_dir` by the chosen files, their sizes and mtimes, and the
        image size, so every run of a sweep computes it once.
        """
        self._find_splits()
        files = fixed_subset(self.root, self.splits["train"], max_images)
        key = hashlib.sha1(f"v2|{self.hparams.image_size}".encode())
        for path in files:
            stat = path.stat()
            key.update(f"|{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        cache = (
            Path(self.hparams.cache_dir).expanduser() / "priors" / f"{key.hexdigest()[:20]}.pt"
            if self.hparams.cache_dir
            else None
        )
        if cache is not None and cache.is_file():
            try:
                stored = torch.load(cache, weights_only=True)
                return ab_grid.ColorStats(prior=stored["prior"], mean_ab=stored["mean_ab"])
            except (RuntimeError, OSError, EOFError, KeyError, TypeError) as err:
                log.warning("ignoring unreadable color statistics cache %s (%s)", cache, err)
        log.info("estimating the color statistics on %d training photos", len(files))
        stats = ab_grid.ColorStats.estimate(self._loader("train", training=False, max_images=max_images))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(cache, lambda tmp: torch.save({"prior": stats.prior, "mean_ab": stats.mean_ab}, tmp))
        return stats

    def on_after_batch_transfer(self, batch, dataloader_idx: int) -> tuple[torch.Tensor, ...]:
        """(B,3,H,W) uint8 RGB on the device -> (L/100 (B,1,H,W), ab/128 (B,2,H,W)); cached fp16
        features and targets -> fp32 (autocast picks the compute precision)."""
        if isinstance(batch, FeatureBatch):
            return batch.to_float()
        return rgb_to_lab(batch)
