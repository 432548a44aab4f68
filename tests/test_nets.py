import functools
import urllib.error

import pytest
import torch
import torchvision
from torch import nn

from colorlab.models import Decoder, VGG16Encoder, count_parameters

VARIANTS = {
    "baseline": {},
    "batchnorm": {"norm": "batch"},
    "dropout": {"dropout": 0.3},
}
# Table 2 of the paper: (channels, side) after each decoder block for a 224 px input.
DECODER_TABLE = [(256, 7), (128, 7), (64, 14), (32, 28), (16, 56), (2, 112), (2, 224)]
# VGG-16 features: (channels, side) after each of the 5 max-pools for a 224 px input.
ENCODER_TABLE = [(64, 112), (128, 56), (256, 28), (512, 14), (512, 7)]
CONV_PARAMS = sum(9 * a * b + b for a, b in [(512, 256), (256, 128), (128, 64), (64, 32), (32, 16), (16, 2)])


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return VGG16Encoder(weights=None)


def test_encoder_layers_and_shapes_at_224(encoder):
    layers = list(encoder.features)
    assert sum(isinstance(m, nn.Conv2d) for m in layers) == 13
    pools = [m for m in layers if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 5
    shapes = []
    hooks = [p.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:]))) for p in pools]
    out = encoder(torch.rand(1, 1, 224, 224))
    for h in hooks:
        h.remove()
    assert out.shape == (1, 512, 7, 7)
    assert shapes == [(c, s, s) for c, s in ENCODER_TABLE]


def test_encoder_is_frozen_and_stays_in_eval(encoder):
    assert all(not p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.training and not any(m.training for m in encoder.modules())


def test_encoder_normalises_gray_input_for_imagenet(encoder):
    # L copied to 3 channels, then (x - mean) / std: the first conv sees exactly that.
    seen = []
    hook = encoder.features[0].register_forward_hook(lambda m, i, o: seen.append(i[0]))
    lightness = torch.rand(1, 1, 32, 32)
    encoder(lightness)
    hook.remove()
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    expected = (lightness.expand(-1, 3, -1, -1) - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(seen[0], expected)


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_block_shapes_match_table_2(variant):
    decoder = Decoder(**VARIANTS[variant]).eval()
    shapes = []
    for block in decoder.blocks:
        block.register_forward_hook(lambda m, i, o: shapes.append((o.shape[1], o.shape[2])))
    out = decoder(torch.randn(2, 512, 7, 7))
    assert shapes == DECODER_TABLE
    assert out.shape == (2, 2, 224, 224)
    assert out.min() >= -1 and out.max() <= 1  # tanh: ab/128


@pytest.mark.parametrize("variant", VARIANTS)
def test_decoder_structure_of_each_variant(variant):
    decoder = Decoder(**VARIANTS[variant])
    convs = [m for m in decoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (512, 256),
        (256, 128),
        (128, 64),
        (64, 32),
        (32, 16),
        (16, 2),
    ]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    norms = [m for m in decoder.modules() if isinstance(m, nn.BatchNorm2d)]
    drops = [m for m in decoder.modules() if isinstance(m, nn.Dropout)]
    if variant == "batchnorm":  # one before each conv, on its input channels
        assert [n.num_features for n in norms] == [c.in_channels for c in convs]
    else:
        assert not norms
    if variant == "dropout":  # after each hidden activation, not after tanh
        assert len(drops) == 5 and all(d.p == 0.3 for d in drops)
    else:
        assert not drops
    bn_params = sum(2 * c.in_channels for c in convs) if variant == "batchnorm" else 0
    assert count_parameters(decoder) == CONV_PARAMS + bn_params


@pytest.mark.parametrize("size", [32, 64, 96])
def test_decoder_follows_the_encoder_output_size(encoder, size):
    decoder = Decoder(in_channels=encoder.out_channels, stride=encoder.stride)
    assert decoder(encoder(torch.rand(1, 1, size, size))).shape == (1, 2, size, size)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_decoder_parameter_gets_a_gradient(encoder, variant):
    decoder = Decoder(**VARIANTS[variant]).train()
    features = encoder(torch.rand(2, 1, 64, 64))
    decoder(features).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())
    assert all(p.grad is None for p in encoder.parameters())


def test_bad_decoder_arguments_name_the_setting():
    with pytest.raises(ValueError, match="stride"):
        Decoder(stride=16)
    with pytest.raises(ValueError, match="norm"):
        Decoder(norm="layer")
    with pytest.raises(ValueError, match="dropout"):
        Decoder(dropout=1.5)


def test_weights_from_a_local_file_full_or_features_only(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.vgg16(weights=None).features
    full = {f"features.{k}": v for k, v in source.state_dict().items()}
    full["classifier.0.weight"] = torch.zeros(1)  # a full VGG state dict also has the classifier
    for name, state in [("full.pth", full), ("features.pth", source.state_dict())]:
        torch.save(state, tmp_path / name)
        loaded = VGG16Encoder(weights=str(tmp_path / name))
        assert all(
            torch.equal(a, b)
            for a, b in zip(loaded.features.state_dict().values(), source.state_dict().values(), strict=True)
        )


def test_missing_weights_file_names_the_file_and_the_alternatives(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model.net.encoder.weights=.*nope.pth.*null"):
        VGG16Encoder(weights=str(tmp_path / "nope.pth"))
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        VGG16Encoder(weights="IMAGENET_BEST")


def test_no_network_and_no_cache_fails_with_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    expected = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    with pytest.raises(OSError) as err:  # WeightsUnavailableError: a user error (exit 2)
        VGG16Encoder(weights="IMAGENET1K_V1")
    message = str(err.value)
    assert str(expected) in message and "null" in message and ".pth" in message


def test_decoder_factory_gets_the_encoders_channels(encoder):
    factory = functools.partial(Decoder, norm="batch")
    decoder = factory(in_channels=encoder.out_channels, stride=encoder.stride)
    assert decoder.blocks[0][0].num_features == 512


def test_features_are_torchvision_vgg16_features_layer_for_layer():
    from colorlab.models.encoder import vgg16_features

    ours, theirs = vgg16_features(), torchvision.models.vgg16(weights=None).features
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
