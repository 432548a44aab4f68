"""Metrics against independent references: scikit-image, numpy and hand-computed cases."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from colorlab.core import metrics
from colorlab.core.color import AB_SCALE
from colorlab.evaluation.scoring import summarise
from colorlab.models import ab_grid
from tests.test_color import real_photos


def photos_and_noisy() -> tuple[torch.Tensor, torch.Tensor]:
    truth = torch.from_numpy(real_photos(3, 64)).permute(0, 3, 1, 2)
    noise = torch.from_numpy(np.random.default_rng(0).integers(-30, 30, truth.shape))
    return (truth.int() + noise).clamp(0, 255).to(torch.uint8), truth


def test_psnr_matches_scikit_image():
    pred, truth = photos_and_noisy()
    ours = metrics.psnr(pred, truth)
    for i in range(3):
        ref = peak_signal_noise_ratio(truth[i].numpy(), pred[i].numpy(), data_range=255)
        assert ours[i].item() == pytest.approx(ref, abs=1e-6)
    assert metrics.psnr(truth, truth).tolist() == [metrics.PSNR_CAP] * 3


def test_ssim_matches_scikit_image_gaussian_window():
    pred, truth = photos_and_noisy()
    ours = metrics.ssim(pred, truth)
    for i in range(3):
        ref = structural_similarity(
            truth[i].permute(1, 2, 0).numpy().astype(np.float64),
            pred[i].permute(1, 2, 0).numpy().astype(np.float64),
            channel_axis=-1,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)  # float32 maps vs float64


def brute_force_auc(err: np.ndarray, weights: np.ndarray | None = None) -> float:
    weights = np.ones_like(err) if weights is None else weights
    curve = [(weights * (err <= t)).sum() / weights.sum() for t in range(151)]
    return 100 * float(np.mean(curve))


def test_auc_matches_the_cumulative_curve_computed_threshold_by_threshold():
    rng = np.random.default_rng(1)
    true = torch.from_numpy(rng.uniform(-0.8, 0.8, (2, 2, 16, 16))).float()
    pred = torch.from_numpy(rng.uniform(-0.8, 0.8, (2, 2, 16, 16))).float()
    err = metrics.ab_error(pred, true).numpy()
    weights = torch.from_numpy(rng.uniform(0.1, 5, (2, 16, 16))).float()
    plain, weighted = metrics.auc(pred, true), metrics.auc(pred, true, weights)
    for i in range(2):
        assert plain[i].item() == pytest.approx(brute_force_auc(err[i]), abs=1e-4)
        assert weighted[i].item() == pytest.approx(brute_force_auc(err[i], weights[i].numpy()), abs=1e-4)
    assert torch.allclose(metrics.auc(pred, true, torch.ones(2, 16, 16)), plain)
    assert metrics.auc(true, true).tolist() == [100.0, 100.0]


def test_colorfulness_hand_cases():
    gray = torch.full((1, 3, 8, 8), 120, dtype=torch.uint8)
    assert metrics.colorfulness(gray).item() == pytest.approx(0.0)
    red = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    red[:, 0] = 200  # rg = 200, yb = 100, constant: CF = 0.3 * sqrt(200^2 + 100^2)
    assert metrics.colorfulness(red).item() == pytest.approx(0.3 * (200**2 + 100**2) ** 0.5, rel=1e-6)
    half = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    half[0, 0, 0] = 100  # rg in {100, 0}, yb in {50, 0}: sigma = sqrt(50^2 + 25^2), mu = sqrt(50^2 + 25^2)
    expected = 1.3 * (50**2 + 25**2) ** 0.5
    assert metrics.colorfulness(half).item() == pytest.approx(expected, rel=1e-6)


def test_ddcolor_colorfulness_takes_absolute_opponent_channels():
    half = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    half[0, 0, 0] = 100  # R=100 in the top row: rg in {100, 0}, yb in {50, 0} (same as signed here)
    assert metrics.colorfulness(half, absolute=True).item() == pytest.approx(1.3 * (50**2 + 25**2) ** 0.5)
    mixed = torch.zeros(1, 3, 1, 2, dtype=torch.uint8)
    mixed[0, 0, 0, 0] = 100  # pixel 1: R=100 -> rg=100, yb=50
    mixed[0, 1, 0, 1] = 100  # pixel 2: G=100 -> rg=-100 (|rg|=100), yb=50
    # |.|: rg = {100, 100}, yb = {50, 50}: no spread, CF = 0.3 * sqrt(100^2 + 50^2)
    assert metrics.colorfulness(mixed, absolute=True).item() == pytest.approx(0.3 * (100**2 + 50**2) ** 0.5)
    # signed: rg = {100, -100} (std 100, mean 0), yb = {50, 50}: CF = 100 + 0.3 * 50
    assert metrics.colorfulness(mixed).item() == pytest.approx(100 + 0.3 * 50)


def test_abs_dcf_is_the_difference_of_the_set_means_not_the_mean_of_differences():
    rows = [
        {"cf_abs": 10.0, "cf_abs_true": 30.0},  # -20
        {"cf_abs": 50.0, "cf_abs_true": 20.0},  # +30
    ]
    summary = summarise(rows, bootstrap=200)
    assert summary["abs_dcf_of_means"]["mean"] == pytest.approx(5.0)  # |30 - 25|; the mean |d| would be 25
    rows.append({"cf_abs": 0.0, "cf_abs_true": 40.0})  # means 20 vs 30: 10; the mean |d| would be 30
    summary = summarise(rows, bootstrap=200)
    assert summary["abs_dcf_of_means"]["mean"] == pytest.approx(10.0)
    assert 0 <= summary["abs_dcf_of_means"]["ci_low"] <= summary["abs_dcf_of_means"]["ci_high"]


def test_ab_grid_index_and_weights():
    centres = ab_grid.bin_centres()
    assert centres.shape == (ab_grid.NUM_BINS, 2) and ab_grid.NUM_BINS == 23 * 23
    ab = (centres.T / AB_SCALE).reshape(1, 2, 23, 23)
    assert torch.equal(ab_grid.bin_index(ab).flatten(), torch.arange(ab_grid.NUM_BINS))
    shifted = ab + 4.9 / AB_SCALE  # still nearest to the same centre
    assert torch.equal(ab_grid.bin_index(shifted), ab_grid.bin_index(ab))
    assert ab_grid.histogram(ab).sum() == ab_grid.NUM_BINS
    prior = torch.zeros(ab_grid.NUM_BINS, dtype=torch.float64)
    prior[:2] = torch.tensor([0.75, 0.25])
    weights = ab_grid.inverse_prior_weights(prior)
    assert weights[0] == pytest.approx(4 / 3) and weights[1] == pytest.approx(4) and weights[5] == pytest.approx(4)
