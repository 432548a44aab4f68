"""One model contract: a second family, defined in the test folder, goes through training, the model
file, evaluation and colorize with no change to colorlab."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf, open_dict
from PIL import Image

from colorlab.evaluation.results import evaluate_run
from colorlab.inference.photo import colorize_image
from colorlab.models import model_file
from colorlab.models.checkpoints import CheckpointError, find_checkpoint, load_model, read_checkpoint
from colorlab.train import train
from tests.conftest import compose_config, smooth_image, tiny_overrides
from tests.helpers.toy_family import PixelColorizer


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy")
    photo_dir = tmp / "photos"
    for i in range(24):
        (photo_dir / f"set{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(48, seed=i)).save(photo_dir / f"set{i % 3}" / f"img{i}.jpg")
    cfg = compose_config(["data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp)], tmp / "run")
    with open_dict(cfg):
        cfg.model.net = OmegaConf.create({"_target_": "tests.helpers.toy_family.PixelColorizer", "width": 6})
        cfg.model.variant = "toy"
    metrics = train(cfg)
    assert metrics["train/loss"] > 0 and metrics["val/loss"] > 0
    return tmp / "run", photo_dir


def test_a_second_family_trains_and_its_checkpoint_is_a_model_file_of_that_family(toy_run):
    run, _ = toy_run
    meta = read_checkpoint(find_checkpoint(run))[model_file.MODEL_KEY]
    assert meta["family"] == "toy_pixels" and meta["network"] == {"width": 6}
    model = load_model(run)
    assert isinstance(model, PixelColorizer) and model.width == 6 and model.color_stats is not None


@torch.no_grad()
def test_a_second_family_evaluates_and_colorizes(toy_run, tmp_path):
    run, photos = toy_run
    data = {"_target_": "colorlab.data.ColorDataModule", "root": str(photos), "image_size": 32, "num_workers": 0}
    result = evaluate_run(run, data=data, bootstrap=50, device="cpu", out=tmp_path / "eval", hints=[0, 1])
    assert {"toy", "gray baseline", "mean baseline"} <= set(result["results"])
    assert (tmp_path / "eval" / "metrics.json").is_file() and "hints" in result
    photo = Image.open(next(photos.rglob("*.jpg")))
    colored = colorize_image(photo, load_model(run))
    assert colored.size == photo.size and colored.mode == "RGB"


def test_a_file_naming_an_unregistered_family_is_refused_by_name(toy_run, tmp_path):
    run, _ = toy_run
    checkpoint = read_checkpoint(find_checkpoint(run))
    checkpoint[model_file.MODEL_KEY]["family"] = "os.system"
    torch.save(checkpoint, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="family 'os.system' is not registered"):
        load_model(tmp_path / "other.ckpt")


def test_an_installed_package_offers_its_family_through_an_entry_point(monkeypatch):
    from colorlab.models import registry

    loaded = []

    class Offer:  # what importlib.metadata lists for an installed package's [project.entry-points]
        name = "plugin_pixels"

        def load(self):
            loaded.append(self.name)
            return registry.register_family("plugin_pixels")(type("PluginPixels", (PixelColorizer,), {}))

    monkeypatch.setattr(registry, "FAMILIES", dict(registry.FAMILIES))  # undone after the test
    monkeypatch.setattr(
        "importlib.metadata.entry_points", lambda group: [Offer()] if group == "colorlab.families" else []
    )
    assert registry.family("plugin_pixels").__name__ == "PluginPixels" and loaded == ["plugin_pixels"]
    registry.family("plugin_pixels")
    assert loaded == ["plugin_pixels"]  # loaded once, when first named
    with pytest.raises(KeyError, match="'elsewhere' is not registered"):
        registry.family("elsewhere")
