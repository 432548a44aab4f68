"""LightningDataModule: a folder of photos -> uint8 RGB batches -> (L, ab) on the device (kornia)."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from colorlab import ab_bins
from colorlab.color import rgb_to_lab
from colorlab.data.download import ensure_dataset
from colorlab.data.files import find_images, fixed_subset, split_files
from colorlab.data.images import ImageFiles
from colorlab.data.scan import scan_chroma

log = logging.getLogger(__name__)


class ColorDataModule(pl.LightningDataModule):
    """Photos under `root` (recursively), split 80/10/10 by a hash of each relative path.

    Train: random resized crop + horizontal flip; val/test: resize the short side + centre crop.
    Unreadable files are skipped (logged by name); training photos whose mean chroma is below
    `min_chroma` ab units are dropped as near-gray (0 keeps all). Loaders yield (B,3,S,S) uint8;
    `on_after_batch_transfer` turns them into (L/100, ab/128) on the device. `subset=N` uses a fixed,
    hash-chosen N of the files (for quick experiments and benchmarks).
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
    ) -> None:
        super().__init__()
        if image_size < 1:
            raise ValueError(f"data.image_size={image_size}: must be positive")
        if batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size}: must be positive")
        split, crop_scale = tuple(map(float, split)), tuple(map(float, crop_scale))  # plain, for checkpoints
        self.save_hyperparameters()
        self.root = Path(root).expanduser()
        self.splits: dict[str, list[Path]] = {}
        self.dropped_gray = 0
        self.dropped_unreadable = 0

    def prepare_data(self) -> None:
        if self.hparams.download:
            ensure_dataset(self.hparams.download, self.root)

    def setup(self, stage: str | None = None) -> None:
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

    def _dataset(self, split: str, augment: bool, max_images: int | None = None) -> ImageFiles:
        """A split's files, augmented or centre-cropped; `max_images` keeps a fixed subset."""
        self.setup()
        files = fixed_subset(self.root, self.splits[split], max_images)
        if not files:
            raise ValueError(
                f"data.root={self.root}: the {split} split is empty ({len(self.splits['train'])} train, "
                f"{len(self.splits['val'])} val, {len(self.splits['test'])} test after filtering); "
                "add images or change data.split / data.min_chroma"
            )
        size = self.hparams.image_size
        if augment:
            scale = tuple(self.hparams.crop_scale)
            transform = v2.Compose([v2.RandomResizedCrop(size, scale=scale, antialias=True), v2.RandomHorizontalFlip()])
            min_side = math.ceil(size / math.sqrt(scale[0]))  # enough pixels for the smallest crop
        else:
            transform = v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
            min_side = size
        return ImageFiles(files, transform, min_side=min_side)

    def _loader(self, split: str, training: bool | None = None, max_images: int | None = None) -> DataLoader:
        training = split == "train" if training is None else training
        workers = self.hparams.num_workers
        return DataLoader(
            self._dataset(split, augment=training, max_images=max_images),
            batch_size=self.hparams.batch_size,
            shuffle=training,
            drop_last=training and len(self.splits["train"]) > self.hparams.batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.hparams.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def eval_dataloader(self, split: str, max_images: int | None = None) -> DataLoader:
        """Any split in file order with the deterministic resize + centre crop (evaluation, priors)."""
        return self._loader(split, training=False, max_images=max_images)

    def colour_counts(self, max_images: int | None = 2000) -> torch.Tensor:
        """Pixel counts per ab grid bin over (a fixed subset of) the training split: the colour prior.

        Deterministic crops; cached in `cache_dir` by the chosen files, their sizes and mtimes, and the
        image size, so every run of a sweep computes it once.
        """
        self.setup()
        files = fixed_subset(self.root, self.splits["train"], max_images)
        key = hashlib.sha1(f"v1|{self.hparams.image_size}".encode())
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
                return torch.load(cache, weights_only=True)
            except (RuntimeError, OSError, EOFError) as err:
                log.warning("ignoring unreadable prior cache %s (%s)", cache, err)
        log.info("estimating the colour prior on %d training photos", len(files))
        counts = torch.zeros(ab_bins.NUM_BINS, dtype=torch.float64)
        for batch in self._loader("train", training=False, max_images=max_images):
            counts += ab_bins.histogram(rgb_to_lab(batch)[1])
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            torch.save(counts, tmp)
            tmp.replace(cache)
        return counts

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> tuple[torch.Tensor, ...]:
        """(B,3,H,W) uint8 RGB on the device -> (L/100 (B,1,H,W), ab/128 (B,2,H,W))."""
        return rgb_to_lab(batch)
