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


def checked_zoom_scale(scale: Sequence[float], setting: str) -> tuple[float, float]:
    """`scale` as (low, high) area fractions; a ValueError naming `setting` unless 0 < low <= high <= 1."""
    low, high = (float(s) for s in scale)
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(f"{setting}={list(scale)}: needs 0 < low <= high <= 1")
    return low, high


def zoomed_views(images: torch.Tensor, seeds: Sequence[int], count: int, scale: Sequence[float]) -> torch.Tensor:
    """`count` zoomed views of each of `images` (B,3,S,S): square crops whose area fraction is uniform in
    `scale`, at a uniform position, resized back to S and mirrored with probability 1/2 -> (B,count,3,S,S).

    Each photo's views come from its own seed, so a cache built twice (or by another rank) holds the
    same views. `scale` is (low, high) as `checked_zoom_scale` returns it.
    """
    size = images.shape[-1]
    low, high = scale
    views = []
    for image, seed in zip(images, seeds, strict=True):
        generator = torch.Generator().manual_seed(seed)
        for _ in range(count):
            area, flip = torch.rand(2, generator=generator).tolist()
            side = max(1, round(size * math.sqrt(low + (high - low) * area)))
            top, left = (int(torch.randint(size - side + 1, (), generator=generator)) for _ in range(2))
            view = v2.functional.resized_crop(image, top, left, side, side, [size, size], antialias=True)
            views.append(view.flip(-1) if flip < 0.5 else view)
    return torch.stack(views).view(len(images), count, *images.shape[1:])
