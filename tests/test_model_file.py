"""The model file: versioned, only the model, and every older file still gives the same colors.

tests/data/v1/ holds files of format version 1, written by colorlab before the model file existed:
the first `pretrained:cats` as shipped, and two training checkpoints (a class-head U-Net and a
batch-norm regression decoder on EfficientNet-Lite0, 64 px, 2 steps) from which only the encoder's
ImageNet weights were removed and marked as packaged (they equal the installed package's). Beside
them, `reference_outputs.pt`: each model's ab for three embedded sample photos, computed by that
colorlab version.
"""

from pathlib import Path

import pytest
import torch

from colorlab.models import Colorizer, Decoder, VGG16Encoder, model_file
from colorlab.models.checkpoints import find_checkpoint, load_model, read_checkpoint

V1 = Path(__file__).parent / "data" / "v1"
REFERENCE = torch.load(V1 / "reference_outputs.pt", weights_only=True)


@pytest.mark.parametrize(
    "source, reference",
    [
        (V1 / "pretrained_cats_v1.ckpt", "pretrained_cats"),
        (V1 / "unet_class_train_v1.ckpt", "unet_class"),
        (V1 / "baseline_train_v1.ckpt", "baseline"),
    ],
    ids=["v1 pretrained:cats", "v1 U-Net class checkpoint", "v1 batch-norm checkpoint"],
)
@torch.no_grad()
def test_every_file_version_gives_the_colors_its_own_colorlab_gave(source, reference):
    """The same colours to float rounding: another CPU's kernels (AVX2 against AVX-512) round differently
    in the last bits (seen: 7e-7), far below a colour level (1/128 of ab/128's range is 0.008)."""
    model = load_model(source)
    assert torch.allclose(model(REFERENCE["lightness"]), REFERENCE[reference], rtol=0, atol=1e-5)


def test_a_migration_per_version_and_the_shipped_file_is_the_current_one():
    assert sorted(model_file.MIGRATIONS) == list(range(1, model_file.VERSION))
    shipped = read_checkpoint(find_checkpoint("pretrained:cats"))
    assert set(shipped) == {model_file.MODEL_KEY, "state_dict"}  # only the model: no run config, no optimizer
    assert shipped[model_file.MODEL_KEY]["version"] == model_file.VERSION
    assert not any(key.startswith("net.encoder.") for key in shipped["state_dict"])  # the package has them


def test_a_version_1_file_migrates_to_exactly_the_current_entry():
    meta, state = model_file.to_current(read_checkpoint(V1 / "unet_class_train_v1.ckpt"))
    assert meta["version"] == 2 and meta["variant"] == "unet_class" and meta["image_size"] == 64
    assert meta["network"]["decoder"] == {
        "_target_": "colorlab.nets.UNetDecoder", "norm": None, "dropout": 0.0, "upsample": "nearest",
        "widths": [32, 16, 16, 16, 16, 16], "skip_strides": [16, 8, 4],
    }  # fmt: skip
    assert meta["encoder_weights"] == "package" and all(key.startswith("net.") for key in state)


def test_every_checkpoint_colorlab_trains_is_a_model_file(cli_sweep):
    checkpoint = read_checkpoint(find_checkpoint(cli_sweep / "2_dropout"))
    meta = checkpoint[model_file.MODEL_KEY]
    assert meta["variant"] == "dropout" and meta["network"]["decoder"]["dropout"] == 0.3
    assert meta["network"]["encoder"] == {"_target_": "colorlab.nets.VGG16Encoder"}  # the weights are in the file
    assert meta["encoder_weights"] == "file" and meta["image_size"] == 32


@torch.no_grad()
def test_save_then_load_gives_the_same_network_and_half_keeps_the_statistics_exact(cli_sweep, tmp_path):
    model = load_model(cli_sweep / "0_baseline")
    model_file.save(tmp_path / "full.ckpt", model, "baseline")
    model_file.save(tmp_path / "half.ckpt", model, "baseline", half=True)
    lightness = torch.rand(2, 1, 64, 64)
    assert torch.equal(load_model(tmp_path / "full.ckpt")(lightness), model(lightness))
    half = load_model(tmp_path / "half.ckpt")
    assert torch.allclose(half(lightness), model(lightness), atol=2e-2)
    assert torch.equal(half.color_prior, model.color_prior) and half.color_prior.dtype == torch.float64


def test_a_network_built_in_python_describes_its_own_constructor():
    net = Colorizer(VGG16Encoder(None), Decoder, image_size=64)
    meta = model_file.describe(net, "mine")
    assert meta["network"]["decoder"] == {"_target_": "colorlab.nets.Decoder"}
    assert meta["network"]["head"] == {"_target_": "colorlab.heads.RegressionHead"}
    with pytest.raises(TypeError, match="class or a functools.partial"):
        model_file.describe(Colorizer(VGG16Encoder(None), lambda **kw: Decoder(**kw)), "lambda")


@torch.no_grad()
def test_an_encoder_whose_top_trained_keeps_that_top_in_a_file_without_the_packaged_weights(tmp_path):
    """With `train_from_stride`, only the trained stride-32 stages leave the package's weights: a
    shipped file (encoder weights from the package) stores them, and nothing of the frozen part."""
    from colorlab.models import EfficientNetLite0Encoder, UNetDecoder

    net = Colorizer(EfficientNetLite0Encoder("imagenet", train_from_stride=16), UNetDecoder, image_size=64)
    with torch.no_grad():
        net.encoder.net.conv_head.weight.mul_(0.5)  # as if it trained
    model_file.save(tmp_path / "top.ckpt", net, "top", package_encoder=True)
    stored = torch.load(tmp_path / "top.ckpt", weights_only=True)
    encoder_keys = [k for k in stored["state_dict"] if k.startswith("net.encoder.")]
    top = tuple(f"net.encoder.net.{name}" for name in ("blocks.5", "blocks.6", "conv_head", "bn2"))
    assert encoder_keys and all(k.startswith(top) for k in encoder_keys)
    assert stored["colorlab_model"]["network"]["encoder"]["train_from_stride"] == 16
    loaded = load_model(tmp_path / "top.ckpt")
    lightness = torch.rand(1, 1, 64, 64)
    assert torch.equal(loaded(lightness), net.eval()(lightness))
    assert torch.equal(loaded.encoder.net.conv_head.weight, net.encoder.net.conv_head.weight)


def test_a_bad_cut_in_a_model_file_is_refused(tmp_path):
    from colorlab.models import EfficientNetLite0Encoder, UNetDecoder

    net = Colorizer(EfficientNetLite0Encoder(None, train_from_stride=16), UNetDecoder, image_size=64)
    model_file.save(tmp_path / "top.ckpt", net, "top")
    stored = torch.load(tmp_path / "top.ckpt", weights_only=True)
    stored["colorlab_model"]["network"]["encoder"]["train_from_stride"] = 8
    torch.save(stored, tmp_path / "bad.ckpt")
    with pytest.raises(Exception, match="train_from_stride=8"):
        load_model(tmp_path / "bad.ckpt")
