"""The quantised ab plane (grid step 10, as Zhang et al. 2016) and color priors over it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from colorlab.core.color import AB_SCALE, rgb_to_lab

AB_STEP = 10.0
AB_EDGE = 110.0  # bin centres at -110, -100, ..., 110 on each axis
SIDE = int(2 * AB_EDGE / AB_STEP) + 1  # 23
NUM_BINS = SIDE * SIDE  # 529 on the full grid; the sRGB gamut uses a subset


def bin_centres() -> torch.Tensor:
    """(NUM_BINS, 2) ab centres in ab units, a-major."""
    axis = torch.arange(-AB_EDGE, AB_EDGE + 1, AB_STEP)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], dim=1)


def bin_index(ab: torch.Tensor) -> torch.Tensor:
    """ab/128 (B,2,H,W) -> (B,H,W) index of the nearest grid bin (values past +-110 go to the edge)."""
    cells = ((ab.float() * AB_SCALE + AB_EDGE) / AB_STEP).round().long().clamp(0, SIDE - 1)
    return cells[:, 0] * SIDE + cells[:, 1]


def histogram(ab: torch.Tensor) -> torch.Tensor:
    """ab/128 (B,2,H,W) -> (NUM_BINS,) pixel counts per bin (float64)."""
    return torch.bincount(bin_index(ab).flatten(), minlength=NUM_BINS).double()


@dataclass
class ColorStats:
    """A training set's color statistics: the ab bin prior (rebalancing weights, the `random`
    baseline, the rebalanced head's prior) and the mean ab (the `mean` baseline). Stored with every
    trained model, so it is evaluated against its own training distribution, not the test data's."""

    prior: torch.Tensor  # (NUM_BINS,) probabilities, float64
    mean_ab: torch.Tensor  # (2,) ab/128

    @classmethod
    def estimate(cls, batches: Iterable[torch.Tensor], max_images: int | None = None) -> ColorStats:
        """From uint8 RGB batches (B,3,H,W) of a training split (deterministic crops), the first
        `max_images` images at most."""
        counts = torch.zeros(NUM_BINS, dtype=torch.float64)
        ab_sum, pixels, seen = torch.zeros(2, dtype=torch.float64), 0, 0
        for rgb in batches:
            rgb = rgb[: None if max_images is None else max_images - seen]
            _, ab = rgb_to_lab(rgb)
            counts += histogram(ab)
            ab_sum += ab.double().sum(dim=(0, 2, 3))
            pixels += ab[:, 0].numel()
            seen += rgb.shape[0]
            if max_images is not None and seen >= max_images:
                break
        if pixels == 0:
            raise ValueError("no training images to estimate the color statistics from")
        return cls(prior=counts / counts.sum(), mean_ab=(ab_sum / pixels).float())


def inverse_prior_weights(prior: torch.Tensor) -> torch.Tensor:
    """(NUM_BINS,) probabilities -> per-bin weights 1/p; bins never seen in training get 1/(min seen p)."""
    seen = prior > 0
    floor = prior[seen].min() if seen.any() else torch.tensor(1.0 / NUM_BINS, dtype=prior.dtype)
    return 1.0 / torch.where(seen, prior, floor)
