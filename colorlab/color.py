"""CIE LAB conversions and the network's normalisation: the only home of these constants.

The network sees L/100 in [0, 1] and predicts ab/128 in [-1, 1] (the paper's scaling).
Conversions use kornia (sRGB with D65 white, the same definition as scikit-image's `rgb2lab`).
"""

from __future__ import annotations

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
