"""Edge-aware propagation of points: a point's colour fills its region, stops at an edge, is kept at
the point, and leaves the photo as it was without points."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from colorlab.evaluation.hint_sweep import far_pixels
from colorlab.inference.propagation import (
    GATE,
    PIN,
    Propagation,
    propagate,
    propagate_all,
    recursive_pass,
    refine,
    spread,
)


def two_regions(size: int = 96, seed: int = 0) -> torch.Tensor:
    """L/100 (1,1,size,size): a dark textured left half and a bright textured right half."""
    generator = torch.Generator().manual_seed(seed)
    light = torch.full((1, 1, size, size), 0.3)
    light[..., size // 2 :] = 0.8
    return light + 0.01 * torch.randn(light.shape, generator=generator)


def point(size: int = 96, y: int = 48, x: int = 20, half: int = 2) -> torch.Tensor:
    mask = torch.zeros(1, 1, size, size)
    mask[..., y - half : y + half, x - half : x + half] = 1
    return mask


def test_the_gate_fills_the_points_region_and_stops_at_the_edge():
    light, mask = two_regions(), point()
    reach, values = propagate(light, mask, torch.full((1, 2, 96, 96), 0.5), GATE)
    assert reach[..., 44:52, 16:24].min() > 0.99  # at the point
    assert reach[..., :, :40].min() > 0.99  # all of its (left) region, far beyond a small disc
    assert reach[..., :, 56:].max() < 0.25  # a 50-unit lightness edge keeps about a sixth
    assert torch.allclose(values[..., :, :40], torch.tensor(0.5), atol=1e-4)  # the point's own value


def test_the_error_spread_fades_with_distance_and_across_the_edge():
    light, mask = two_regions(), point()
    reach, _ = propagate(light, mask, torch.zeros(1, 0, 96, 96))
    assert reach[..., 44:52, 16:24].min() > 0.99 and reach[..., :, :40].mean() > 0.5
    assert reach[..., :, 56:].mean() < 0.1 * reach[..., :, :40].mean()


def test_refine_keeps_the_points_colour_and_the_far_region_and_changes_nothing_without_points():
    light, mask = two_regions(), point()
    automatic = torch.zeros(1, 2, 96, 96)
    guided = torch.full((1, 2, 96, 96), 0.1)  # the network moved everything a little, everywhere
    wanted = torch.tensor([-0.3, -0.5]).view(1, 2, 1, 1).expand(1, 2, 96, 96)  # a blue point
    out = refine(light, automatic, guided, wanted * mask, mask)
    assert torch.allclose(out[..., 46:50, 18:22], wanted[..., 46:50, 18:22], atol=0.02)  # honoured
    assert out[..., :, 60:].abs().mean() < 0.1 * out[..., :, :40].abs().mean()  # across the edge: barely moved
    assert (out[:, 1, :, :40] < -0.2).float().mean() > 0.5  # the region turned blue, not a disc
    assert torch.equal(refine(light, automatic, guided, wanted * 0, mask * 0), guided)
    assert torch.equal(spread(light, automatic, wanted * 0, mask * 0), automatic)


def test_neighbouring_points_of_other_colours_each_keep_their_own():
    """Normalised convolution averages two close points of opposite colours; the pin round gives each
    its own colour back, and leaves the region away from them as the spread made it."""
    light = two_regions()
    red, green = point(x=14), point(x=26)
    mask = red + green
    wanted = torch.tensor([0.4, 0.2]).view(1, 2, 1, 1) * (red - green)
    automatic = torch.zeros(1, 2, 96, 96)
    mixed, kept = spread(light, automatic, wanted, mask, pin=None), spread(light, automatic, wanted, mask)

    def error(ab):
        return ((ab - wanted).abs() * mask).sum() / (2 * mask.sum())

    assert error(mixed) > 0.05 and error(kept) < 0.3 * error(mixed)
    assert torch.allclose(kept[..., 80:, :], mixed[..., 80:, :], atol=0.02)


def step_by_step(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The recursive pass as its definition reads: one causal and one anti-causal sweep, a step at a time."""
    out, n = values.clone(), values.shape[0]
    for i in range(1, n):
        out[i] = out[i] + weights[i] * (out[i - 1] - out[i])
    for i in range(n - 2, -1, -1):
        out[i] = out[i] + weights[i + 1] * (out[i + 1] - out[i])
    return out


@pytest.mark.parametrize("length", [1, 2, 3, 16, 17, 72, 97, 143, 288])  # blocks that divide it, or padded
@pytest.mark.parametrize("blocked", [True, False])
def test_the_recursive_pass_in_blocks_and_step_by_step_follows_its_definition(length, blocked):
    torch.manual_seed(length)
    values = torch.randn(length, 2, 3, 5)
    weights = torch.rand(length, 2, 1, 5) ** 0.1 * (torch.rand(length, 2, 1, 5) > 0.05)  # some edges: 0
    expected = step_by_step(values, weights)
    assert torch.allclose(recursive_pass(values, weights, blocked), expected, atol=1e-5)


def test_filters_run_together_give_what_each_gives_alone():
    """propagate_all shares one filter run among requests of one scale and iterations (stacked in the
    batch, channels padded); each must get exactly its own answer, whatever else runs beside it."""
    light = torch.cat([two_regions(seed=0), two_regions(seed=1)])
    mask = torch.cat([point(), point(x=70) + point(y=20)])
    values = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    requests = [
        (values, Propagation(edge=0.7, scale=4)),
        (values[:, :0], GATE),  # no values, edges and distance apart
        (values[:, :2], PIN),  # another scale and iterations: a run of its own
        (values[:, :1], Propagation(edge=2.0, reach=30.0, gain=2.0, scale=4, separate_edges=True)),
    ]
    for (reach, carried), (request_values, settings) in zip(
        propagate_all(light, mask, requests), requests, strict=True
    ):
        alone_reach, alone_carried = propagate(light, mask, request_values, settings)
        assert carried.shape == alone_carried.shape == request_values.shape
        assert torch.allclose(reach, alone_reach, atol=1e-6) and torch.allclose(carried, alone_carried, atol=1e-5)


def test_far_pixels_are_far_and_of_another_lightness():
    light, mask = two_regions(), point()
    far = far_pixels(light, mask)
    assert far[..., :, 56:].mean() > 0.95 and far[..., :, :40].sum() == 0


@pytest.mark.parametrize("bad", [{"edge": 0.0}, {"reach": float("nan")}, {"gain": -1.0}, {"iterations": 0}])
def test_settings_are_checked(bad):
    with pytest.raises(ValueError, match="propagation"):
        Propagation(**bad)


def test_the_page_answers_first_without_the_decoder_then_with_it(tmp_path):
    """Each change on the page yields twice: at once the points' colours propagated over the decoder's
    last answer (no decoder run), then the decoder's answer; with no points the first answer is the
    automatic colours exactly; a new reference has no first answer (only the decoder can say)."""
    import numpy as np
    from PIL import Image

    from colorlab.inference.guidance import Point
    from colorlab.inference.guided import GuidedPhoto
    from colorlab.inference.webpage import GuidedActions, ResultFolders
    from tests.test_hints import hint_net

    model = hint_net(strong=True)
    gray = np.tile(np.linspace(40, 220, 96, dtype=np.uint8), (64, 1))
    photo = GuidedPhoto(model, Image.fromarray(gray).convert("RGB"))
    assert photo.first_answer([]) is None  # nothing decoded yet
    automatic = photo.ab([])
    blue = Point(x=20.0, y=30.0, ab=(20.0, -90.0), radius=3.0)
    first = photo.first_answer([blue])
    calls = {"n": 0}
    decode = model.decode
    model.decode = lambda *args, **kwargs: (calls.__setitem__("n", calls["n"] + 1), decode(*args, **kwargs))[1]
    assert photo.first_answer([blue]) is not None and calls["n"] == 0  # no network run
    model.decode = decode
    height, width = automatic.shape[-2:]
    at = (0, slice(None), round(30 * height / 64), round(20 * width / 96))
    assert first[at][1] < automatic[at][1] - 0.3  # the point's colour (b very negative) is there at once
    guided = photo.ab([blue])
    assert torch.equal(photo.first_answer([]), automatic)  # back to no points: the automatic colours
    assert photo.first_answer([blue], reference=torch.ones(3)) is None

    actions = GuidedActions(model, 10**6, None, ResultFolders(root=tmp_path))
    path = tmp_path / "gray.png"
    Image.fromarray(gray).save(path)
    *_, loaded = actions.load(str(path), None, 1.0, 1.0)
    held = loaded[0]
    answers = list(actions.with_points(held, [blue], None, 1.0, 1.0))
    assert [a[-1] for a in answers] == ["1 point(s); refining …", "1 point(s)."]
    assert all(isinstance(a[2], Image.Image) for a in answers)  # a result both times
    assert not isinstance(answers[0][4], str) and Path(answers[1][4]).is_file()  # the download comes with the second
    assert guided.shape == automatic.shape
