"""Colorization metrics, per image: ab errors (on the network's ab/128 scale, in ab units) and the
image-space measures the field reports (PSNR, SSIM, colorfulness). Definitions are in the README."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from colorlab.core.color import AB_SCALE


def ab_error(pred_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """Per-pixel Euclidean ab distance in ab units: (B,2,H,W) ab/128 twice -> (B,H,W)."""
    difference = (pred_ab.float() - true_ab.float()) * AB_SCALE
    return difference.square().sum(1).sqrt()


def ab_accuracy(pred_ab: torch.Tensor, true_ab: torch.Tensor, threshold: float = 10.0) -> torch.Tensor:
    """Share of each image's pixels whose predicted ab lies within `threshold` ab units: (B,) in [0,1]."""
    return accuracy_of_error(ab_error(pred_ab, true_ab), threshold)


def accuracy_of_error(error: torch.Tensor, threshold: float) -> torch.Tensor:
    """`ab_accuracy` from the per-pixel error (B,H,W): evaluation computes the error once for all metrics."""
    return (error <= threshold).float().flatten(1).mean(1)


AUC_MAX_THRESHOLD = 150  # Zhang et al. 2016: thresholds 0, 1, ..., 150 ab units


def auc(pred_ab: torch.Tensor, true_ab: torch.Tensor, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Area under the cumulative ab-error curve over thresholds 0..150 (step 1), in % per image: (B,).

    Exact: a pixel with error e is within threshold t for the integer t in [ceil(e), 150], so its
    share of the 151 thresholds is max(0, 151 - ceil(e)) / 151. `pixel_weights` (B,H,W) rebalance it.
    """
    return auc_of_error(ab_error(pred_ab, true_ab), pixel_weights)


def auc_of_error(error: torch.Tensor, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """`auc` from the per-pixel error (B,H,W)."""
    n = AUC_MAX_THRESHOLD + 1
    share = (n - error.ceil()).clamp(0, n) / n  # (B,H,W)
    if pixel_weights is None:
        return 100.0 * share.flatten(1).mean(1)
    w = pixel_weights.float().flatten(1)
    return 100.0 * (share.flatten(1) * w).sum(1) / w.sum(1)


PSNR_CAP = 50.0  # dB: below one gray level RMS error, 8-bit rounding decides the rest


def psnr(pred_rgb: torch.Tensor, true_rgb: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of uint8 RGB images (B,3,H,W), per image (peak 255), capped at PSNR_CAP.

    The cap keeps exact reconstructions (a gray photo under the gray baseline: infinite PSNR) from
    dominating a mean, and makes the value independent of how a LAB->RGB implementation rounds.
    """
    mse = (pred_rgb.double() - true_rgb.double()).square().flatten(1).mean(1)
    return (10.0 * torch.log10(255.0**2 / mse.clamp_min(1e-12))).clamp_max(PSNR_CAP)


SSIM_KERNEL, SSIM_SIGMA = 11, 1.5  # Gaussian window (Wang et al. 2004)
SSIM_C1, SSIM_C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2  # data range 255


def ssim(pred_rgb: torch.Tensor, true_rgb: torch.Tensor, true_window: torch.Tensor | None = None) -> torch.Tensor:
    """SSIM of uint8 RGB images (B,3,H,W), per image: Gaussian window sigma 1.5, data range 255.

    The mean is over the SSIM map where the window lies inside the image (no border padding), averaged
    over channels: scikit-image's definition. `true_window`: `local_moments(true_rgb)`, when several
    predictions are scored against the same truth.
    """
    x, y = pred_rgb.float(), true_rgb.float()
    mu_y, yy = local_moments(true_rgb) if true_window is None else true_window
    mu_x, xx, xy = _window(torch.stack([x, x * x, x * y]))
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return (numerator / denominator).flatten(1).mean(1)


def local_moments(rgb: torch.Tensor) -> torch.Tensor:
    """The Gaussian-window mean of an image's values and of their squares: (2,B,3,H-10,W-10)."""
    y = rgb.float()
    return _window(torch.stack([y, y * y]))


def _window(maps: torch.Tensor) -> torch.Tensor:
    """The 11x11 Gaussian window over (K,B,C,H,W) maps, inside the image: one depthwise convolution
    with every map as a channel, the layout oneDNN's depthwise kernel is fast on (about 5x torchmetrics'
    grouped convolution over 3 channels here)."""
    k, b, c, h, w = maps.shape
    window = _gaussian_window(maps.device).expand(k * b * c, 1, -1, -1)
    local = F.conv2d(maps.reshape(1, k * b * c, h, w), window, groups=k * b * c)
    return local.view(k, b, c, h - SSIM_KERNEL + 1, w - SSIM_KERNEL + 1)


@functools.cache
def _gaussian_window(device: torch.device) -> torch.Tensor:
    """The 11x11 Gaussian window (sigma 1.5, sums to 1) as a (1,1,11,11) kernel."""
    offsets = torch.arange(SSIM_KERNEL, dtype=torch.float64) - SSIM_KERNEL // 2
    taps = torch.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    taps = taps / taps.sum()
    return torch.outer(taps, taps).float().view(1, 1, SSIM_KERNEL, SSIM_KERNEL).to(device)


def colorfulness(rgb: torch.Tensor, absolute: bool = False) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colorfulness of uint8 RGB (B,3,H,W), per image, on the 0-255 scale.

    rg = R - G, yb = (R + G)/2 - B;  CF = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2).
    `absolute=True`: rg = |R - G|, yb = |(R + G)/2 - B|, as DDColor's and its successors' evaluation
    code computes it (so the numbers can be set beside their tables).
    """
    r, g, b = rgb.double().unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    if absolute:
        rg, yb = rg.abs(), yb.abs()
    sigma = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False)).sqrt()
    mu = (rg.mean(1).square() + yb.mean(1).square()).sqrt()
    return (sigma + 0.3 * mu).float()
