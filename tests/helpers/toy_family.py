"""A second model family, as a contributor would add one: a per-pixel network on L (no encoder, no
decoder, no head), registered by name. tests/test_model_family.py trains, saves, loads, evaluates and
colorizes with it through colorlab's own entry points, without touching library code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from colorlab.models.contract import ColorModel
from colorlab.models.registry import register_family


@register_family("toy_pixels")
class PixelColorizer(ColorModel):
    """L/100 -> ab/128 by 1x1 convolutions: colour from lightness alone, pixel by pixel."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.width = width
        self.net = nn.Sequential(nn.Conv2d(1, width, 1), nn.ReLU(), nn.Conv2d(width, 2, 1), nn.Tanh())

    def encode(self, lightness):
        self.check_size(*lightness.shape[-2:])
        return lightness, {}

    def decode_raw(self, features, skips, hints):
        return self.net(features)

    def to_ab(self, output, size, temperature=None):
        if temperature is not None:
            self.check_temperature(temperature)
        return F.interpolate(output, size=size, mode="bilinear") if output.shape[-2:] != size else output

    def loss(self, output, ab):
        return F.mse_loss(output.float(), ab)

    def describe(self) -> dict[str, Any]:
        return {"width": self.width}

    @classmethod
    def from_description(cls, network: Mapping[str, Any], packaged_weights: bool = False, device: str = "cpu"):
        if set(network) != {"width"} or packaged_weights:
            raise ValueError(f"network: a toy_pixels model is described by its width only, not {sorted(network)}")
        width = network["width"]
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 256:
            raise ValueError(f"network.width={width!r}: must be a whole number in 1..256")
        with torch.device(device):
            return cls(width)
