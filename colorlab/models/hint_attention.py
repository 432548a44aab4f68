"""Points carried to the cells that look like theirs (the idea of iColoriT, Yun et al. 2023).

A convolutional decoder carries a point's colour only as far as its receptive field reaches, and
otherwise through the global path, which shifts the whole photo alike. Attention gives the point a long
but selective route: at one stride, every cell compares its features with those of the cells that hold
a point, and receives their colours in proportion to the match. A learned "no point" logit lets a cell
that matches none receive nothing, so a point on a cat reaches the rest of that cat and not the wall.
"""

from __future__ import annotations

import math

import torch
from torch import nn

CHANNELS = 3  # the matched points' mean ab, and how much of the cell's attention went to points


class HintAttention(nn.Module):
    """(B,C,h,w) features and (B,3,h,w) hints pooled to the same stride (`Hints.at`) -> (B,3,h,w): for
    each cell, the attention-weighted ab of the cells holding a point and the weight they took together
    (0 where no cell holds one)."""

    def __init__(self, channels: int, dim: int = 32) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, dim, 1)
        self.key = nn.Conv2d(channels, dim, 1)
        self.none = nn.Parameter(torch.zeros(()))  # the logit of matching no point
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, features: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = features.shape
        present = pooled[:, 2].flatten(1) > 0  # (B,N) cells that hold a point
        if not bool(present.any()):
            return features.new_zeros(batch, CHANNELS, height, width)
        # keys only at the cells holding a point (the most any photo of the batch has): N x M, not N x N
        most = int(present.sum(1).max())
        order = present.to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :most]  # (B,M)
        held = present.gather(1, order)
        query = self.query(features).flatten(2).float()  # (B,d,N)
        key = self.key(features).flatten(2).float()
        key = key.gather(2, order.unsqueeze(1).expand(-1, key.shape[1], -1))  # (B,d,M)
        colours = pooled[:, :2].flatten(2).float()
        colours = colours.gather(2, order.unsqueeze(1).expand(-1, 2, -1))  # (B,2,M)
        logits = torch.einsum("bdn,bdm->bnm", query, key) * self.scale  # (B,N,M)
        logits = logits.masked_fill(~held.unsqueeze(1), float("-inf"))
        none = self.none.float().expand(batch, logits.shape[1], 1)
        weights = torch.softmax(torch.cat([logits, none], dim=2), dim=2)[..., :-1]  # (B,N,M)
        colour = torch.einsum("bnm,bcm->bcn", weights, colours)
        taken = weights.sum(2).unsqueeze(1)
        return torch.cat([colour, taken], dim=1).view(batch, CHANNELS, height, width).to(features.dtype)
