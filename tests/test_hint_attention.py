"""Hint attention: a point's colour reaches the cells whose features match its own and no others, the
same as dense attention, and a decoder with it is built, checked and stored like any other."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest
import torch

from colorlab.evaluation import hint_reveal
from colorlab.models import Colorizer, UNetDecoder, model_file
from colorlab.models import hints as hint_maps
from colorlab.models.checkpoints import CheckpointError, load_model, open_model
from colorlab.models.efficientnet import EfficientNetLite0Encoder
from colorlab.models.heads import ClassificationHead
from colorlab.models.hint_attention import HintAttention
from tests.test_hints import hint_net


def identity_attention(channels: int, sharpness: float) -> HintAttention:
    """Queries and keys are the features themselves, scaled: the match is their dot product."""
    attention = HintAttention(channels, dim=channels)
    with torch.no_grad():
        for layer in (attention.query, attention.key):
            layer.weight.copy_(torch.eye(channels).view(channels, channels, 1, 1) * sharpness**0.5)
            layer.bias.zero_()
        attention.none.fill_(sharpness / 2)  # a cell must match a point better than halfway to take it
    return attention


def test_a_point_reaches_the_cells_that_look_like_its_own_and_no_others():
    features = torch.zeros(1, 2, 6, 6)
    features[:, 0, :, :3], features[:, 1, :, 3:] = 1.0, 1.0  # two kinds of surface, left and right
    pooled = torch.zeros(1, 3, 6, 6)
    pooled[0, :, 4, 0] = torch.tensor([0.5, -0.25, 1.0])  # one point on the left
    brought = identity_attention(2, sharpness=40.0)(features, pooled)
    left, right = brought[0, :, :, :3], brought[0, :, :, 3:]
    assert torch.allclose(left[2], torch.ones(6, 3), atol=1e-3)  # all of its weight went to the point
    assert torch.allclose(left[:2], torch.tensor([0.5, -0.25]).view(2, 1, 1).expand(2, 6, 3), atol=1e-3)
    assert right.abs().max() < 1e-3  # the other surface matches the point less than "no point"
    none = identity_attention(2, 40.0)(features, torch.zeros(1, 3, 6, 6))
    assert torch.equal(none, torch.zeros(1, 3, 6, 6))


def test_keys_gathered_at_the_points_give_what_dense_attention_over_every_cell_gives():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(3, 8, 5, 7, generator=generator)
    pooled = torch.zeros(3, 3, 5, 7)
    pooled[:, :2] = torch.rand(3, 2, 5, 7, generator=generator) - 0.5
    pooled[0, 2, 1, 1] = pooled[0, 2, 3, 6] = pooled[0, 2, 4, 0] = 1.0  # photos with 3, 1 and 0 points
    pooled[1, 2, 2, 2] = 1.0
    attention = HintAttention(8, dim=4)
    with torch.no_grad():
        attention.none.fill_(0.3)
    brought = attention(features, pooled)
    query, key = attention.query(features).flatten(2), attention.key(features).flatten(2)
    logits = torch.einsum("bdn,bdm->bnm", query, key) * attention.scale
    logits = logits.masked_fill(pooled[:, 2].flatten(1).unsqueeze(1) == 0, float("-inf"))
    weights = torch.softmax(torch.cat([logits, torch.full((3, 35, 1), 0.3)], 2), 2)[..., :-1]
    colour = torch.einsum("bnm,bcm->bcn", weights, pooled[:, :2].flatten(2)).view(3, 2, 5, 7)
    assert torch.allclose(brought[:, :2], colour, atol=1e-5)
    assert torch.allclose(brought[:, 2], weights.sum(2).view(3, 5, 7), atol=1e-5)
    assert brought[2].abs().max() == 0  # a photo without points receives nothing


def test_a_decoder_with_hint_attention_follows_points_and_round_trips_as_a_model_file(tmp_path):
    net = hint_net(attention=(16, 8))
    assert set(net.decoder.attention) == {"16", "8"}
    lightness, ab = torch.rand(1, 1, 64, 64), torch.rand(1, 2, 64, 64) - 0.5
    revealed = hint_reveal.reveal(ab, 3)
    with torch.no_grad():
        automatic, guided = net(lightness), net(lightness, hints=revealed)
        assert torch.equal(automatic, net(lightness, hints=hint_maps.empty(1, 64, 64)))
        assert not torch.equal(automatic, guided)
    model_file.save(tmp_path / "attention.ckpt", net, variant="unet_hints")
    again = load_model(tmp_path / "attention.ckpt")
    assert again.describe()["decoder"]["hint_attention"] == [16, 8]
    with torch.no_grad():
        assert torch.equal(guided, again(lightness, hints=revealed))


@pytest.mark.parametrize("bad", [[4], [3], ["16"], [True], "16", [16, 32]])
def test_attention_strides_outside_the_decoders_path_are_refused(bad):
    decoder = functools.partial(UNetDecoder, skip_strides=[16, 8, 4], hints=True, hint_attention=bad)
    with pytest.raises(ValueError, match="hint_attention"):
        Colorizer(EfficientNetLite0Encoder(weights=None), decoder, ClassificationHead(output_stride=4))
    without = functools.partial(UNetDecoder, skip_strides=[16], hint_attention=[16])
    with pytest.raises(ValueError, match="needs hints"):
        Colorizer(EfficientNetLite0Encoder(weights=None), without)


def test_a_stored_hostile_attention_setting_is_refused_naming_the_file(tmp_path):
    net = hint_net(attention=(16,))
    path = tmp_path / "hostile.ckpt"
    model_file.save(path, net, variant="unet_hints")
    stored = torch.load(path, weights_only=True)
    stored[model_file.MODEL_KEY]["network"]["decoder"]["hint_attention"] = ["16; rm -rf /"]
    torch.save(stored, path)
    with pytest.raises(CheckpointError, match=r"hostile\.ckpt.*hint_attention"):
        load_model(path)


def trial_script():
    """scripts/hint_attention_trial.py as a module."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "hint_attention_trial.py"
    spec = importlib.util.spec_from_file_location("hint_attention_trial", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_grown_model_gives_its_sources_colours_and_training_the_attention_alone_keeps_them_without_points(tmp_path):
    trial = trial_script()
    source = hint_net(unet=True)
    model_file.save(tmp_path / "source.ckpt", source, variant="unet_hints")
    net, packaged = trial.grown(open_model(tmp_path / "source.ckpt"), [16, 8])
    assert not packaged and set(net.decoder.attention) == {"16", "8"}
    lightness, revealed = torch.rand(2, 1, 64, 64), hint_reveal.reveal(torch.rand(2, 2, 64, 64) - 0.5, 4)
    with torch.no_grad():
        assert torch.equal(net(lightness, hints=revealed), source(lightness, hints=revealed))
        automatic = net(lightness)
    trial.attention_only(net)
    before = {key: value.clone() for key, value in net.state_dict().items()}
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        net(lightness, hints=revealed).square().mean().backward()
        optimizer.step()
    changed = {key for key, value in net.state_dict().items() if not torch.equal(value, before[key])}
    assert changed and all(".attention." in key or key.endswith(".weight") for key in changed)
    with torch.no_grad():
        assert torch.equal(net(lightness), automatic)  # the network's own colours, to the last bit
        assert not torch.equal(net(lightness, hints=revealed), source(lightness, hints=revealed))
