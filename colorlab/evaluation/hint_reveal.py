"""Evaluation's hints: points revealed from the truth with a fixed seed (the same points for every
model and run), and the non-learned Gaussian blend that a guided model must beat."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from colorlab.models.hints import Hints, paint, patch_means


def reveal(ab: torch.Tensor, points: int, seed: int = 0, patch: int = 6, first: int = 0) -> Hints:
    """Evaluation hints: `points` patches of `patch` px revealed from the truth ab/128 (B,2,H,W) at
    uniformly random locations. Photo i's points depend only on (seed, first + i, its size), and the
    first n of N points are the same for every N: a sweep adds points, it does not redraw them."""
    batch, _, height, width = ab.shape
    tops, lefts = [], []
    for i in range(batch):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + first + i)
        where = torch.rand(max(points, 1), 2, generator=generator)[:points]
        tops.append((where[:, 0] * (height - patch + 1)).long())
        lefts.append((where[:, 1] * (width - patch + 1)).long())
    top = torch.stack(tops).to(ab.device)
    left = torch.stack(lefts).to(ab.device)
    size = torch.full_like(top, patch)
    valid = torch.ones_like(top, dtype=torch.bool)
    return paint(ab.shape, top, left, size, patch_means(ab, top, left, size), valid)


def gaussian_blend(ab: torch.Tensor, hints: Hints, sigma: float, patch_pixels: int = 1) -> torch.Tensor:
    """The non-learned hint baseline: automatic ab/128 (B,2,H,W) with each hint's colour blended in
    around it by a Gaussian of `sigma` px. The blend weight is the hints' Gaussian mass (a patch of
    `patch_pixels` pixels counts once: weight 1 at its centre, 0.61 at sigma), capped at 1; where hints
    overlap, their colours mix by weight (normalised convolution)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, device=ab.device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)

    def blur(x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
        vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
        x = F.conv2d(F.pad(x, (radius, radius, 0, 0)), horizontal, groups=channels)
        return F.conv2d(F.pad(x, (0, 0, radius, radius)), vertical, groups=channels)

    weight = blur(hints.mask)
    colour = blur(hints.ab * hints.mask) / weight.clamp_min(1e-8)
    alpha = (weight / patch_pixels).clamp(max=1.0)
    return (1 - alpha) * ab + alpha * colour
