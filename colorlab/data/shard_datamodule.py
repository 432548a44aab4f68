"""LightningDataModule over WebDataset shards (`data=shards data.urls=...`): data that does not fit
on local disk streams from local paths or URLs, one pass per epoch across workers and ranks."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader

from colorlab.core.color import rgb_to_lab
from colorlab.data.shard_io import ShardStream, read_index, shard_urls
from colorlab.data.source import DataSource
from colorlab.data.transforms import eval_transform, train_transform
from colorlab.models import ab_grid

log = logging.getLogger(__name__)


class ShardDataModule(DataSource):
    """The splits written by `python -m colorlab.data.shard_io`; batches as ColorDataModule's.

    Shard `i` of a split is read from `<urls>/<name>`: a folder, an http(s) URL, or a `pipe:` command
    prefix (`pipe:curl -s https://host/shards`); `index` locates index.json when `urls` cannot.

    Training shuffles shards each epoch and samples within `shuffle_buffer`; val/test read in order.
    For DDP, give at least (ranks x workers) shards per split, ideally a multiple: each rank reads
    whole shards, so ranks with fewer samples finish their epoch early.
    """

    def __init__(
        self,
        urls: str,
        index: str | None = None,
        image_size: int = 224,
        batch_size: int = 16,
        num_workers: int = 0,
        crop_scale: Sequence[float] | None = (0.5, 1.0),
        min_chroma: float = 1.0,
        shuffle_buffer: int = 1000,
        seed: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if image_size < 1 or batch_size < 1:
            raise ValueError(f"data.image_size={image_size}, data.batch_size={batch_size}: must be positive")
        crop_scale = None if crop_scale is None else tuple(map(float, crop_scale))
        self.save_hyperparameters()
        self.index: dict | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.index is None:
            self.index = read_index(self.hparams.urls, self.hparams.index)
            counts = {name: split["count"] for name, split in self.index["splits"].items()}
            log.info("shards %s: %s", self.hparams.urls, counts)

    def _rank(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _stream(self, split: str, training: bool) -> ShardStream:
        self.setup()
        urls = shard_urls(self.hparams.urls, self.index, split)
        rank, world = self._rank()
        if len(urls) < world * max(1, self.hparams.num_workers):
            log.warning(
                "%s: %d shards for %d ranks x %d workers: some will get none (write more, smaller shards)",
                split, len(urls), world, max(1, self.hparams.num_workers),
            )  # fmt: skip
        size = self.hparams.image_size
        transform, min_side = train_transform(size, self.hparams.crop_scale) if training else eval_transform(size)
        return ShardStream(
            urls, transform, min_side, shuffle=training, buffer=self.hparams.shuffle_buffer,
            seed=self.hparams.seed, rank=rank, world=world, min_chroma=self.hparams.min_chroma if training else 0.0,
        )  # fmt: skip

    def _loader(self, split: str, training: bool) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            self._stream(split, training), batch_size=self.hparams.batch_size, num_workers=workers,
            persistent_workers=workers > 0, pin_memory=self.hparams.pin_memory,
        )  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", training=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", training=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", training=False)

    def eval_dataloader(self, split: str, max_images: int | None = None, protocol: str = "centre_crop") -> DataLoader:
        """A split in shard order with the deterministic centre crop (evaluation)."""
        if max_images is not None:
            raise ValueError("data=shards: evaluation reads whole splits (max_images is not supported)")
        if protocol != "centre_crop":
            raise ValueError(f"protocol={protocol}: data=shards evaluates centre crops only")
        return self._loader(split, training=False)

    def describe(self) -> str:
        return str(self.hparams.urls)

    def color_stats(self, max_images: int | None = 2000) -> ab_grid.ColorStats:
        """The color statistics (ab prior and mean) of the first `max_images` training samples."""
        stream = self._stream("train", training=False)
        return ab_grid.ColorStats.estimate(DataLoader(stream, batch_size=self.hparams.batch_size), max_images)

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> tuple[torch.Tensor, ...]:
        """(B,3,H,W) uint8 RGB on the device -> (L/100, ab/128), as ColorDataModule."""
        return rgb_to_lab(batch)
