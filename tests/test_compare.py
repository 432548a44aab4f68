"""evaluate and compare on a real (tiny) sweep of the three decoders."""

import json
import logging
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorlab.compare import run_compare
from colorlab.core.color import rgb_to_lab
from colorlab.evaluate import run_evaluation
from colorlab.evaluation.report import compare
from tests.conftest import compose_app, compose_evaluate


def test_evaluate_writes_metrics_with_intervals_and_a_per_image_csv(cli_sweep, photo_dir, tmp_path):
    out = tmp_path / "eval"
    result = run_evaluation(compose_evaluate([f"run={cli_sweep / '0_baseline'}", f"out={out}", "bootstrap=50"]))
    assert set(result["results"]) == {"baseline", "gray baseline", "mean baseline", "random baseline"}
    auc = result["results"]["baseline"]["auc"]
    assert auc["ci_low"] <= auc["mean"] <= auc["ci_high"] and 0 < auc["mean"] <= 100
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["images"] == result["images"] > 0 and saved["split"] == "test"
    lines = (out / "per_image.csv").read_text().strip().splitlines()
    assert lines[0].startswith("predictor,file,psnr,ssim,auc") and len(lines) == 1 + 4 * result["images"]
    other = run_evaluation(
        compose_evaluate(
            [
                f"run={cli_sweep / '0_baseline'}",
                f"out={tmp_path / 'other'}",
                "bootstrap=0",
                "data=folder",
                f"data.root={photo_dir}",
                "data.image_size=32",
                "split=val",
            ]
        )
    )
    assert other["data_root"] == str(photo_dir) and other["split"] == "val"


def test_baselines_are_scored_once_for_the_same_photos_and_again_when_a_photo_changes(
    cli_sweep, photo_dir, tmp_path, caplog
):
    cache = tmp_path / "cache"  # photo_dir is this test's own: it may edit a photo
    common = [f"run={cli_sweep / '0_baseline'}", "bootstrap=0", "data=folder", f"data.root={photo_dir}",
              "data.image_size=32", f"data.cache_dir={cache}"]  # fmt: skip
    first = run_evaluation(compose_evaluate([*common, f"out={tmp_path / 'a'}"]))
    assert first["baselines_reused"] == [] and len(list((cache / "baselines").glob("*.json"))) == 3
    again = run_evaluation(compose_evaluate([*common, f"out={tmp_path / 'b'}"]))
    assert again["baselines_reused"] == ["gray", "mean", "random"]
    assert again["results"] == first["results"] and again["differences"] == first["differences"]
    assert (tmp_path / "a" / "per_image.csv").read_text() == (tmp_path / "b" / "per_image.csv").read_text()

    tested = (tmp_path / "a" / "per_image.csv").read_text().splitlines()[1].split(",")[1]
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(tested)  # same name, new content
    edited = run_evaluation(compose_evaluate([*common, f"out={tmp_path / 'c'}"]))
    assert edited["baselines_reused"] == [] and edited["results"] != first["results"]
    seeded = run_evaluation(compose_evaluate([*common, f"out={tmp_path / 'c'}", "seed=1"]))
    assert seeded["baselines_reused"] == []  # another seed: scored anew
    for entry in (cache / "baselines").glob("*.json"):
        entry.write_text("[{}]")  # a damaged entry is recomputed, with a warning
    with caplog.at_level(logging.WARNING):
        damaged = run_evaluation(compose_evaluate([*common, f"out={tmp_path / 'd'}", "seed=1"]))
    assert damaged["baselines_reused"] == [] and "recomputing it" in caplog.text
    assert damaged["results"]["random baseline"] == seeded["results"]["random baseline"]


def test_another_folder_is_all_test_photos_and_baselines_use_the_models_training_colors(cli_sweep, tmp_path):
    from colorlab.models.checkpoints import load_model

    folder = tmp_path / "other"
    folder.mkdir()
    for i in range(5):  # a folder of saturated blue photos: its own mean color would be blue
        Image.fromarray(np.full((40, 40, 3), (20, 40, 200), np.uint8)).save(folder / f"blue{i}.png")
    overrides = [f"run={cli_sweep / '0_baseline'}", "bootstrap=0", "data=folder", f"data.root={folder}"]
    result = run_evaluation(
        compose_evaluate([*overrides, "data.split=[0,0,1]", "data.image_size=32", f"out={tmp_path / 'e'}"])
    )
    assert result["images"] == 5 and "training data" in result["color_stats"]
    model = load_model(cli_sweep / "0_baseline")
    train_mean = model.color_stats.mean_ab * 128
    _, blue = rgb_to_lab(torch.tensor([20, 40, 200], dtype=torch.uint8).view(1, 3, 1, 1))
    # the mean baseline paints the model's training mean, not this folder's blue
    error = (train_mean - blue.flatten() * 128).norm().item()
    auc_if_mean_of_training = 100 * max(0, 151 - math.ceil(error)) / 151
    assert result["results"]["mean baseline"]["auc"]["mean"] == pytest.approx(auc_if_mean_of_training, abs=1.0)


@pytest.mark.parametrize(
    "protocol, expected",
    [("centre_crop", [[0, 255, 0]] * 3), ("resize", [[255, 0, 0], [0, 255, 0], [0, 0, 255]])],
)
def test_evaluation_protocols_crop_or_squeeze_the_photo(tmp_path, protocol, expected):
    from colorlab.data import ColorDataModule

    stripes = np.zeros((32, 96, 3), np.uint8)  # red | green | blue thirds
    for third in range(3):
        stripes[:, 32 * third : 32 * (third + 1), third] = 255
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    datamodule = ColorDataModule(tmp_path, image_size=30, split=(0, 0, 1), min_chroma=0, cache_dir=None)
    datamodule.setup()
    (batch,) = list(datamodule.eval_dataloader("test", protocol=protocol))
    assert batch.shape == (1, 3, 30, 30)
    columns = [batch[0, :, 15, x].tolist() for x in (3, 15, 26)]  # left, middle, right
    assert columns == expected
    with pytest.raises(ValueError, match="protocol=square"):
        datamodule.eval_dataloader("test", protocol="square")


@pytest.mark.parametrize(("override", "message"), [("split=dev", "split=dev"), ("baselines=[gray,oracle]", "oracle")])
def test_evaluate_rejects_bad_settings_by_name(cli_sweep, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        run_evaluation(compose_evaluate([f"run={cli_sweep / '0_baseline'}", f"out={tmp_path}", override]))


def test_compare_reports_every_variant_the_baselines_and_broken_runs(cli_sweep, photo_dir, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(cli_sweep, sweep)
    failed = sweep / "3_batchnorm"  # a job that crashed: no checkpoint, summary says failed
    (failed / ".hydra").mkdir(parents=True)
    (failed / "summary.json").write_text(json.dumps({"status": "failed", "error": "ValueError: boom"}))
    running = sweep / "4_dropout"
    (running / ".hydra").mkdir(parents=True)
    (running / "summary.json").write_text(json.dumps({"status": "running"}))

    run_compare(compose_app("compare", [f"runs={sweep}", "bootstrap=20", "images=3"]), "python -m colorlab.compare x")
    report = sweep / "report"
    text = (report / "report.md").read_text()
    assert "*Written by `python -m colorlab.compare x` at commit " in text  # where the numbers came from
    assert "Written by <code>python -m colorlab.compare x</code>" in (report / "report.html").read_text()
    table = [line for line in text.splitlines() if line.startswith("| ")]
    names = [line.split("|")[1].strip() for line in table[1:]]
    assert names == [
        "0_baseline",
        "1_batchnorm",
        "2_dropout",
        "3_batchnorm",
        "4_dropout",
        "gray baseline",
        "mean baseline",
        "random baseline",
    ]
    assert "failed: ValueError: boom" in table[4] and "still running" in table[5]
    assert sum("**" in line for line in table) >= 1  # best values marked
    assert " [" in table[1].split("|")[3]  # PSNR with its 95% interval
    page = (report / "report.html").read_text()
    assert "**" not in page and "`" not in page and "<b>" in page and "<code>" in page  # rendered, not raw Markdown
    assert "has the best AuC of the 3 evaluated variant(s)" in text and "baseline (paired 95% intervals" in text
    assert (
        "<table>" in (report / "report.html").read_text()
        and "data:image/png;base64" in (report / "report.html").read_text()
    )
    curves, grid = Image.open(report / "curves.png"), Image.open(report / "grid.png")
    assert curves.size == (1100, 750)
    photos = min(3, json.loads((sweep / "0_baseline" / "eval" / "test" / "metrics.json").read_text())["images"])
    assert grid.size == (round(2.2 * 100 * 5), round(2.2 * 100 * photos))  # gray | 3 variants | truth
    assert grid.convert("L").getextrema()[1] > 0

    docs = tmp_path / "docs"  # scripts/publish_report.py: the report's own table on the docs site
    docs.mkdir()
    script = Path(__file__).resolve().parents[1] / "scripts" / "publish_report.py"
    done = subprocess.run([sys.executable, script, report, "--name", "demo", "--docs", docs, "--width", "300"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    published = (docs / "demo_report.md").read_text()
    assert published.startswith("*Written by `python -m colorlab.compare x`") and "![" not in published
    assert [line for line in published.splitlines() if line.startswith("| ")] == table
    assert Image.open(docs / "demo_grid.jpg").size[0] == 300 and (docs / "demo_curves.png").is_file()
    assert str(tmp_path) not in published and "Evaluated on the **test** split of `" in published  # a folder name
    named = subprocess.run([sys.executable, script, report, "--name", "named", "--docs", docs,
                            "--data-name", "the test photos"], capture_output=True, text=True)  # fmt: skip
    assert named.returncode == 0, named.stderr
    assert "Evaluated on the **test** split of the test photos (" in (docs / "named_report.md").read_text()
    refused = subprocess.run([sys.executable, script, tmp_path, "--name", "x", "--docs", docs],
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "report.md" in refused.stderr

    metrics_file = sweep / "0_baseline" / "eval" / "test" / "metrics.json"
    before = metrics_file.stat().st_mtime_ns
    compare([sweep], bootstrap=20, images=3, grid_root=photo_dir)  # reuses what is evaluated
    assert metrics_file.stat().st_mtime_ns == before
    assert Image.open(report / "grid.png").size[0] == round(2.2 * 100 * 5)  # photos from photo_dir


def test_compare_names_a_folder_that_is_not_a_run(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "colorlab.compare", f"runs=[{tmp_path}]"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.count("error:") == 1
    assert "neither a run folder nor a sweep" in done.stderr and "Traceback" not in done.stderr
