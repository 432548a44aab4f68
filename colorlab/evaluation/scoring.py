"""Evaluating colorizers and baselines on a split, image by image, with bootstrap confidence intervals."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np
import torch

from colorlab.core import metrics
from colorlab.core.color import AB_SCALE, lab_to_srgb8, rgb_to_lab
from colorlab.core.threads import read_ahead
from colorlab.models import ab_grid
from colorlab.models.ab_grid import ColorStats

ACC_THRESHOLDS = (2, 5, 10, 20)
# Per-image metrics, in the order of the CSV and the printed table (reports choose their own columns).
METRIC_KEYS = (
    "psnr",
    "ssim",
    "auc",
    "auc_rebalanced",
    *(f"acc@{t}" for t in ACC_THRESHOLDS),
    "cf",
    "cf_true",
    "dcf",
    "cf_abs",
    "cf_abs_true",
)

Predictor = Callable[[torch.Tensor], torch.Tensor]  # L/100 (B,1,H,W) -> ab/128 (B,2,H,W)


def baselines(stats: ColorStats, seed: int = 0) -> dict[str, Predictor]:
    """gray (ab = 0), mean (the training mean ab everywhere), random (ab drawn from the training prior)."""
    generator = torch.Generator().manual_seed(seed)
    centres = ab_grid.bin_centres() / AB_SCALE  # (K,2) ab/128
    half_bin = ab_grid.AB_STEP / 2 / AB_SCALE

    def gray(lightness: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(lightness).expand(-1, 2, -1, -1)

    def mean(lightness: torch.Tensor) -> torch.Tensor:
        return stats.mean_ab.to(lightness).view(1, 2, 1, 1).expand(lightness.shape[0], -1, *lightness.shape[2:])

    def random(lightness: torch.Tensor) -> torch.Tensor:
        b, _, h, w = lightness.shape
        picks = torch.multinomial(stats.prior.float(), b * h * w, replacement=True, generator=generator)
        jitter = (torch.rand(b * h * w, 2, generator=generator) * 2 - 1) * half_bin  # uniform inside the bin
        ab = (centres[picks] + jitter).view(b, h, w, 2).permute(0, 3, 1, 2)
        return ab.to(lightness)

    return {"gray": gray, "mean": mean, "random": random}


class Truth(NamedTuple):
    """What every predictor is scored against in one batch, computed once for all of them."""

    rgb: torch.Tensor  # (B,3,H,W) uint8
    lightness: torch.Tensor  # L/100 (B,1,H,W)
    ab: torch.Tensor  # ab/128 (B,2,H,W)
    pixel_weights: torch.Tensor  # (B,H,W): rebalancing weight of each pixel's true color
    cf: torch.Tensor  # (B,) colorfulness of the truth, signed and absolute conventions
    cf_abs: torch.Tensor
    window: torch.Tensor  # the truth's local moments for SSIM

    @classmethod
    @torch.no_grad()
    def of(cls, rgb: torch.Tensor, bin_weights: torch.Tensor) -> Truth:
        lightness, ab = rgb_to_lab(rgb)
        weights = bin_weights.to(rgb.device)[ab_grid.bin_index(ab)]
        cf, cf_abs = metrics.colorfulness(rgb), metrics.colorfulness(rgb, absolute=True)
        return cls(rgb, lightness, ab, weights, cf, cf_abs, metrics.local_moments(rgb))


@torch.no_grad()
def score_batch(truth: Truth, pred_ab: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image metrics (B,) each of predicted ab/128 (B,2,H,W) against one batch's truth."""
    pred_rgb = lab_to_srgb8(truth.lightness, pred_ab)
    error = metrics.ab_error(pred_ab, truth.ab)  # (B,H,W), shared by the AuCs and accuracies
    cf, cf_abs = metrics.colorfulness(pred_rgb), metrics.colorfulness(pred_rgb, absolute=True)
    return {
        "psnr": metrics.psnr(pred_rgb, truth.rgb),
        "ssim": metrics.ssim(pred_rgb, truth.rgb, truth.window),
        "auc": metrics.auc_of_error(error),
        "auc_rebalanced": metrics.auc_of_error(error, truth.pixel_weights),
        **{f"acc@{t}": metrics.accuracy_of_error(error, t) for t in ACC_THRESHOLDS},
        "cf": cf,
        "cf_true": truth.cf,
        "dcf": cf - truth.cf,
        "cf_abs": cf_abs,
        "cf_abs_true": truth.cf_abs,
    }


def evaluate(
    predictors: dict[str, Predictor],
    batches: Iterable[torch.Tensor],
    stats: ColorStats,
    device: torch.device | str = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Run each predictor over the same uint8 RGB batches; {name: one dict of metrics per image}."""
    weights = ab_grid.inverse_prior_weights(stats.prior).float()
    records: dict[str, list[dict[str, float]]] = {name: [] for name in predictors}
    for rgb in read_ahead(batches):  # the next batch is decoded while this one is scored
        truth = Truth.of(rgb.to(device), weights)
        for name, predict in predictors.items():
            with torch.autocast(torch.device(device).type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                pred = predict(truth.lightness)
            scores = score_batch(truth, pred.float())
            table = torch.stack([scores[key].double() for key in METRIC_KEYS], 1).cpu().tolist()  # one transfer
            records[name] += [dict(zip(METRIC_KEYS, row, strict=True)) for row in table]
    return records


# Dataset-level metrics: a function of the whole set's per-image values, not a mean over images.
# abs_dcf_of_means: |mean CF(pred) - mean CF(truth)| with the |R-G| colorfulness, as DDColor reports.
DATASET_METRICS = {"abs_dcf_of_means": ("cf_abs", "cf_abs_true")}


def summarise(rows: list[dict[str, float]], bootstrap: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """{metric: {mean, ci_low, ci_high}}: the mean over images and its 95% bootstrap interval; for the
    DATASET_METRICS, the value on the whole set and its interval over the same resamples."""
    if not rows:
        raise ValueError("no images were evaluated")
    rng = np.random.default_rng(seed)
    n = len(rows)
    picks = rng.integers(0, n, size=(bootstrap, n)) if bootstrap > 0 else None
    summary = {}
    for key in rows[0]:
        values = np.array([row[key] for row in rows], dtype=np.float64)
        entry = {"mean": float(values.mean()), "ci_low": math.nan, "ci_high": math.nan}
        if picks is not None:
            means = values[picks].mean(axis=1)
            entry["ci_low"], entry["ci_high"] = (float(v) for v in np.percentile(means, [2.5, 97.5]))
        summary[key] = entry
    for name, (pred_key, true_key) in DATASET_METRICS.items():
        if pred_key not in rows[0]:
            continue
        pred = np.array([row[pred_key] for row in rows], dtype=np.float64)
        true = np.array([row[true_key] for row in rows], dtype=np.float64)
        entry = {"mean": float(abs(pred.mean() - true.mean())), "ci_low": math.nan, "ci_high": math.nan}
        if picks is not None:
            values = np.abs(pred[picks].mean(axis=1) - true[picks].mean(axis=1))
            entry["ci_low"], entry["ci_high"] = (float(v) for v in np.percentile(values, [2.5, 97.5]))
        summary[name] = entry
    return summary


PAIRED_METRICS = ("psnr", "ssim", "auc", "auc_rebalanced", "cf", "dcf")


def paired_differences(
    rows: list[dict[str, float]], baseline_rows: list[dict[str, float]], bootstrap: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """{metric: {mean, ci_low, ci_high}} of (model - baseline) over the same images: the interval of the
    difference from resampling images, which is what says whether a model beats a baseline (two
    separate intervals overlap long before a paired difference stops being clear of zero)."""
    pairs = zip(rows, baseline_rows, strict=True)  # the same images, in the same order
    difference = [{key: row[key] - base[key] for key in PAIRED_METRICS} for row, base in pairs]
    summary = summarise(difference, bootstrap, seed)
    return {key: summary[key] for key in PAIRED_METRICS}
