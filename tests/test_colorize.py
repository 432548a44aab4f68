"""Colorizing people's photos: every kind of input, bad files, sizes, modes, summary and exit status."""

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import colorlab
from colorlab.colorize import run_colorize
from colorlab.core.color import rgb_to_lab
from colorlab.inference import photo as one_photo
from colorlab.inference.photo import network_size
from colorlab.models.checkpoints import CheckpointError, load_model
from tests.conftest import SAMPLE, compose_app, smooth_image

ROOT = Path(__file__).resolve().parents[1]


def compose_colorize(overrides, name="colorize"):
    return compose_app(name, overrides)


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(smooth_image(max(w, h), seed)[:h, :w]))


@pytest.fixture
def inputs(tmp_path) -> Path:
    """One of each case the CLI must handle, in nested folders."""
    root = tmp_path / "in"
    (root / "album" / "1950s").mkdir(parents=True)
    photo(60, 40).convert("L").save(root / "gray.jpg")
    photo(64, 48, 1).save(root / "color.JPG")
    rgba = photo(50, 30, 2).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(50, dtype=np.uint8) * 5, (30, 1))))
    rgba.save(root / "album" / "alpha.png")
    pal = photo(40, 40, 3).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.info["transparency"] = 0
    pal.save(root / "album" / "palette.png", transparency=0)
    photo(48, 32, 4).convert("CMYK").save(root / "album" / "cmyk.jpg")
    Image.fromarray((np.linspace(0, 65535, 36 * 20).reshape(20, 36)).astype(np.uint16)).save(
        root / "album" / "1950s" / "deep16.png"
    )
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display: 80x40 stored, 40x80 upright
    photo(80, 40, 5).save(root / "album" / "1950s" / "rotated.jpg", exif=exif)
    photo(5, 3, 6).save(root / "tiny.png")
    photo(1500, 1000, 7).save(root / "large.jpg", quality=80)
    buffer = io.BytesIO()
    photo(64, 64, 8).save(buffer, "JPEG")
    (root / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (root / "empty.jpg").write_bytes(b"")
    (root / "notes.jpg").write_text("this is not a photo")
    return root


def digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def test_cli_colorizes_every_kind_of_input_and_reports_bad_files(cli_sweep, inputs, tmp_path, capsys):
    before = digests(inputs)
    out = tmp_path / "out"
    tally = run_colorize(compose_colorize([f"ckpt={cli_sweep / '0_baseline'}", f"input={inputs}", f"output={out}"]))
    assert tally.line() == "9 colorized, 0 skipped, 3 failed"
    err = capsys.readouterr().err
    for name in ("truncated.jpg", "empty.jpg", "notes.jpg"):
        assert f"failed: {inputs / name}" in err
    assert digests(inputs) == before  # inputs untouched

    expected = {
        "gray.jpg": (60, 40),
        "color.JPG": (64, 48),
        "album/alpha.png": (50, 30),
        "album/palette.png": (40, 40),
        "album/cmyk.jpg": (48, 32),
        "album/1950s/deep16.png": (36, 20),
        "album/1950s/rotated.jpg": (40, 80),
        "tiny.png": (5, 3),
        "large.jpg": (1500, 1000),
    }
    for name, size in expected.items():
        result = Image.open(out / name)
        assert result.size == size, name
    assert Image.open(out / "album" / "alpha.png").mode == "RGBA"
    original_alpha = np.asarray(Image.open(inputs / "album" / "alpha.png").getchannel("A"))
    assert np.array_equal(np.asarray(Image.open(out / "album" / "alpha.png").getchannel("A")), original_alpha)
    assert Image.open(out / "album" / "palette.png").mode == "RGBA"
    assert Image.open(out / "color.JPG").mode == "RGB"

    again = run_colorize(compose_colorize([f"ckpt={cli_sweep / '0_baseline'}", f"input={inputs}", f"output={out}"]))
    assert again.line() == "0 colorized, 9 skipped, 3 failed"


def test_full_resolution_lightness_is_kept(cli_sweep, tmp_path):
    source = tmp_path / "detail.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)).save(source)  # fine detail everywhere
    out = tmp_path / "out"
    run_colorize(compose_colorize([f"ckpt={cli_sweep / '0_baseline'}", f"input={source}", f"output={out}"]))
    lightness_in, _ = rgb_to_lab(torch.from_numpy(np.asarray(Image.open(source))).permute(2, 0, 1)[None])
    lightness_out, _ = rgb_to_lab(torch.from_numpy(np.asarray(Image.open(out / "detail.png"))).permute(2, 0, 1)[None])
    # gamut clipping of the new colors moves L a little; the detail (pixel-to-pixel structure) stays
    assert (lightness_in - lightness_out).abs().mean() * 100 < 3.0
    assert np.corrcoef(lightness_in.flatten(), lightness_out.flatten())[0, 1] > 0.98


def test_options_side_by_side_format_saturation_and_globs(cli_sweep, inputs, tmp_path):
    out = tmp_path / "out"
    overrides = [
        f"ckpt={cli_sweep / '0_baseline'}",
        f"input={inputs}/*.jpg",
        f"output={out}",
        "side_by_side=true",
        "format=png",
        "saturation=2.0",
        "recursive=false",
    ]
    tally = run_colorize(compose_colorize(overrides))
    assert tally.colorized == 2  # gray.jpg, large.jpg (color.JPG: glob is case-sensitive)
    assert Image.open(out / "gray.png").size == (120, 40)  # gray | color


def test_too_many_pixels_are_refused_with_the_limit_named(cli_sweep, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    overrides = [
        f"ckpt={cli_sweep / '0_baseline'}",
        f"input={inputs / 'large.jpg'}",
        f"output={out}",
        "max_pixels=100000",
    ]
    tally = run_colorize(compose_colorize(overrides))
    err = capsys.readouterr().err
    assert len(tally.failed) == 1 and "large.jpg" in err and "exceeds" in err and "max_pixels=100,000" in err


def test_output_onto_the_input_is_refused(cli_sweep, inputs):
    tally = run_colorize(
        compose_colorize(
            [f"ckpt={cli_sweep / '0_baseline'}", f"input={inputs / 'tiny.png'}", f"output={inputs}", "overwrite=true"]
        )
    )
    assert "would overwrite an input" in tally.failed[0]


def test_command_line_exit_status(cli_sweep, inputs, tmp_path):
    command = [
        sys.executable,
        "-m",
        "colorlab.colorize",
        f"ckpt={cli_sweep / '0_baseline'}",
        f"input={inputs}",
        f"output={tmp_path / 'out'}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300
    )
    assert done.returncode == 1 and "9 colorized, 0 skipped, 3 failed" in done.stdout
    with pytest.raises(CheckpointError, match="no such run folder"):  # the CLI prints it and exits 2
        run_colorize(compose_colorize([f"ckpt={tmp_path / 'nope'}", f"input={inputs}", f"output={tmp_path}"]))


def test_python_api_on_a_pil_image(cli_sweep):
    model = colorlab.load_model(cli_sweep / "0_baseline")
    image = Image.open(next(SAMPLE.glob("*.jpg")))
    result = colorlab.colorize_image(image, model, size=64)
    assert result.size == image.size and result.mode == "RGB"


@pytest.mark.parametrize(("h", "w"), [(3000, 4000), (40, 5000), (7, 7)])
def test_network_size_is_bounded_and_a_multiple_of_the_stride(h, w):
    nh, nw = network_size(h, w, 224)
    assert nh % 32 == 0 and nw % 32 == 0 and min(nh, nw) >= 32 and max(nh, nw) <= 448


@pytest.mark.slow
def test_a_24_megapixel_photo_is_colorized_at_full_size(cli_sweep, tmp_path):
    source = tmp_path / "big.jpg"
    photo(6000, 4000).save(source, quality=85)
    run_colorize(compose_colorize([f"ckpt={cli_sweep / '0_baseline'}", f"input={source}", f"output={tmp_path}/o"]))
    assert Image.open(tmp_path / "o" / "big.jpg").size == (6000, 4000)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_model_agrees_with_pytorch_on_real_photos(cli_sweep, tmp_path, fmt):
    from colorlab.inference.model_export import export

    cfg = compose_colorize([f"ckpt={cli_sweep / '0_baseline'}", f"format={fmt}", f"output={tmp_path}/m"], "export")
    path = export(cfg.ckpt, cfg.format, cfg.output, cfg.size)
    assert path == tmp_path / "m" and cfg.size == 224
    model = load_model(cli_sweep / "0_baseline")
    photos = [Image.open(p).convert("RGB").resize((224, 224)) for p in sorted(SAMPLE.glob("*.jpg"))[:4]]
    rgb = torch.from_numpy(np.stack([np.asarray(p) for p in photos])).permute(0, 3, 1, 2)
    lightness, _ = rgb_to_lab(rgb)
    with torch.no_grad():
        expected = model(lightness) * 128
    if fmt == "torchscript":
        got = torch.jit.load(str(path))(lightness) * 128
    else:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        got = torch.from_numpy(session.run(None, {"lightness": lightness.numpy()})[0]) * 128
    assert (got - expected).abs().max() < 0.5


def test_batching_does_not_change_the_result(cli_sweep, inputs, tmp_path):
    outs = {}
    for batch in (1, 8):
        out = tmp_path / f"b{batch}"
        run_colorize(
            compose_colorize(
                [f"ckpt={cli_sweep / '1_batchnorm'}", f"input={inputs}/album", f"output={out}", f"batch_size={batch}"]
            )
        )
        outs[batch] = {p.relative_to(out): np.asarray(Image.open(p)) for p in out.rglob("*.png")}
    assert outs[1].keys() == outs[8].keys() and len(outs[1]) == 3
    assert all(np.array_equal(outs[1][k], outs[8][k]) for k in outs[1])


def test_big_batches_are_read_and_written_alone_with_the_same_result(cli_sweep, inputs, tmp_path, monkeypatch):
    """Past READ_AHEAD_PIXELS a batch is decoded, colorized and written before the next is read: the
    outputs and the summary do not change, broken files in the middle included."""
    import colorlab.inference.batch

    results = {}
    for limit in (colorlab.inference.batch.READ_AHEAD_PIXELS, 0):
        monkeypatch.setattr(colorlab.inference.batch, "READ_AHEAD_PIXELS", limit)
        out = tmp_path / f"limit{limit}"
        tally = run_colorize(
            compose_colorize([f"ckpt={cli_sweep / '1_batchnorm'}", f"input={inputs}", f"output={out}", "batch_size=3"])
        )
        results[limit] = (tally.line(), {p.relative_to(out): np.asarray(Image.open(p)) for p in out.rglob("*.*")})
    (line_a, outs_a), (line_b, outs_b) = results.values()
    assert line_a == line_b == "9 colorized, 0 skipped, 3 failed"
    assert outs_a.keys() == outs_b.keys() and all(np.array_equal(outs_a[k], outs_b[k]) for k in outs_a)


@pytest.mark.parametrize("model_name", ["rebalanced", "unet"])
def test_rebalanced_and_unet_models_export_and_colorize(model_name, photo_dir, tmp_path):
    import onnxruntime

    from colorlab.inference.model_export import export
    from colorlab.train import train
    from tests.conftest import compose_config, tiny_overrides

    cfg = compose_config(
        [f"model={model_name}", "data=folder", f"data.root={photo_dir}", *tiny_overrides(tmp_path)], tmp_path / "run"
    )
    train(cfg)
    path = export(tmp_path / "run", "onnx", tmp_path / "m.onnx", size=64)
    model = load_model(tmp_path / "run")
    lightness = rgb_to_lab(torch.from_numpy(smooth_image(64, 3)).permute(2, 0, 1)[None])[0]
    with torch.no_grad():
        expected = model(lightness) * 128
    got = torch.from_numpy(onnxruntime.InferenceSession(str(path)).run(None, {"lightness": lightness.numpy()})[0])
    assert (got * 128 - expected).abs().max() < 0.5
    if model_name == "rebalanced":  # the temperature can be changed at inference time, and matters
        warmer = load_model(tmp_path / "run", temperature=1.0)
        assert warmer.head.temperature == 1.0 and not torch.allclose(warmer(lightness) * 128, expected)
    else:
        with pytest.raises(CheckpointError, match="no color classes"):
            load_model(tmp_path / "run", temperature=1.0)
    tally = run_colorize(
        compose_colorize([f"ckpt={tmp_path / 'run'}", f"input={photo_dir}/set0", f"output={tmp_path / 'out'}"])
    )
    assert tally.colorized > 0 and not tally.failed


def test_recombining_in_strips_and_as_an_image_gives_the_whole_photos_pixels(monkeypatch):
    """A huge photo is recombined in strips of rows, and a preview is merged into an image plane by
    plane; both must give exactly the pixels of the whole photo recombined at once."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (45, 37, 3), dtype=np.uint8)
    ab = torch.rand(1, 2, 9, 8, generator=torch.Generator().manual_seed(0)) * 2.4 - 1.2  # some out of range
    whole = one_photo.recombine(rgb, ab, 0.8)
    assert np.array_equal(np.asarray(one_photo.recombine_image(rgb, ab, 0.8)), whole)
    monkeypatch.setattr(one_photo, "STRIP_ROWS", 7)
    assert np.array_equal(one_photo.recombine(rgb, ab, 0.8), whole)
    assert np.array_equal(np.asarray(one_photo.recombine_image(rgb, ab, 0.8)), whole)  # too tall: in strips
