"""Videos: frame count, timestamps (variable frame rate too), size (odd too) and audio survive
colorization; flicker is measured and the temporal filter lowers it; broken files are named."""

from __future__ import annotations

import pytest
import torch

from colorlab.colorize import run_colorize
from colorlab.inference.video import TemporalFilter, colorize_video, flicker, read_frames
from colorlab.models.checkpoints import load_model
from tests.conftest import compose_app
from tests.helpers.clips import make_clip, probe

av = pytest.importorskip("av", reason="videos need PyAV (pip install 'colorlab[video]')")


def colorize(cli_sweep, *overrides):
    return run_colorize(compose_app("colorize", [f"ckpt={cli_sweep / '0_baseline'}", *overrides]))


def test_a_folder_of_videos_keeps_frames_timing_size_and_audio(cli_sweep, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip(clips / "vfr_audio.mp4", audio=True, vfr=True)
    make_clip(clips / "odd.mkv", size=(65, 49), frames=7)
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4)
    tally = colorize(cli_sweep, f"input={clips}", f"output={tmp_path / 'out'}")
    assert tally.colorized == 2 and len(tally.failed) == 1 and "broken.mp4" in tally.failed[0]
    assert not (tmp_path / "out" / "broken.mp4").exists()
    for name in ("vfr_audio.mp4", "odd.mkv"):
        before, after = probe(clips / name), probe(tmp_path / "out" / name)
        assert after["frames"] == before["frames"] and after["size"] == before["size"]
        shift = after["stamps"][0] - before["stamps"][0]  # a container may offset all (AAC priming)
        assert [t - shift for t in after["stamps"]] == before["stamps"]  # so the (variable) frame rate is kept
        assert after["audio_bytes"] == before["audio_bytes"]  # copied packet by packet, not re-encoded
        assert min(after["chroma"]) > 1.0  # color, not gray
    assert probe(tmp_path / "out" / "vfr_audio.mp4")["audio_packets"] > 10
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no temporary files


class FlickeringColorizer(torch.nn.Module):
    """A colorizer whose color cast jumps from frame to frame (what per-frame models do on grain); it
    has what inference reads of a `Colorizer`: stride, image size, device."""

    stride, image_size, device = 32, 32, torch.device("cpu")

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)

    def forward(self, light: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        cast = torch.rand(light.shape[0], 2, 1, 1, generator=self.generator) * 0.3 - 0.15
        return cast.expand(-1, -1, *light.shape[2:])


def test_the_temporal_filter_lowers_flicker_on_a_static_shot(tmp_path):
    make_clip(tmp_path / "static.mp4", frames=12, static=True)
    per_frame = colorize_video(tmp_path / "static.mp4", tmp_path / "a.mp4", FlickeringColorizer(), 32, temporal=0.0)
    stable = colorize_video(tmp_path / "static.mp4", tmp_path / "b.mp4", FlickeringColorizer(), 32, temporal=0.8)
    assert per_frame.frames == stable.frames == 12
    assert stable.flicker < 0.5 * per_frame.flicker, (per_frame, stable)
    assert flicker(read_frames(tmp_path / "b.mp4")) < 0.5 * flicker(read_frames(tmp_path / "a.mp4"))


def test_a_trained_model_colorizes_a_clip_with_the_filter_on(cli_sweep, tmp_path):
    make_clip(tmp_path / "pan.mp4", frames=6)
    model = load_model(cli_sweep / "0_baseline")
    report = colorize_video(tmp_path / "pan.mp4", tmp_path / "out.mp4", model)  # at the model's training size
    assert report.frames == 6 and report.scene_cuts == 0 and report.flicker >= 0


def test_the_temporal_filter_smooths_static_pixels_only_and_resets_at_a_cut():
    stabilise = TemporalFilter(strength=0.5, motion=10.0, scene_cut=15.0)
    light = torch.full((1, 1, 2, 2), 0.5)
    first = stabilise(light, torch.zeros(1, 2, 2, 2))
    moved = light.clone()
    moved[..., 0, 0] += 0.2  # 20 L units: this pixel moved
    second = stabilise(moved, torch.ones(1, 2, 2, 2))
    assert torch.equal(first, torch.zeros(1, 2, 2, 2))
    assert second[0, 0, 0, 0] == 1.0 and second[0, 0, 1, 1] == pytest.approx(0.5)  # moved: new; static: blended
    cut = stabilise(torch.full((1, 1, 2, 2), 0.9), torch.full((1, 2, 2, 2), -1.0))
    assert torch.equal(cut, torch.full((1, 2, 2, 2), -1.0)) and stabilise.cuts == 1
    with pytest.raises(ValueError, match="temporal"):
        TemporalFilter(strength=1.0)
