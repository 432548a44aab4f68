"""CIE LAB conversions and the network's normalisation: the only home of these constants.

The network sees L/100 in [0, 1] and predicts ab/128 in [-1, 1] (the paper's scaling).
Conversions use kornia (sRGB with D65 white, the same definition as scikit-image's `rgb2lab`).
"""

from __future__ import annotations

import functools

import kornia.color
import torch

L_SCALE = 100.0  # L in [0, 100] -> [0, 1]
AB_SCALE = 128.0  # ab in about [-128, 127] -> [-1, 1]


def rgb_to_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,3,H,W) sRGB, uint8 or float in [0,1] -> L/100 (B,1,H,W) in [0,1], ab/128 (B,2,H,W)."""
    if rgb.dtype == torch.uint8:
        rgb = rgb.float() / 255.0
    lab = kornia.color.rgb_to_lab(rgb.float().clamp(0.0, 1.0))
    return lab[:, :1] / L_SCALE, lab[:, 1:] / AB_SCALE


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) uint8 sRGB -> L/100 (B,1,H,W): rgb_to_lab's L alone, ~5x cheaper on full-size photos.

    Uses kornia's own sRGB linearisation (tabulated for the 256 levels) and the Y row of its XYZ
    matrix, then CIE's L* = 116 f(Y) - 16.
    """
    if rgb.dtype != torch.uint8:
        return rgb_to_lab(rgb)[0]
    table = _luminance_table(rgb.device)  # (3,256): each level's contribution to Y, per channel
    y = sum(table[c][rgb[:, c : c + 1].int()] for c in range(3))  # (B,1,H,W) relative luminance, white = 1
    f = torch.where(y > 0.008856, y.clamp(min=0.008856).pow(1 / 3), 7.787 * y + 4 / 29)
    return (116.0 * f - 16.0) / L_SCALE


@functools.cache
def _luminance_table(device: torch.device) -> torch.Tensor:
    levels = torch.arange(256, dtype=torch.float32) / 255.0
    linear = kornia.color.rgb_to_linear_rgb(levels.view(1, 1, 256).expand(3, 1, 256))[0, 0]  # (256,)
    y_row = kornia.color.rgb_to_xyz(torch.eye(3).view(3, 3, 1, 1))[:, 1, 0, 0]  # Y of pure R, G, B
    return (y_row.view(3, 1) * linear.view(1, 256)).to(device)


def lab_to_rgb(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """L/100 (B,1,H,W) and ab/128 (B,2,H,W) -> (B,3,H,W) sRGB float in [0,1] (out-of-gamut clipped)."""
    lab = torch.cat([lightness.float() * L_SCALE, ab.float() * AB_SCALE], dim=1)
    return kornia.color.lab_to_rgb(lab, clip=True)


def gray_rgb(lightness: torch.Tensor) -> torch.Tensor:
    """L/100 (B,1,H,W) -> the grayscale input as (B,3,H,W) sRGB in [0,1] (ab = 0)."""
    return lab_to_rgb(lightness, torch.zeros_like(lightness).expand(-1, 2, -1, -1))


def chroma(ab: torch.Tensor) -> torch.Tensor:
    """ab/128 (B,2,H,W) -> per-pixel chroma sqrt(a^2 + b^2) in ab units (B,H,W)."""
    return torch.linalg.vector_norm(ab.float() * AB_SCALE, dim=1)
