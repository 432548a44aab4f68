"""The data-source contract: what training, evaluation and reports ask of a datamodule.

Both `ColorDataModule` (a folder) and `ShardDataModule` (WebDataset shards) implement it; `train()`,
`evaluate` and `compare` use nothing else. Loaders yield uint8 RGB (B,3,H,W); `on_after_batch_transfer`
turns a batch into (L/100, ab/128) on the device.
"""

from __future__ import annotations

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from colorlab.models.ab_grid import ColorStats


class DataSource(pl.LightningDataModule):
    """Base class of colorlab's datamodules (Lightning's train/val/test loaders, plus these)."""

    def eval_dataloader(self, split: str, max_images: int | None = None, protocol: str = "centre_crop") -> DataLoader:
        """A split in a fixed order, deterministic views (`centre_crop` or `resize`), for evaluation."""
        raise NotImplementedError

    def eval_names(self, split: str) -> list[str] | None:
        """The photos of `eval_dataloader(split)` in its order, when known in advance (else None)."""
        return None

    def color_stats(self, max_images: int | None = 2000) -> ColorStats:
        """The training split's color statistics (ab prior and mean), kept with a trained model."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where the photos come from, for logs and reports."""
        raise NotImplementedError

    def image_size(self) -> int:
        return int(self.hparams.image_size)
