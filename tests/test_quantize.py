"""Zhang et al.'s colour classes: gamut, soft-encoding, prior, rebalancing weights, annealed mean,
and a rebalanced model that learns; the U-Net decoder's skips."""

import functools

import pytest
import torch

from colorlab import ab_bins, quantize
from colorlab.color import AB_SCALE, rgb_to_lab
from colorlab.heads import ClassificationHead
from colorlab.module import ColorizationModule
from colorlab.nets import Decoder, EfficientNetLite0Encoder, UNetDecoder, VGG16Encoder, count_parameters
from tests.test_color import real_photos
from tests.test_module import fit_one_batch, smooth_batch


def test_gamut_has_262_bins_and_holds_every_real_pixel():
    mask = quantize.gamut_mask()
    assert mask.sum().item() == 262  # Zhang et al. report 313 with their own quantisation
    assert quantize.gamut_centres().shape == (262, 2)
    _, ab = rgb_to_lab(torch.from_numpy(real_photos(8, 64)).permute(0, 3, 1, 2))
    assert mask[ab_bins.bin_index(ab)].all()  # every sRGB pixel's nearest cell is kept
    extremes = torch.tensor(
        [[[[255]], [[0]], [[0]]], [[[0]], [[255]], [[0]]], [[[0]], [[0]], [[255]]]], dtype=torch.uint8
    )  # pure red, green, blue
    assert mask[ab_bins.bin_index(rgb_to_lab(extremes)[1])].all()


def test_soft_encoding_sums_to_one_and_peaks_at_the_nearest_bin():
    centres = quantize.gamut_centres()
    ab = torch.tensor([[[[12.0, -31.0]], [[48.0, 3.0]]]]) / AB_SCALE  # (1,2,1,2): two pixels
    index, weights = quantize.soft_encode(ab, centres)
    assert index.shape == weights.shape == (1, 5, 1, 2)
    assert torch.allclose(weights.sum(1), torch.ones(1, 1, 2))
    nearest = centres[index[0, 0, 0]]
    assert torch.equal(nearest, torch.tensor([[10.0, 50.0], [-30.0, 0.0]]))
    assert (weights[:, 0] >= weights[:, 1:].max(1).values).all()
    distance = (centres[index[0, :, 0, 0]] - torch.tensor([12.0, 48.0])).norm(dim=1)
    expected = torch.softmax(-(distance**2) / (2 * 5.0**2), 0)
    assert torch.allclose(weights[0, :, 0, 0], expected)


def test_rebalancing_weights_have_unit_expectation_under_the_prior():
    counts = torch.zeros(ab_bins.NUM_BINS, dtype=torch.float64)
    counts[ab_bins.bin_index(torch.zeros(1, 2, 1, 1)).item()] = 1000  # mostly gray
    counts[ab_bins.bin_index(torch.tensor([40.0, 60.0]).view(1, 2, 1, 1) / AB_SCALE).item()] = 10
    prior = quantize.smoothed_prior(counts)
    assert prior.sum().item() == pytest.approx(1.0) and (prior > 0).sum() > 2  # smoothing spreads mass
    weights = quantize.rebalancing_weights(prior)
    assert (prior * weights).sum().item() == pytest.approx(1.0)
    gray = quantize.gamut_centres().norm(dim=1).argmin()
    assert weights[gray] < 1 < weights.max()  # common colours count less, rare ones more


def test_annealed_mean_is_the_expectation_at_t1_and_the_mode_as_t_goes_to_0():
    centres = quantize.gamut_centres()
    torch.manual_seed(0)
    logits = torch.randn(1, len(centres), 2, 3) * 3
    logits.scatter_add_(1, logits.argmax(1, keepdim=True), torch.ones(1, 1, 2, 3))  # a clear mode
    probs = torch.softmax(logits, dim=1)
    expectation = torch.einsum("bqhw,qc->bchw", probs, centres) / AB_SCALE
    assert torch.allclose(quantize.annealed_mean(logits, centres, 1.0), expectation, atol=1e-6)
    mode = centres[logits.argmax(1)].permute(0, 3, 1, 2) / AB_SCALE
    assert torch.allclose(quantize.annealed_mean(logits, centres, 0.01), mode, atol=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        quantize.annealed_mean(logits, centres, 0.0)


def test_a_rebalanced_model_overfits_a_smooth_batch():
    torch.manual_seed(0)
    head = ClassificationHead()
    module = ColorizationModule(VGG16Encoder(None), Decoder, functools.partial(torch.optim.Adam, lr=1e-3), head=head)
    assert module.decoder(torch.zeros(1, 512, 2, 2)).shape == (1, 262, 32, 32)  # logits at half resolution
    batch = smooth_batch(6)
    head.set_prior(ab_bins.histogram(batch[1]))
    # Cross-entropy against soft targets cannot go below their (weighted) entropy: the excess must halve.
    index, target = quantize.soft_encode(torch.nn.functional.adaptive_avg_pool2d(batch[1], 32), head.centres)
    floor = (head.weights[index[:, 0]] * -(target * target.log()).sum(1)).mean().item()
    module.train()
    with torch.no_grad():
        before = module._step(batch)[0].item() - floor
    fit_one_batch(module, batch, steps=40)
    with torch.no_grad():
        after = module._step(batch)[0].item() - floor
    assert 0 <= after < 0.5 * before, (before, after)
    assert module(batch[0]).shape == batch[1].shape


@pytest.mark.parametrize("encoder_cls", [VGG16Encoder, EfficientNetLite0Encoder])
def test_unet_takes_the_encoders_skips_and_every_parameter_learns(encoder_cls):
    encoder = encoder_cls(None)
    decoder = UNetDecoder(encoder.out_channels, encoder.stride, encoder.skip_channels, norm="batch")
    features, skips = encoder.forward_with_skips(torch.rand(2, 1, 64, 64))
    assert set(skips) == set(encoder.skip_channels)
    out = decoder(features, skips)
    assert out.shape == (2, 2, 64, 64) and out.abs().max() <= 1
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())
    without = UNetDecoder(encoder.out_channels, encoder.stride, {})
    assert count_parameters(decoder) > count_parameters(without)  # the skips widen the convs


def test_unet_rejects_a_stride_it_cannot_reach():
    with pytest.raises(ValueError, match="widths"):
        UNetDecoder(512, 32, {}, widths=(256, 128))
