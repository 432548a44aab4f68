"""Evaluation: baselines, bootstrap summaries, and the gray baseline on real cats vs an independent
numpy/scikit-image implementation."""

import shutil

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab
from skimage.metrics import peak_signal_noise_ratio
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from colorlab.data.images import ImageFiles
from colorlab.data.photo_files import find_images, split_files
from colorlab.evaluation.scoring import ColorStats, baselines, evaluate, paired_differences, summarise
from colorlab.models import ab_grid
from tests.conftest import SHARED

CATS = SHARED / "cats"


def uniform_stats() -> ColorStats:
    return ColorStats(
        prior=torch.full((ab_grid.NUM_BINS,), 1.0 / ab_grid.NUM_BINS, dtype=torch.float64), mean_ab=torch.zeros(2)
    )


def reference_gray_metrics(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """AuC, PSNR, CF of the gray prediction and CF of the truth for one (H,W,3) uint8 image."""
    lab = rgb2lab(rgb)
    err = np.hypot(lab[..., 1], lab[..., 2])  # |ab - 0|
    auc = 100 * np.mean([(err <= t).mean() for t in range(151)])
    gray = lab.copy()
    gray[..., 1:] = 0
    gray_rgb = np.round(lab2rgb(gray) * 255).astype(np.uint8)
    psnr = min(peak_signal_noise_ratio(rgb, gray_rgb, data_range=255), 50.0)  # colorlab caps at 50 dB

    def cf(img):
        r, g, b = (img[..., i].astype(np.float64) for i in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        return np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())

    return auc, psnr, cf(gray_rgb), cf(rgb)


@pytest.mark.skipif(not CATS.is_dir(), reason=f"{CATS} not present")
def test_gray_baseline_on_cats_test_split_matches_an_independent_implementation():
    # The test split exactly as the DataModule makes it (hash split, resize + centre crop), without its scan.
    test = split_files(CATS, find_images(CATS), (0.8, 0.1, 0.1))["test"]
    assert 1100 < len(test) < 1400  # ~10% of 12,481
    transform = v2.Compose([v2.Resize(64, antialias=True), v2.CenterCrop(64)])
    loader = DataLoader(ImageFiles(test, transform, min_side=64), batch_size=128)
    records = evaluate({"gray": baselines(uniform_stats())["gray"]}, loader, uniform_stats())["gray"]
    ours = summarise(records, bootstrap=0)
    reference = np.array([reference_gray_metrics(img.permute(1, 2, 0).numpy()) for batch in loader for img in batch])
    assert len(records) == len(reference) == len(test)
    auc, psnr, cf, cf_true = reference.mean(axis=0)
    assert ours["auc"]["mean"] == pytest.approx(auc, abs=0.1)
    assert ours["psnr"]["mean"] == pytest.approx(psnr, abs=0.1)
    assert ours["cf"]["mean"] == pytest.approx(cf, abs=0.1)
    assert ours["cf_true"]["mean"] == pytest.approx(cf_true, abs=0.1)


def test_baselines_predict_what_they_say():
    prior = torch.zeros(ab_grid.NUM_BINS, dtype=torch.float64)
    target = ab_grid.bin_index(torch.tensor([30.0, -20.0]).view(1, 2, 1, 1) / 128).item()
    prior[target] = 1.0
    stats = ColorStats(prior=prior, mean_ab=torch.tensor([0.1, -0.2]))
    chosen = baselines(stats, seed=0)
    lightness = torch.rand(2, 1, 8, 8)
    assert chosen["gray"](lightness).abs().max() == 0
    assert torch.allclose(chosen["mean"](lightness)[:, :, 3, 4], torch.tensor([[0.1, -0.2]] * 2))
    drawn = chosen["random"](lightness) * 128  # all from the one bin: within +-5 of its centre
    assert (drawn[:, 0] - 30).abs().max() <= 5 and (drawn[:, 1] + 20).abs().max() <= 5
    assert drawn.std() > 1  # and really random inside it


def test_color_stats_from_batches():
    rgb = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    rgb[:, 0] = 255  # pure red: a ~ 80, b ~ 67
    stats = ColorStats.estimate([rgb])
    assert stats.prior.sum().item() == pytest.approx(1.0)
    assert stats.prior.argmax() == ab_grid.bin_index(stats.mean_ab.view(1, 2, 1, 1)).item()
    assert stats.mean_ab[0] * 128 == pytest.approx(80.1, abs=0.5)


def test_summary_has_bootstrap_intervals_around_the_mean():
    rows = [{"x": float(v)} for v in np.random.default_rng(0).normal(5, 1, 200)]
    summary = summarise(rows, bootstrap=500)["x"]
    assert summary["ci_low"] < summary["mean"] < summary["ci_high"]
    assert 0.1 < summary["ci_high"] - summary["ci_low"] < 0.5  # ~ 2 * 1.96 / sqrt(200)
    with pytest.raises(ValueError, match="no images"):
        summarise([])


def test_paired_differences_see_a_small_steady_gain_that_separate_intervals_hide():
    """Images vary a lot, the model beats the baseline on each by ~0.3: the separate intervals overlap,
    the paired interval of the difference is narrow and clear of zero."""
    rng = np.random.default_rng(0)
    keys = ("psnr", "ssim", "auc", "auc_rebalanced", "cf", "dcf")
    base = [{k: float(v) for k in keys} for v in rng.normal(90, 3, 300)]
    model = [{k: row[k] + 0.3 + float(rng.normal(0, 0.1)) for k in keys} for row in base]
    separate = summarise(model, 1000)["auc"], summarise(base, 1000)["auc"]
    assert separate[0]["ci_low"] < separate[1]["ci_high"]  # the separate intervals overlap
    paired = paired_differences(model, base, 1000)["auc"]
    assert 0.28 < paired["ci_low"] < paired["mean"] < paired["ci_high"] < 0.32
    with pytest.raises(ValueError):
        paired_differences(model, base[:-1])


def test_two_evaluations_of_the_same_photos_pair_photo_by_photo(tmp_path):
    """scripts/paired.py: A − B per photo with its interval; photos in another order are refused."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from colorlab.evaluation.results import read_per_image

    keys = ("psnr", "ssim", "auc", "auc_rebalanced", "cf", "dcf")
    for name, offset, files in (("a", 1.0, ["x.jpg", "y.jpg", "z.jpg"]), ("b", 0.0, ["x.jpg", "y.jpg", "z.jpg"]),
                                ("c", 0.0, ["y.jpg", "x.jpg", "z.jpg"])):  # fmt: skip
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"variant": "m"}))
        rows = [f"m,{f},{','.join(str(i + offset) for _ in keys)}" for i, f in enumerate(files)]
        rows += [f"mean baseline,{f},{','.join('0' for _ in keys)}" for f in files]
        (folder / "per_image.csv").write_text("predictor,file," + ",".join(keys) + "\n" + "\n".join(rows) + "\n")
    files, rows = read_per_image(tmp_path / "a")
    assert files == ["x.jpg", "y.jpg", "z.jpg"] and [r["psnr"] for r in rows] == [1.0, 2.0, 3.0]
    script = Path(__file__).resolve().parents[1] / "scripts" / "paired.py"
    out = tmp_path / "paired.md"
    done = subprocess.run([sys.executable, script, tmp_path / "a", tmp_path / "b", "--out", out],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "| a − b | 3 | +1.00 [+1.00, +1.00] |" in out.read_text()
        and "*Written by `python scripts/paired.py" in out.read_text()
    )
    refused = subprocess.run([sys.executable, script, tmp_path / "a", tmp_path / "c"], capture_output=True, text=True)
    assert refused.returncode == 2 and "did not evaluate the same photos" in refused.stderr


def test_the_frontier_keeps_earlier_points_and_says_where_each_was_measured(tmp_path):
    """scripts/frontier.py: folders and an earlier points file make one table; a folder replaces the
    earlier point of its name; each row's commit, date and machine are named."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    def stat(mean):
        return {"mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1}

    def evaluation(name, auc, where):
        folder = tmp_path / name
        folder.mkdir(parents=True)
        differences = {"m - mean baseline": {"auc": stat(auc), "auc_rebalanced": stat(0.5)},
                       "m - gray baseline": {"psnr": stat(1.0)}}  # fmt: skip
        metrics = {"variant": "m", "temperature": 1.0, "images": 4, "differences": differences,
                   "results": {"m": {"dcf": stat(-14.0)}}, "measured": where}  # fmt: skip
        (folder / "metrics.json").write_text(json.dumps(metrics))
        return folder

    first = {"commit": "aaa", "date": "2026-01-01 00:00 UTC", "machine": "one"}
    second = {"commit": "bbb", "date": "2026-02-01 00:00 UTC", "machine": "two"}
    script = Path(__file__).resolve().parents[1] / "scripts" / "frontier.py"
    points, table = tmp_path / "points.json", tmp_path / "table.md"
    old = [evaluation(f"old/{name}", auc, first) for name, auc in (("x", 0.3), ("y", 0.4))]
    done = subprocess.run([sys.executable, script, *old, "--points", points], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shutil.rmtree(tmp_path / "old")  # the evaluations are gone; their points stay
    new = [evaluation(f"new/{name}", auc, second) for name, auc in (("y", 0.9), ("z", 0.7))]
    done = subprocess.run([sys.executable, script, points, *new, "--table", table, "--out", tmp_path / "plot.png"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = table.read_text()
    assert [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ")][1:] == ["x", "y", "z"]
    assert "| y | 1.0 | +0.90 [+0.80, +1.00] |" in text and "| y | 1.0 | +0.40" not in text
    assert "- x: evaluated at commit aaa, 2026-01-01 00:00 UTC, one." in text
    assert "- y, z: evaluated at commit bbb, 2026-02-01 00:00 UTC, two." in text
    assert (tmp_path / "plot.png").stat().st_size > 0
    missing = subprocess.run([sys.executable, script, tmp_path / "nowhere"], capture_output=True, text=True)
    assert missing.returncode == 2 and "nowhere" in missing.stderr
