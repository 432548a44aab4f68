"""The crops every data source shares: augmented for training, deterministic for evaluation.

Each returns (transform on uint8 (3,H,W) tensors, the smallest short side worth decoding at).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

Transform = Callable[[torch.Tensor], torch.Tensor]


def eval_transform(size: int) -> tuple[Transform, int]:
    """Resize the short side to `size`, then centre crop: the view evaluation and the feature cache use."""
    return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)]), size


def resize_transform(size: int) -> tuple[Transform, int]:
    """Resize to size x size, aspect not kept: the published protocol of DDColor and ColorFormer
    (ImageNet val at 256x256)."""
    return v2.Resize((size, size), antialias=True), size


EVAL_PROTOCOLS = {"centre_crop": eval_transform, "resize": resize_transform}


def train_transform(size: int, crop_scale: Sequence[float] | None) -> tuple[Transform, int]:
    """Random resized crop (area fraction in `crop_scale`) + horizontal flip; `crop_scale=None`: the
    centre crop + flip (what the feature cache can hold)."""
    if crop_scale is None:
        return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size), v2.RandomHorizontalFlip()]), size
    scale = tuple(crop_scale)
    crop = v2.Compose([v2.RandomResizedCrop(size, scale=scale, antialias=True), v2.RandomHorizontalFlip()])
    return crop, math.ceil(size / math.sqrt(scale[0]))  # enough pixels for the smallest crop
