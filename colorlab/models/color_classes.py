"""Zhang et al. 2016's color classes: the in-gamut ab bins, soft-encoding, rebalancing and decoding.

The ab plane is cut into cells of 10x10 (colorlab.models.ab_grid); a cell is kept when some color inside it is an
sRGB color for some L in [0, 100] (LAB -> RGB within [0, 1]). Every sRGB pixel's nearest cell is
then a kept one. This gives 262 bins (Zhang et al. report 313 from their own quantisation of
ImageNet; the count and mask are tested).
"""

from __future__ import annotations

import functools

import kornia.color
import torch
import torch.nn.functional as F

from colorlab.core.color import AB_SCALE
from colorlab.models import ab_grid

SIGMA = 5.0  # ab units: soft-encoding and prior smoothing (Zhang et al.)
NEIGHBOURS = 5
MIX = 0.5  # lambda: weight of the uniform distribution mixed into the prior
TEMPERATURE = 0.38


@functools.cache
def gamut_mask() -> torch.Tensor:
    """(NUM_BINS,) bool: the grid cells that hold an sRGB color for some L (sampled 5x5 x 101 L)."""
    centres = ab_grid.bin_centres()  # (K,2)
    lightness = torch.linspace(0, 100, 101)
    offsets = torch.tensor([-5.0, -2.5, 0.0, 2.5, 5.0])
    inside = torch.zeros(ab_grid.NUM_BINS, dtype=torch.bool)
    for da in offsets:
        for db in offsets:
            ab = centres + torch.stack([da, db])
            lab = torch.stack(
                [
                    lightness.view(-1, 1).expand(-1, len(ab)),
                    ab[:, 0].expand(len(lightness), -1),
                    ab[:, 1].expand(len(lightness), -1),
                ]
            ).unsqueeze(0)  # (1,3,L,K)
            rgb = kornia.color.lab_to_rgb(lab, clip=False)[0]
            inside |= ((rgb >= -1e-6) & (rgb <= 1 + 1e-6)).all(0).any(0)
    return inside


def gamut_centres() -> torch.Tensor:
    """(Q,2) ab centres of the in-gamut bins, in ab units."""
    return ab_grid.bin_centres()[gamut_mask()]


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, sigma: float = SIGMA, k: int = NEIGHBOURS):
    """ab/128 (B,2,H,W) -> (indices (B,k,H,W) into centres, weights (B,k,H,W) summing to 1).

    Gaussian weights (sigma in ab units) over the k nearest in-gamut bins.
    """
    pixels = ab.float().permute(0, 2, 3, 1).reshape(-1, 2) * AB_SCALE  # (N,2) ab units
    d2 = torch.cdist(pixels, centres.to(pixels)).square()  # (N,Q)
    nearest, index = d2.topk(k, dim=1, largest=False)
    weights = torch.softmax(-nearest / (2 * sigma**2), dim=1)  # = normalised exp(-d^2 / 2 sigma^2)
    b, _, h, w = ab.shape
    return (index.view(b, h, w, k).permute(0, 3, 1, 2), weights.view(b, h, w, k).permute(0, 3, 1, 2))


LOOKUP_STEP = 0.5  # ab units between the soft-encoding table's grid points
LOOKUP_EDGE = 128.0  # the table covers ab in [-128, 128] on both axes (ab/128 in [-1, 1])


def soft_encode_table(
    centres: torch.Tensor, sigma: float = SIGMA, k: int = NEIGHBOURS, step: float = LOOKUP_STEP
) -> tuple[torch.Tensor, torch.Tensor]:
    """The soft-encoding of every point of an ab grid (step `step` ab units over [-128, 128]^2), computed
    once: (indices (G*G,k), weights (G*G,k)), a-major. `soft_encode_lookup` reads it per pixel.

    The k nearest bins and their Gaussian weights depend only on the ab value, so tabulating them
    replaces a (pixels x bins) distance search per batch by one gather; the error is that of rounding
    ab to the grid (at most step/sqrt(2) ab units).
    """
    axis = torch.arange(-LOOKUP_EDGE, LOOKUP_EDGE + step / 2, step)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    grid = torch.stack([a, b]).unsqueeze(0) / AB_SCALE  # (1,2,G,G) ab/128
    index, weights = soft_encode(grid, centres.cpu().float(), sigma, k)  # (1,k,G,G)
    return index[0].flatten(1).T.to(torch.int16).contiguous(), weights[0].flatten(1).T.contiguous()


def soft_encode_lookup(
    ab: torch.Tensor, table: tuple[torch.Tensor, torch.Tensor], step: float = LOOKUP_STEP
) -> tuple[torch.Tensor, torch.Tensor]:
    """ab/128 (B,2,H,W) -> (indices (B,H,W,k), weights (B,H,W,k)) from a `soft_encode_table`
    (pixel-major: the layout of channels-last logits, whose class axis is then the last one)."""
    table_index, table_weights = table
    side = round(2 * LOOKUP_EDGE / step) + 1
    cells = ((ab.float() * AB_SCALE + LOOKUP_EDGE) / step).round().long().clamp(0, side - 1)
    flat = cells[:, 0] * side + cells[:, 1]  # (B,H,W)
    return table_index[flat].long(), table_weights[flat]


def smoothed_prior(counts: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """(NUM_BINS,) pixel counts on the full grid -> (Q,) in-gamut prior, Gaussian-smoothed (sigma in ab)."""
    grid = counts.double().view(1, 1, ab_grid.SIDE, ab_grid.SIDE)
    s = sigma / ab_grid.AB_STEP  # in cells
    radius = max(1, int(3 * s + 0.5))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * s**2))
    g = g / g.sum()
    grid = F.conv2d(grid, g.view(1, 1, 1, -1), padding=(0, radius))
    grid = F.conv2d(grid, g.view(1, 1, -1, 1), padding=(radius, 0))
    prior = grid.flatten()[gamut_mask()]
    return prior / prior.sum()


def rebalancing_weights(prior: torch.Tensor, mix: float = MIX) -> torch.Tensor:
    """(Q,) prior -> (Q,) class weights w proportional to 1 / ((1 - mix) p + mix / Q), with E_p[w] = 1."""
    q = prior.numel()
    w = 1.0 / ((1 - mix) * prior + mix / q)
    return w / (prior * w).sum()


def annealed_mean(logits: torch.Tensor, centres: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """(B,Q,H,W) logits -> ab/128 (B,2,H,W): the mean of softmax(logits)^(1/T) (renormalised) over centres.

    T = 1 is the mean of the predicted distribution; T -> 0 approaches its mode.
    """
    if temperature <= 0:
        raise ValueError(f"temperature={temperature}: must be > 0 (small values approach the mode)")
    # softmax(z)^(1/T) renormalised = softmax(z / T); computed with the classes last (no copy for
    # channels-last logits), then ab back to (B,2,H,W)
    probs = torch.softmax(logits.float().permute(0, 2, 3, 1) / temperature, dim=-1)  # (B,H,W,Q)
    ab = probs @ centres.to(probs)  # (B,H,W,2)
    return ab.permute(0, 3, 1, 2) / AB_SCALE
