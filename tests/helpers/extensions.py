"""The README's "Extend colorlab" examples: a decoder, a head, an encoder and a data source, each a
few lines on top of colorlab's contracts (tests/test_extend.py trains with each)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from colorlab.core.color import rgb_to_lab
from colorlab.data.source import DataSource
from colorlab.models import DecoderBase, FrozenEncoder
from colorlab.models.ab_grid import ColorStats
from colorlab.models.heads import RegressionHead


class TinyDecoder(DecoderBase):
    """A 1x1 conv to the head's channels, then straight upsampling to the head's output size."""

    def __init__(self, hidden: int = 8, **contract) -> None:
        super().__init__(**contract)
        self.net = nn.Sequential(
            nn.Conv2d(self.in_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, self.out_channels, 1)
        )

    def forward(self, features, skips=None):
        out = F.interpolate(self.net(features), scale_factor=self.stride // self.output_stride, mode="bilinear")
        return torch.tanh(out) if self.final_activation == "tanh" else out


class L1Head(RegressionHead):
    """Regression with an L1 loss instead of MSE (sharper, less sepia, say)."""

    def loss(self, output, ab):
        return F.l1_loss(output.float(), ab)


class PoolingEncoder(FrozenEncoder):
    """A 'pretrained' encoder without weights: average pooling to stride 32, L repeated on 8 channels."""

    out_channels, stride = 8, 32

    def __init__(self, weights: str | None = None) -> None:  # encoders take `weights` (none needed here)
        super().__init__()
        self.weights = weights
        self.freeze()

    def forward(self, lightness):
        return F.avg_pool2d(lightness, self.stride).repeat(1, self.out_channels, 1, 1)


class RandomPhotos(DataSource):
    """Smooth random color fields made in memory: a data source with no files at all."""

    def __init__(self, image_size: int = 32, batch_size: int = 4, count: int = 16, num_workers: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()
        ramp = torch.linspace(0, 1, image_size).view(1, 1, 1, -1)
        ends = torch.rand(count, 3, 2, generator=torch.Generator().manual_seed(0))
        images = ends[..., :1, None] * (1 - ramp) + ends[..., 1:, None] * ramp  # (N,3,1,S)
        self.images = (images.expand(-1, -1, image_size, -1) * 255).to(torch.uint8)

    def _loader(self, shuffle: bool = False) -> DataLoader:
        return DataLoader(list(self.images), batch_size=self.hparams.batch_size, shuffle=shuffle)  # (3,S,S) uint8 each

    def train_dataloader(self):
        return self._loader(shuffle=True)

    def val_dataloader(self):
        return self._loader()

    def eval_dataloader(self, split, max_images=None, protocol="centre_crop"):
        return self._loader()

    def color_stats(self, max_images=2000):
        return ColorStats.estimate(self._loader(), max_images)

    def describe(self):
        return f"{len(self.images)} random color fields"

    def on_after_batch_transfer(self, batch, dataloader_idx):
        return rgb_to_lab(batch)
