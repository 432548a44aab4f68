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


def lab_to_srgb8(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """L/100 (B,1,H,W) and ab/128 (B,2,H,W) -> (B,3,H,W) uint8 sRGB: `lab_to_rgb` * 255, rounded, at a
    fraction of its cost (what colorize, the web page and evaluate write or score).

    kornia's formulas and constants (D65 white, its XYZ->RGB matrix, its sRGB curve), with the matrix
    applied as one matrix product over all pixels (on CPU ~50x cheaper than a 1x1 convolution of 3
    channels), the out-of-gamut clip before the gamma, and every step in place in two float buffers: on
    CPU a fresh temporary of an image's size can cost more than the arithmetic on it (at 512x344,
    `x * x * x` took 40x as long as `x * x`), and this halves the cost of a batch. Equal to kornia's
    result but for about 6 pixels in a million, one level apart (float rounding).
    """
    white, matrix = _xyz_constants(lightness.device)
    batch, _, height, width = lightness.shape
    f = torch.empty(batch, 3, height, width, device=lightness.device)  # f(X/Xn), f(Y/Yn), f(Z/Zn)
    fy = torch.mul(lightness.float(), L_SCALE / 116.0, out=f[:, 1:2]).add_(16.0 / 116.0)
    torch.add(fy, ab[:, :1].float(), alpha=AB_SCALE / 500.0, out=f[:, :1])
    torch.sub(fy, ab[:, 1:].float(), alpha=AB_SCALE / 200.0, out=f[:, 2:]).clamp_(min=0.0)  # Z < 0: out of gamut
    low = f <= 0.2068966
    xyz = f * f
    xyz.mul_(f)
    torch.where(low, f.sub_(4.0 / 29.0).div_(7.787), xyz, out=xyz).mul_(white)
    linear = torch.matmul(matrix, xyz.view(batch, 3, -1), out=f.view(batch, 3, -1)).view_as(f)
    linear.clamp_(0.0, 1.0)  # linear RGB, clipped to the gamut
    dark = torch.le(linear, 0.0031308, out=low)
    dark_encoded = torch.mul(linear, 12.92, out=xyz)
    encoded = linear.clamp_(min=0.0031308).pow_(1 / 2.4).mul_(1.055).sub_(0.055)
    torch.where(dark, dark_encoded, encoded, out=encoded)
    return encoded.mul_(255.0).round_().to(torch.uint8)


@functools.cache
def _xyz_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """kornia's D65 white (1,3,1,1) and its XYZ->linear-RGB matrix (3,3)."""
    white = torch.tensor([0.95047, 1.0, 1.08883]).view(1, 3, 1, 1)
    matrix = kornia.color.xyz_to_rgb(torch.eye(3).view(3, 3, 1, 1))[..., 0, 0].t()
    return white.to(device), matrix.contiguous().to(device)


def gray_rgb(lightness: torch.Tensor) -> torch.Tensor:
    """L/100 (B,1,H,W) -> the grayscale input as (B,3,H,W) sRGB in [0,1] (ab = 0)."""
    return lab_to_rgb(lightness, torch.zeros_like(lightness).expand(-1, 2, -1, -1))


def chroma(ab: torch.Tensor) -> torch.Tensor:
    """ab/128 (B,2,H,W) -> per-pixel chroma sqrt(a^2 + b^2) in ab units (B,H,W)."""
    return torch.linalg.vector_norm(ab.float() * AB_SCALE, dim=1)
