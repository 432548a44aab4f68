"""Hints: simulation and revelation from the truth, the decoder contract with hints, the blend
baseline, a user's points and reference photo, and the colorize and evaluate commands with them."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from colorlab.evaluation import hint_reveal
from colorlab.evaluation.hint_sweep import (
    BLEND,
    MODEL,
    PINNED,
    PROPAGATED,
    REFINED,
    check_counts,
    summarise_sweep,
    sweep,
)
from colorlab.inference import guidance
from colorlab.inference.photo import colorize_image
from colorlab.models import Colorizer, Decoder, UNetDecoder, ab_grid, model_file
from colorlab.models import hints as hint_maps
from colorlab.models.ab_grid import ColorStats
from colorlab.models.checkpoints import load_model
from colorlab.models.efficientnet import EfficientNetLite0Encoder
from colorlab.models.heads import ClassificationHead
from tests.conftest import smooth_image

ROOT = Path(__file__).resolve().parents[1]


def random_ab(batch: int = 3, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 2, size, size, generator=generator) * 1.2 - 0.6


def hint_net(unet: bool = True, seed: int = 0, strong: bool = False, attention: tuple[int, ...] = ()) -> Colorizer:
    """A small random hint model; `strong` makes the local hints weigh heavily (a visible effect);
    `attention`: the U-Net's hint attention strides."""
    torch.manual_seed(seed)
    if unet:
        decoder = functools.partial(
            UNetDecoder,
            widths=[64, 32, 32, 16, 16, 16],
            skip_strides=[16, 8, 4],
            hints=True,
            hint_attention=list(attention),
        )
        head = ClassificationHead(output_stride=4)
    else:
        decoder, head = functools.partial(Decoder, widths=[32, 32], up_widths=[16, 16, 8], hints=True), None
    net = Colorizer(EfficientNetLite0Encoder(weights=None), decoder, head, image_size=64)
    prior = torch.linspace(1.0, 5.0, ab_grid.NUM_BINS)
    net.set_color_stats(ColorStats(prior=prior / prior.sum(), mean_ab=torch.tensor([0.02, 0.05])))
    for layer in net.decoder.global_layer:  # away from the zero start, so the global hint has an effect
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight, std=0.05)
    if strong:
        with torch.no_grad():
            for conv in net.decoder.modules():
                if isinstance(conv, torch.nn.Conv2d) and conv.in_channels > hint_maps.LOCAL_CHANNELS + 2:
                    conv.weight[:, -hint_maps.LOCAL_CHANNELS :] *= 100  # the hint channels come last
    return net.eval()


def test_revealed_points_are_the_truths_patch_means_the_same_every_time_and_nested():
    ab = random_ab()
    five, again, ten = (
        hint_reveal.reveal(ab, 5, seed=3),
        hint_reveal.reveal(ab, 5, seed=3),
        hint_reveal.reveal(ab, 10, seed=3),
    )
    assert torch.equal(five.mask, again.mask) and torch.equal(five.ab, again.ab)
    assert bool((ten.mask >= five.mask).all())  # the first 5 of 10 are the 5
    assert not torch.equal(hint_reveal.reveal(ab, 5, seed=4).mask, five.mask)
    assert five.num_points.max() <= 5 * 36 and five.num_points.min() >= 36  # 6x6 patches (they may overlap)
    one = hint_reveal.reveal(ab, 1, seed=0)
    ys, xs = torch.nonzero(one.mask[0, 0], as_tuple=True)
    patch = ab[0, :, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert torch.allclose(one.ab[0, :, ys[0], xs[0]], patch.mean((1, 2)), atol=1e-5)
    assert hint_reveal.reveal(ab, 0).num_points.sum() == 0
    # photo i's points do not depend on the batch it is in
    alone = hint_reveal.reveal(ab[1:2], 5, seed=3, first=1)
    assert torch.equal(alone.mask, five.mask[1:2])


def test_simulated_hints_follow_the_training_distribution():
    generator = torch.Generator().manual_seed(0)
    ab = random_ab(batch=400, size=48)
    hints = hint_maps.simulate(ab, generator)
    assert hints.ab.shape == ab.shape and hints.mask.shape == (400, 1, 48, 48)
    without = (hints.num_points == 0).float().mean()
    assert 0.12 < without < 0.36  # the geometric draw's zeros (1/8) plus the p_no_local share (1/8)
    given = hints.global_hint[:, -1]
    assert 0.4 < given.mean() < 0.6 and set(given.unique().tolist()) <= {0.0, 1.0}
    histogram = hints.global_hint[given == 1, : ab_grid.NUM_BINS]
    assert torch.allclose(histogram.sum(1), torch.ones(len(histogram)))
    inside = hints.mask.bool().expand_as(ab)
    assert bool((hints.ab[~inside] == 0).all()) and hints.ab[inside].abs().max() <= 0.6
    none = hint_maps.Simulation(p_no_local=1.0, p_global=0.0)(ab[:8])
    assert none.num_points.sum() == 0 and none.global_hint is None
    with pytest.raises(ValueError, match="model.hint_simulation.p_global"):
        hint_maps.Simulation(p_global=1.5)


def test_points_pooled_from_the_points_alone_match_pooling_whole_images():
    """Cells take their mean value over their points by gathering the points; it must equal
    avg_pool2d(values * mask) / avg_pool2d(mask), with partial border cells (ceil) or without (the
    decoder's strides), fractional weights included."""
    generator = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 23, 30, generator=generator) > 0.9) * torch.rand(2, 1, 23, 30, generator=generator)
    values = torch.randn(2, 3, 23, 30, generator=generator)
    for scale in (2, 4, 8):
        for ceil in (True, False):
            pool = hint_maps.CellPool(mask, scale, ceil=ceil)
            weight = F.avg_pool2d(mask, scale, ceil_mode=ceil)
            expected = F.avg_pool2d(values * mask, scale, ceil_mode=ceil) / weight.clamp_min(1e-12)
            assert torch.equal(pool.mask, (weight > 0).float())
            assert torch.allclose(pool(values), expected, atol=1e-6)
    hints = hint_maps.Hints(values[:, :2], mask)
    for stride in (4, 8):
        weight = F.avg_pool2d(mask, stride)
        expected = F.avg_pool2d(values[:, :2] * mask, stride) / weight.clamp_min(1e-12)
        assert torch.allclose(hints.at(stride), torch.cat([expected, (weight > 0).float()], 1), atol=1e-6)


def test_pooled_hints_are_mask_weighted_means_at_each_stride():
    ab = torch.zeros(1, 2, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    ab[0, :, 0, 0], mask[0, 0, 0, 0] = torch.tensor([0.5, -0.5]), 1.0
    pooled = hint_maps.Hints(ab, mask).at(4)
    assert pooled.shape == (1, 3, 2, 2)
    assert torch.allclose(pooled[0, :, 0, 0], torch.tensor([0.5, -0.5, 1.0]))  # not diluted by the empty cells
    assert pooled[0, :, 1, 1].abs().sum() == 0


@pytest.mark.parametrize("unet", [True, False])
def test_a_decoder_with_hints_colorizes_without_them_and_follows_them(unet):
    net = hint_net(unet)
    lightness = torch.rand(2, 1, 64, 64)
    automatic = net(lightness)
    assert torch.equal(automatic, net(lightness, hints=hint_maps.empty(2, 64, 64)))  # None is no hints
    revealed = hint_reveal.reveal(random_ab(2), 5)
    assert not torch.allclose(automatic, net(lightness, hints=revealed))
    with_global = revealed.with_global(hint_maps.distribution(random_ab(2, seed=1)))
    assert not torch.allclose(net(lightness, hints=revealed), net(lightness, hints=with_global))
    assert net.takes_hints


def test_a_model_without_hints_refuses_them_and_hint_models_round_trip(tmp_path):
    plain = Colorizer(EfficientNetLite0Encoder(weights=None), functools.partial(UNetDecoder, skip_strides=[16]))
    with pytest.raises(ValueError, match="does not take hints"):
        plain(torch.rand(1, 1, 64, 64), hints=hint_maps.empty(1, 64, 64))
    net = hint_net()
    model_file.save(tmp_path / "hints.ckpt", net, variant="unet_hints")
    again = load_model(tmp_path / "hints.ckpt")
    lightness, revealed = torch.rand(1, 1, 64, 64), hint_reveal.reveal(random_ab(1), 3)
    assert again.takes_hints and torch.equal(net(lightness, hints=revealed), again(lightness, hints=revealed))


def test_the_blend_baseline_paints_the_points_colour_near_it_and_nothing_far_away():
    automatic = torch.zeros(1, 2, 96, 96)
    ab, mask = torch.zeros(1, 2, 96, 96), torch.zeros(1, 1, 96, 96)
    ab[0, :, 10:12, 10:12], mask[0, 0, 10:12, 10:12] = torch.tensor([0.4, -0.3]).view(2, 1, 1), 1.0
    blended = hint_reveal.gaussian_blend(automatic, hint_maps.Hints(ab, mask), sigma=4.0, patch_pixels=4)
    assert torch.allclose(blended[0, :, 10, 10], torch.tensor([0.4, -0.3]), atol=0.03)
    assert blended[0, :, 60:, 60:].abs().max() < 1e-6
    untouched = hint_reveal.gaussian_blend(automatic + 0.1, hint_maps.empty(1, 96, 96), sigma=4.0)
    assert torch.allclose(untouched, automatic + 0.1)


def test_points_are_parsed_in_pixels_or_fractions_and_bad_ones_are_named():
    points = guidance.parse_points(
        [{"x": 10, "y": 20, "color": "#1e90ff"}, {"x": 0.5, "y": 0.25, "color": [20, -30], "radius": 5}], 200, 100
    )
    assert points[0].rgb == (30, 144, 255) and (points[0].x, points[0].y) == (10, 20)
    assert points[1].ab == (20, -30) and points[1].x == pytest.approx(99.5) and points[1].y == pytest.approx(24.75)
    bad = {
        "lies outside the 200x100 photo": [{"x": 200, "y": 1, "color": "#ffffff"}],
        "unknown keys": [{"x": 1, "y": 1, "color": "#ffffff", "size": 3}],
        r"missing \['color'\]": [{"x": 1, "y": 1}],
        "use #rrggbb": [{"x": 1, "y": 1, "color": "blue"}],
        r"a and b must be in": [{"x": 1, "y": 1, "color": [300, 0]}],
        "must be a number": [{"x": "1", "y": 1, "color": "#ffffff"}],
        "radius": [{"x": 1, "y": 1, "color": "#ffffff", "radius": -2}],
        "expected a list": {"x": 1},
    }
    for message, items in bad.items():
        with pytest.raises(guidance.HintError, match=rf"points.json: cat.jpg.*{message}"):
            guidance.parse_points(items, 200, 100, "points.json: cat.jpg")


def test_a_colour_is_taken_at_the_photos_lightness_and_stays_displayable():
    import kornia

    for rgb in [(255, 255, 0), (30, 144, 255), (200, 30, 30)]:
        for lightness in (15.0, 50.0, 90.0):
            a, b = guidance.ab_at_lightness(rgb, lightness)
            shown = kornia.color.lab_to_rgb(torch.tensor([lightness, a, b]).view(1, 3, 1, 1), clip=False)
            assert bool(((shown > -2e-3) & (shown < 1 + 2e-3)).all())
    yellow_dark, yellow_light = guidance.ab_at_lightness((255, 255, 0), 20), guidance.ab_at_lightness((255, 255, 0), 97)
    assert yellow_light[1] > 60 and 0 < yellow_dark[1] < yellow_light[1]  # same hue, less chroma when dark


def test_local_hints_land_where_the_user_clicked_at_the_network_size():
    points = guidance.parse_points([{"x": 150, "y": 50, "color": [64, 0], "radius": 4}], 200, 100)
    hints = guidance.local_hints(points, torch.full((1, 1, 32, 64), 0.5), (200, 100))
    ys, xs = torch.nonzero(hints.mask[0, 0], as_tuple=True)
    assert 46 <= xs.float().mean() <= 50 and 14 <= ys.float().mean() <= 18  # (150, 50) of 200x100 at 64x32
    assert torch.allclose(hints.ab[0, :, ys[0], xs[0]], torch.tensor([0.5, 0.0]))


def test_the_api_takes_points_and_a_reference_photo():
    net = hint_net()
    photo = Image.fromarray(smooth_image(80, seed=2))
    plain = np.asarray(colorize_image(photo, net))
    pointed = np.asarray(colorize_image(photo, net, hints=[{"x": 40, "y": 40, "color": "#0000ff", "radius": 8}]))
    referenced = np.asarray(colorize_image(photo, net, reference=Image.fromarray(smooth_image(64, seed=9))))
    assert pointed.shape == plain.shape == referenced.shape == (80, 80, 3)
    assert not np.array_equal(plain, pointed) and not np.array_equal(plain, referenced)
    plain_model = Colorizer(EfficientNetLite0Encoder(weights=None), functools.partial(UNetDecoder, skip_strides=[16]))
    with pytest.raises(ValueError, match="does not take hints"):
        colorize_image(photo, plain_model, hints=[{"x": 1, "y": 1, "color": "#0000ff"}])


def test_a_sweep_runs_the_encoder_once_per_photo_and_reports_the_gains():
    net = hint_net()
    calls = []
    original = net.encoder.forward_with_skips
    net.encoder.forward_with_skips = lambda x: calls.append(len(x)) or original(x)
    batches = [
        torch.from_numpy(np.stack([smooth_image(64, s) for s in (i, i + 1)])).permute(0, 3, 1, 2) for i in (0, 2)
    ]
    stats = net.color_stats
    records = sweep(net, batches, stats, [0, 2, 10], global_hint="truth")
    assert calls == [2, 2]  # once per batch, for every N
    assert set(records) == {0, 2, 10} and set(records[0]) == {MODEL, PINNED, REFINED, BLEND, PROPAGATED}
    assert records[0][BLEND] != records[0][MODEL]  # the model gets the global hint even at 0 points
    assert records[0][REFINED] == records[0][MODEL]  # no points: the network's own colours
    for refined, raw in zip(records[10][REFINED], records[10][MODEL], strict=True):  # the points' colours, at them
        assert refined["hint_error"] < 0.25 * raw["hint_error"]
    summary = summarise_sweep(records, bootstrap=50)
    names = (MODEL, PINNED, REFINED, BLEND, PROPAGATED)
    assert set(summary["differences"]["10"]) == {
        *(f"{name} - {baseline}" for name in (MODEL, PINNED, REFINED) for baseline in (BLEND, PROPAGATED)),
        *(f"{name} - {name} at 0" for name in names),
    }
    assert summary["differences"]["10"][f"{BLEND} - {BLEND} at 0"]["psnr"]["mean"] > 0  # the truth, blended in
    with pytest.raises(ValueError, match="hints="):
        check_counts([1, -2])


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def hint_model_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hint_model") / "hints.ckpt"
    model_file.save(path, hint_net(), variant="unet_hints")
    return path


def test_colorize_command_takes_a_hints_file_and_a_reference_photo(hint_model_file, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(smooth_image(96, seed=i)).save(photos / f"cat{i}.png")
    Image.fromarray(smooth_image(64, seed=7)).save(tmp_path / "reference.jpg")
    points = {"cat0.png": [{"x": 10, "y": 12, "color": "#1e90ff"}, {"x": 0.5, "y": 0.5, "color": [10, 40]}]}
    (tmp_path / "points.json").write_text(json.dumps(points))
    done = run(
        ["colorlab.colorize", f"ckpt={hint_model_file}", f"input={photos}", f"output={tmp_path / 'auto'}"], tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    guided = ["colorlab.colorize", f"ckpt={hint_model_file}", f"input={photos}", f"output={tmp_path / 'guided'}",
              f"hints={tmp_path / 'points.json'}", f"reference={tmp_path / 'reference.jpg'}"]  # fmt: skip
    done = run(guided, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 colorized, 0 skipped, 0 failed" in done.stdout
    for name in ("cat0.png", "cat1.png"):  # cat1 has no points, but the reference guides it too
        auto, guide = (np.asarray(Image.open(tmp_path / folder / name)) for folder in ("auto", "guided"))
        assert auto.shape == guide.shape and not np.array_equal(auto, guide)


BAD_HINTS = [  # what a hints file holds -> what its one error line names
    ({"cat0.png": [{"x": 500, "y": 1, "color": "#ffffff"}]}, r"cat0.png\[0\]: \(500, 1\) lies outside the 96x96 photo"),
    ({"dog.png": []}, "'dog.png' matches no input photo"),
    ({"cat0.png": [{"x": 1, "y": 1, "color": "#12345"}]}, r"cat0.png\[0\].color='#12345'"),
    ("not json {", "not a JSON file"),
]


def test_bad_hints_files_get_one_error_line_naming_the_file_and_point(hint_model_file, tmp_path):
    import re
    from concurrent.futures import ThreadPoolExecutor

    commands = []
    for index, (hints, _) in enumerate(BAD_HINTS):
        folder = tmp_path / str(index)
        (folder / "photos").mkdir(parents=True)
        Image.fromarray(smooth_image(96, seed=0)).save(folder / "photos" / "cat0.png")
        (folder / "points.json").write_text(hints if isinstance(hints, str) else json.dumps(hints))
        commands.append(["colorlab.colorize", f"ckpt={hint_model_file}", f"input={folder / 'photos'}",
                         f"output={folder / 'out'}", f"hints={folder / 'points.json'}"])  # fmt: skip
    with ThreadPoolExecutor(2) as pool:  # independent commands, mostly single-core start-up
        results = list(pool.map(lambda command: run(command, tmp_path), commands))
    for index, ((_, message), done) in enumerate(zip(BAD_HINTS, results, strict=True)):
        folder = tmp_path / str(index)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: hints="), done.stderr[-2000:]
        assert str(folder / "points.json") in lines[0] and re.search(message, lines[0]), lines[0]
        assert not (folder / "out").exists() or not list((folder / "out").iterdir())  # nothing written


def test_hints_for_a_model_that_does_not_take_them_are_refused(tmp_path):
    plain = Colorizer(EfficientNetLite0Encoder(weights=None), functools.partial(UNetDecoder, skip_strides=[16]))
    model_file.save(tmp_path / "plain.ckpt", plain.eval(), variant="unet")
    Image.fromarray(smooth_image(96, seed=0)).save(tmp_path / "cat0.png")
    (tmp_path / "points.json").write_text("[]")
    command = ["colorlab.colorize", f"ckpt={tmp_path / 'plain.ckpt'}", f"input={tmp_path / 'cat0.png'}",
               f"output={tmp_path / 'out'}", f"hints={tmp_path / 'points.json'}"]  # fmt: skip
    done = run(command, tmp_path)
    assert done.returncode == 2 and "this model does not take hints" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
