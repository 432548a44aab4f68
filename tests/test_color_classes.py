"""Zhang et al.'s color classes: gamut, soft-encoding, prior, rebalancing weights, annealed mean,
and a rebalanced model that learns; the U-Net decoder's skips."""

import functools

import pytest
import torch

from colorlab.core.color import AB_SCALE, rgb_to_lab
from colorlab.models import (
    Colorizer,
    Decoder,
    EfficientNetLite0Encoder,
    UNetDecoder,
    VGG16Encoder,
    ab_grid,
    color_classes,
    count_parameters,
)
from colorlab.models.heads import ClassificationHead
from colorlab.training.module import ColorizationModule
from tests.test_color import real_photos
from tests.test_module import fit_one_batch, smooth_batch


def test_gamut_has_262_bins_and_holds_every_real_pixel():
    mask = color_classes.gamut_mask()
    assert mask.sum().item() == 262  # Zhang et al. report 313 with their own quantisation
    assert color_classes.gamut_centres().shape == (262, 2)
    _, ab = rgb_to_lab(torch.from_numpy(real_photos(8, 64)).permute(0, 3, 1, 2))
    assert mask[ab_grid.bin_index(ab)].all()  # every sRGB pixel's nearest cell is kept
    extremes = torch.tensor(
        [[[[255]], [[0]], [[0]]], [[[0]], [[255]], [[0]]], [[[0]], [[0]], [[255]]]], dtype=torch.uint8
    )  # pure red, green, blue
    assert mask[ab_grid.bin_index(rgb_to_lab(extremes)[1])].all()


def test_soft_encoding_sums_to_one_and_peaks_at_the_nearest_bin():
    centres = color_classes.gamut_centres()
    ab = torch.tensor([[[[12.0, -31.0]], [[48.0, 3.0]]]]) / AB_SCALE  # (1,2,1,2): two pixels
    index, weights = color_classes.soft_encode(ab, centres)
    assert index.shape == weights.shape == (1, 5, 1, 2)
    assert torch.allclose(weights.sum(1), torch.ones(1, 1, 2))
    nearest = centres[index[0, 0, 0]]
    assert torch.equal(nearest, torch.tensor([[10.0, 50.0], [-30.0, 0.0]]))
    assert (weights[:, 0] >= weights[:, 1:].max(1).values).all()
    distance = (centres[index[0, :, 0, 0]] - torch.tensor([12.0, 48.0])).norm(dim=1)
    expected = torch.softmax(-(distance**2) / (2 * 5.0**2), 0)
    assert torch.allclose(weights[0, :, 0, 0], expected)


def test_the_lookup_table_gives_the_distance_search_soft_encoding():
    head = ClassificationHead()
    torch.manual_seed(0)
    ab = (torch.rand(2, 2, 40, 40) * 2 - 1) * 0.85  # every corner of the sRGB ab range
    index, weights = color_classes.soft_encode(ab, head.centres)  # (B,5,H,W): the exact search
    table_index, table_weights = head.soft_encode(ab)  # (B,H,W,5): the lookup
    table_index, table_weights = table_index.permute(0, 3, 1, 2), table_weights.permute(0, 3, 1, 2)

    def dense(i, w):  # (B,5,H,W) -> (pixels, Q): the soft target as a distribution over all bins
        flat = lambda t: t.permute(0, 2, 3, 1).reshape(-1, 5)  # noqa: E731
        return torch.zeros(flat(i).shape[0], len(head.centres)).scatter_add_(1, flat(i), flat(w))

    l1 = (dense(table_index, table_weights) - dense(index, weights)).abs().sum(1)
    assert l1.mean() < 0.03 and l1.max() < 0.2, (l1.mean(), l1.max())  # ab rounded to 0.5 ab units
    assert (table_index[:, 0] == index[:, 0]).float().mean() > 0.95  # the nearest bin (ties aside)
    assert torch.allclose(table_weights.sum(1), torch.ones(2, 40, 40))
    on_grid = torch.tensor([[[[12.0, 37.5]], [[-31.0, 60.5]]]]) / AB_SCALE  # exactly on the table's grid
    exact, lookup = color_classes.soft_encode(on_grid, head.centres), head.soft_encode(on_grid)
    assert torch.equal(lookup[0].permute(0, 3, 1, 2), exact[0])
    assert torch.allclose(lookup[1].permute(0, 3, 1, 2), exact[1])


def test_rebalancing_weights_have_unit_expectation_under_the_prior():
    counts = torch.zeros(ab_grid.NUM_BINS, dtype=torch.float64)
    counts[ab_grid.bin_index(torch.zeros(1, 2, 1, 1)).item()] = 1000  # mostly gray
    counts[ab_grid.bin_index(torch.tensor([40.0, 60.0]).view(1, 2, 1, 1) / AB_SCALE).item()] = 10
    prior = color_classes.smoothed_prior(counts)
    assert prior.sum().item() == pytest.approx(1.0) and (prior > 0).sum() > 2  # smoothing spreads mass
    weights = color_classes.rebalancing_weights(prior)
    assert (prior * weights).sum().item() == pytest.approx(1.0)
    gray = color_classes.gamut_centres().norm(dim=1).argmin()
    assert weights[gray] < 1 < weights.max()  # common colors count less, rare ones more


def test_annealed_mean_is_the_expectation_at_t1_and_the_mode_as_t_goes_to_0():
    centres = color_classes.gamut_centres()
    torch.manual_seed(0)
    logits = torch.randn(1, len(centres), 2, 3) * 3
    logits.scatter_add_(1, logits.argmax(1, keepdim=True), torch.ones(1, 1, 2, 3))  # a clear mode
    probs = torch.softmax(logits, dim=1)
    expectation = torch.einsum("bqhw,qc->bchw", probs, centres) / AB_SCALE
    assert torch.allclose(color_classes.annealed_mean(logits, centres, 1.0), expectation, atol=1e-6)
    mode = centres[logits.argmax(1)].permute(0, 3, 1, 2) / AB_SCALE
    assert torch.allclose(color_classes.annealed_mean(logits, centres, 0.01), mode, atol=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        color_classes.annealed_mean(logits, centres, 0.0)


def test_a_rebalanced_model_overfits_a_smooth_batch():
    torch.manual_seed(0)
    head = ClassificationHead()
    decoder = functools.partial(Decoder, up_widths=(128, 64, 64))  # as conf/model/rebalanced.yaml
    module = ColorizationModule(
        Colorizer(VGG16Encoder(None), decoder, head), functools.partial(torch.optim.Adam, lr=1e-3)
    )
    assert module.net.decoder(torch.zeros(1, 512, 2, 2)).shape == (1, 262, 16, 16)  # logits at a quarter
    assert module.net.decoder.blocks[-1][0].kernel_size == (1, 1)  # Zhang et al.'s 1x1 class layer
    batch = smooth_batch(6)
    head.set_prior(ab_grid.histogram(batch[1]))
    # Cross-entropy against soft targets cannot go below their (weighted) entropy: the excess must halve.
    index, target = color_classes.soft_encode(torch.nn.functional.adaptive_avg_pool2d(batch[1], 16), head.centres)
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


def test_unet_puts_a_class_layer_at_a_quarter_of_the_input():
    decoder = UNetDecoder(512, 32, {}, out_channels=262, final_activation=None, output_stride=4, out_kernel=1)
    assert decoder(torch.zeros(1, 512, 2, 2)).shape == (1, 262, 16, 16)


def test_unet_rejects_a_stride_it_cannot_reach():
    with pytest.raises(ValueError, match="widths"):
        UNetDecoder(512, 32, {}, widths=(256, 128))


def test_the_regression_term_adds_the_l1_of_the_distributions_mean_and_moves_it_to_the_truth():
    """regression_weight w: loss = class loss + w * L1(mean ab, truth); its gradient moves the mean."""
    torch.manual_seed(0)
    ab = torch.rand(2, 2, 8, 8) * 0.6 - 0.3
    logits = torch.randn(2, 262, 8, 8, requires_grad=True)
    plain, regressed = ClassificationHead(), ClassificationHead(regression_weight=10.0)
    mean_ab = color_classes.annealed_mean(logits, plain.centres, 1.0)
    expected = plain.loss(logits, ab) + 10.0 * (mean_ab - ab).abs().mean()
    assert torch.allclose(regressed.loss(logits, ab), expected)
    l1 = torch.nn.functional.l1_loss(mean_ab, ab)
    (grad,) = torch.autograd.grad(regressed.loss(logits, ab) - plain.loss(logits, ab), logits)
    step = color_classes.annealed_mean(logits - 0.5 * grad, plain.centres, 1.0)
    assert torch.nn.functional.l1_loss(step, ab) < l1
    with pytest.raises(ValueError, match="regression_weight=-1"):
        ClassificationHead(regression_weight=-1)
