"""Colorization metrics, per image: ab errors (on the network's ab/128 scale, in ab units) and the
image-space measures the field reports (PSNR, SSIM, colourfulness). Definitions are in the README."""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from colorlab.color import AB_SCALE


def ab_error(pred_ab: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
    """Per-pixel Euclidean ab distance in ab units: (B,2,H,W) ab/128 twice -> (B,H,W)."""
    return torch.linalg.vector_norm((pred_ab.float() - true_ab.float()) * AB_SCALE, dim=1)


def ab_accuracy(pred_ab: torch.Tensor, true_ab: torch.Tensor, threshold: float = 10.0) -> torch.Tensor:
    """Share of each image's pixels whose predicted ab lies within `threshold` ab units: (B,) in [0,1]."""
    return (ab_error(pred_ab, true_ab) <= threshold).float().flatten(1).mean(1)


AUC_MAX_THRESHOLD = 150  # Zhang et al. 2016: thresholds 0, 1, ..., 150 ab units


def auc(pred_ab: torch.Tensor, true_ab: torch.Tensor, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Area under the cumulative ab-error curve over thresholds 0..150 (step 1), in % per image: (B,).

    Exact: a pixel with error e is within threshold t for the integer t in [ceil(e), 150], so its
    share of the 151 thresholds is max(0, 151 - ceil(e)) / 151. `pixel_weights` (B,H,W) rebalance it.
    """
    n = AUC_MAX_THRESHOLD + 1
    share = (n - ab_error(pred_ab, true_ab).ceil()).clamp(0, n) / n  # (B,H,W)
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


SSIM_KERNEL = 11  # Gaussian window, sigma 1.5 (Wang et al. 2004)


def ssim(pred_rgb: torch.Tensor, true_rgb: torch.Tensor) -> torch.Tensor:
    """SSIM of uint8 RGB images (B,3,H,W), per image: Gaussian window sigma 1.5, data range 255.

    The mean is over the SSIM map without its 5-pixel border (where the window leaves the image),
    averaged over channels: scikit-image's definition (torchmetrics' own reduction differs slightly).
    """
    _, full = structural_similarity_index_measure(
        pred_rgb.float(),
        true_rgb.float(),
        data_range=255.0,
        kernel_size=SSIM_KERNEL,
        sigma=1.5,
        reduction="none",
        return_full_image=True,
    )
    border = SSIM_KERNEL // 2
    return full[..., border:-border, border:-border].flatten(1).mean(1).float()


def colourfulness(rgb: torch.Tensor, absolute: bool = False) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness of uint8 RGB (B,3,H,W), per image, on the 0-255 scale.

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
