"""Colour-error metrics on the network's ab/128 scale, reported in ab units."""

from __future__ import annotations

import torch

from colorlab.color import AB_SCALE


def ab_error(pred_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """Per-pixel Euclidean ab distance in ab units: (B,2,H,W) ab/128 twice -> (B,H,W)."""
    return torch.linalg.vector_norm((pred_ab.float() - true_ab.float()) * AB_SCALE, dim=1)


def ab_accuracy(pred_ab: torch.Tensor, true_ab: torch.Tensor, threshold: float = 10.0) -> torch.Tensor:
    """Share of each image's pixels whose predicted ab lies within `threshold` ab units: (B,) in [0,1]."""
    return (ab_error(pred_ab, true_ab) <= threshold).float().flatten(1).mean(1)
