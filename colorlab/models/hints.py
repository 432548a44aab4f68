"""Hints: what a user tells a guided colorizer (Zhang et al. 2017, "Real-Time User-Guided Image
Colorization with Learned Deep Priors").

Local hints are an ab/128 map and a mask at the input's resolution: the pixels where the user says
which colour goes there. A global hint is a colour distribution (a reference photo's, or the truth's
as an oracle): its histogram over the ab grid's bins, its mean chroma and a flag saying it is there.
A decoder that takes hints (`DecoderBase.takes_hints`) reads the local hints pooled to each stride it
works at (`Hints.at`) and the global hint at its first layer.

Training simulates hints from the target ab (`simulate`); evaluation reveals points from the truth
with a fixed seed (colorlab.evaluation.hint_reveal), so every model and run sees the same points.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from colorlab.models import ab_grid

LOCAL_CHANNELS = 3  # pooled a, pooled b (mask-weighted means), and whether any hint falls in the cell
GLOBAL_CHANNELS = ab_grid.NUM_BINS + 2  # histogram, mean chroma, present
MAX_POINTS = 1024  # the most points a photo takes: in training, a sweep, a hints file or the page
MAX_PATCH = 9  # training patches are 1..9 px squares (Zhang et al.)


@dataclass
class Hints:
    """ab (B,2,H,W) ab/128, 0 where no hint; mask (B,1,H,W) 1 where a hint; global_hint (B,GLOBAL_CHANNELS)
    or None (no reference). `at(stride)` pools the local hints to 1/stride, once per stride."""

    ab: torch.Tensor
    mask: torch.Tensor
    global_hint: torch.Tensor | None = None
    _pooled: dict[int, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    @property
    def batch_size(self) -> int:
        return self.ab.shape[0]

    @functools.cached_property
    def _points(self) -> torch.Tensor:
        return points(self.mask)  # found once for every stride

    def at(self, stride: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """(B,3,H/stride,W/stride): the mask-weighted mean ab of each cell and whether it holds a hint."""
        if stride not in self._pooled:
            if stride == 1:
                pooled = torch.cat([self.ab * self.mask, self.mask], dim=1)
            else:
                cells = CellPool(self.mask, stride, ceil=False, index=self._points)
                pooled = torch.cat([cells(self.ab), cells.mask], dim=1).to(self.ab.dtype)
            self._pooled[stride] = pooled
        pooled = self._pooled[stride]
        return pooled if dtype is None else pooled.to(dtype)

    def global_or_none(self) -> torch.Tensor:
        """(B,GLOBAL_CHANNELS): the global hint, or zeros (present flag 0) when there is none."""
        if self.global_hint is not None:
            return self.global_hint
        return self.ab.new_zeros(self.batch_size, GLOBAL_CHANNELS)

    def points_distribution(self, stride: int = 4) -> torch.Tensor:
        """(B,GLOBAL_CHANNELS): the colour distribution of the hinted cells (pooled to 1/`stride`), the
        present flag 1 only where a photo has points; zeros for a photo without."""
        pooled = self.at(stride) if min(self.ab.shape[-2:]) >= 4 * stride else self.at(1)
        present = pooled[:, 2:3]
        given = (present.flatten(1).sum(1, keepdim=True) > 0).to(pooled.dtype)
        return distribution(pooled[:, :2], present) * given

    def with_global(self, global_hint: torch.Tensor | None) -> Hints:
        return Hints(self.ab, self.mask, global_hint)

    def without_points(self) -> Hints:
        """The same global hint, no points: the decoder's answer to it is what the points change."""
        return empty(self.batch_size, *self.ab.shape[-2:], self.ab.device, self.ab.dtype).with_global(self.global_hint)

    @property
    def num_points(self) -> torch.Tensor:
        """(B,) hinted pixels per photo (a patch counts its pixels)."""
        return self.mask.flatten(1).sum(1)


def points(mask: torch.Tensor) -> torch.Tensor:
    """The flat indices of a mask's nonzero pixels: finding them is the costly part of pooling points."""
    return mask.flatten().nonzero().squeeze(1)


class CellPool:
    """The mean of values over the points in each `scale` x `scale` cell (`F.avg_pool2d` of values * mask
    over that of the mask; `ceil`: a partial cell at the right and bottom edges, as `ceil_mode`), from
    the points alone: they are a few pixels of a photo, so gathering them costs far less than pooling
    whole images. `mask` (B,1,H,W) weights the points (`index`: `points(mask)`, when known already);
    `.mask` (B,1,h,w) is 1 in the cells holding one."""

    def __init__(self, mask: torch.Tensor, scale: int, ceil: bool = True, index: torch.Tensor | None = None) -> None:
        batch, _, height, width = mask.shape
        cells = (-(-height // scale), -(-width // scale)) if ceil else (height // scale, width // scale)
        self.shape = (batch, *cells)
        index = points(mask) if index is None else index
        pixel = index % (height * width)
        rows, columns = pixel // width // scale, pixel % width // scale
        if not ceil:  # points in the rows and columns that make no whole cell are left out
            inside = (rows < cells[0]) & (columns < cells[1])
            index, pixel, rows, columns = index[inside], pixel[inside], rows[inside], columns[inside]
        self.item, self.pixel = index // (height * width), pixel
        self.cell = (self.item * cells[0] + rows) * cells[1] + columns
        self.weight = mask.flatten()[index].float()
        total = self.weight.new_zeros(batch * cells[0] * cells[1]).index_add_(0, self.cell, self.weight)
        self.total = total.clamp_min(1e-12).unsqueeze(1)
        self.mask = (total > 0).float().view(batch, 1, *cells)

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """(B,C,H,W) -> (B,C,h,w) float: each cell's weighted mean of `values` at its points (0 where none)."""
        picked = values.flatten(2)[self.item, :, self.pixel].float() * self.weight.unsqueeze(1)  # (points, C)
        sums = picked.new_zeros(self.total.shape[0], values.shape[1]).index_add_(0, self.cell, picked)
        return (sums / self.total).view(*self.shape, -1).permute(0, 3, 1, 2)


def empty(batch: int, height: int, width: int, device=None, dtype=torch.float32) -> Hints:
    """No local and no global hint: the model colorizes automatically."""
    return Hints(
        torch.zeros(batch, 2, height, width, device=device, dtype=dtype),
        torch.zeros(batch, 1, height, width, device=device, dtype=dtype),
    )


def distribution(ab: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """ab/128 (B,2,H,W) -> (B,GLOBAL_CHANNELS): the normalised histogram over the ab grid, the mean
    chroma (ab/128 units) and a present flag of 1. `weight` (B,1,H,W) restricts it (e.g. to a region)."""
    batch = ab.shape[0]
    index = ab_grid.bin_index(ab).flatten(1)  # (B,HW)
    w = torch.ones_like(index, dtype=torch.float32) if weight is None else weight.flatten(1).float()
    offset = torch.arange(batch, device=ab.device).unsqueeze(1) * ab_grid.NUM_BINS
    counts = torch.zeros(batch * ab_grid.NUM_BINS, device=ab.device)
    counts.index_add_(0, (index + offset).flatten(), w.flatten())
    counts = counts.view(batch, ab_grid.NUM_BINS)
    total = w.sum(1, keepdim=True).clamp_min(1e-8)
    chroma = (ab.float().square().sum(1).sqrt().flatten(1) * w).sum(1, keepdim=True) / total
    return torch.cat([counts / total, chroma, torch.ones_like(chroma)], dim=1)


def patch_means(ab: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """The mean ab of square patches, by an integral image: ab (B,2,H,W); top, left, size (B,K) long
    (patches clipped to the photo) -> (B,K,2)."""
    batch, _, height, width = ab.shape
    integral = F.pad(ab.float().cumsum(2).cumsum(3), (1, 0, 1, 0))  # (B,2,H+1,W+1)
    bottom, right = (top + size).clamp(max=height), (left + size).clamp(max=width)
    flat = integral.flatten(2)  # (B,2,(H+1)(W+1))

    def corner(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return flat.gather(2, (y * (width + 1) + x).unsqueeze(1).expand(-1, 2, -1))  # (B,2,K)

    total = corner(bottom, right) - corner(top, right) - corner(bottom, left) + corner(top, left)
    area = ((bottom - top) * (right - left)).clamp_min(1).unsqueeze(1)
    return (total / area).permute(0, 2, 1)


def paint(
    shape: tuple[int, int, int, int],
    top: torch.Tensor,
    left: torch.Tensor,
    size: torch.Tensor,
    colors: torch.Tensor,
    valid: torch.Tensor,
) -> Hints:
    """Local hints from square patches: top, left, size, valid (B,K), colors (B,K,2) ab/128."""
    batch, _, height, width = shape
    device = colors.device
    steps = torch.arange(int(size.max().item()) if size.numel() else 1, device=device)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")
    dy, dx = dy.flatten(), dx.flatten()  # (P,)
    y = top.unsqueeze(-1) + dy  # (B,K,P)
    x = left.unsqueeze(-1) + dx
    inside = (dy < size.unsqueeze(-1)) & (dx < size.unsqueeze(-1)) & (y < height) & (x < width)
    inside &= valid.unsqueeze(-1)
    b = torch.arange(batch, device=device).view(-1, 1, 1).expand_as(y)
    flat = (b * height * width + y * width + x)[inside]
    ab = torch.zeros(batch * height * width, 2, device=device)
    mask = torch.zeros(batch * height * width, device=device)
    ab[flat] = colors.unsqueeze(2).expand(-1, -1, y.shape[-1], -1)[inside]
    mask[flat] = 1.0
    ab = ab.view(batch, height, width, 2).permute(0, 3, 1, 2).contiguous()
    return Hints(ab, mask.view(batch, 1, height, width))


def simulate(
    ab: torch.Tensor,
    generator: torch.Generator | None = None,
    p_continue: float = 7 / 8,
    max_points: int = 64,
    p_no_local: float = 0.125,
    p_global: float = 0.5,
) -> Hints:
    """Training hints from the target ab/128 (B,2,H,W), on its device (Zhang et al. 2017's simulation).

    Per photo a geometric number of points (one more while rand < `p_continue`: 7 on average, capped at
    `max_points`), none for a further `p_no_local` of the photos; each point a square of 1..9 px at a
    location drawn uniformly or Gaussian around the centre (half each), filled with the truth's mean ab
    there. A `p_global` share of the photos also gets its own colour distribution as the global hint.
    """
    batch, _, height, width = ab.shape
    device = ab.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device)

    draws = rand(batch, max_points) < p_continue
    count = draws.long().cumprod(1).sum(1)  # geometric, capped
    count = torch.where(rand(batch) < p_no_local, torch.zeros_like(count), count)
    valid = torch.arange(max_points, device=device).unsqueeze(0) < count.unsqueeze(1)
    size = (rand(batch, max_points) * MAX_PATCH).long() + 1
    gaussian = rand(batch, max_points) < 0.5
    normal = torch.randn(batch, max_points, 2, generator=generator, device=device)
    centre = torch.tensor([height / 2, width / 2], device=device)
    spread = torch.tensor([height / 4, width / 4], device=device)
    uniform = rand(batch, max_points, 2) * torch.tensor([height, width], device=device)
    where = torch.where(gaussian.unsqueeze(-1), centre + normal * spread, uniform)
    top = (where[..., 0] - size / 2).round().long().clamp(0, height - 1)
    left = (where[..., 1] - size / 2).round().long().clamp(0, width - 1)
    colors = patch_means(ab, top, left, size)
    hints = paint(ab.shape, top, left, size, colors, valid)
    given = rand(batch) < p_global
    if given.any():  # the distribution of a 4x-pooled target: the same colours at 1/16 of the cost
        coarse = F.avg_pool2d(ab, 4) if min(height, width) >= 64 else ab
        hints = hints.with_global(distribution(coarse) * given.unsqueeze(1))
    return hints


@dataclass(frozen=True)
class Simulation:
    """The training hints' distribution (`simulate`'s arguments), a config of its own
    (`model.hint_simulation`); validation draws from it with a fixed seed per batch."""

    p_continue: float = 7 / 8
    max_points: int = 64
    p_no_local: float = 0.125
    p_global: float = 0.5

    def __post_init__(self) -> None:
        for name in ("p_continue", "p_no_local", "p_global"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"model.hint_simulation.{name}={value}: must be in [0, 1]")
        if not 0 <= self.max_points <= MAX_POINTS:
            raise ValueError(f"model.hint_simulation.max_points={self.max_points}: must be in 0..{MAX_POINTS}")

    def __call__(self, ab: torch.Tensor, generator: torch.Generator | None = None) -> Hints:
        return simulate(ab, generator, self.p_continue, self.max_points, self.p_no_local, self.p_global)
