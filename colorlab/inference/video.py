"""Colorizing videos (PyAV, whose wheels carry FFmpeg): frames streamed through the model, color
stabilised over time, recombined with each frame's full-resolution L, audio copied untouched.

Flicker, the complaint about colorizing frames one at a time, comes from the predicted ab jumping
between frames where the picture does not change. `TemporalFilter` blends each frame's predicted ab
with the previous output where the lightness stayed put (a per-pixel exponential moving average,
gated by motion) and starts afresh at a scene cut. `flicker` measures the result: the mean absolute
frame-to-frame ab change over static pixels. Memory stays flat in the video's length: frames are
decoded, colorized in small batches and encoded as they come.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from colorlab.core.atomic import atomic_write
from colorlab.core.color import AB_SCALE, rgb_to_lab
from colorlab.data.images import too_large
from colorlab.inference.photo import predict_batch, recombine
from colorlab.models.contract import ColorModel

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
STATIC_L = 2.0  # L units: a pixel whose lightness changes less than this between frames is static


class VideoError(ValueError):
    """A video that cannot be read or written; the message names the file."""


@dataclass
class VideoReport:
    frames: int
    flicker: float  # mean |delta ab| (ab units) over static pixels between consecutive output frames
    scene_cuts: int


class TemporalFilter:
    """ab(t) = w * ab_out(t-1) + (1 - w) * ab_pred(t), per pixel, at the network's resolution, with
    w = strength * max(0, 1 - |L(t) - L(t-1)| / motion): full smoothing where nothing moved, none where
    the lightness changed by `motion` L units or more. A scene cut (mean |delta L| > `scene_cut` L
    units) resets it. strength=0 is per-frame colorization."""

    def __init__(self, strength: float = 0.7, motion: float = 10.0, scene_cut: float = 15.0) -> None:
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"temporal={strength}: must be in [0, 1) (0: per-frame)")
        self.strength, self.motion, self.scene_cut = strength, motion, scene_cut
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (L, ab) at network size
        self.cuts = 0

    def __call__(self, light: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """L/100 (1,1,h,w) and predicted ab/128 (1,2,h,w) of one frame -> the stabilised ab."""
        if self.previous is not None and self.previous[0].shape == light.shape and self.strength > 0:
            change = (light - self.previous[0]).abs() * 100  # L units
            if change.mean() > self.scene_cut:
                self.cuts += 1
            else:
                weight = self.strength * (1 - change / self.motion).clamp(0, 1)
                ab = weight * self.previous[1] + (1 - weight) * ab
        self.previous = (light, ab)
        return ab


class FlickerMeter:
    """Accumulates mean |ab(t) - ab(t-1)| (ab units) over pixels whose L moved < STATIC_L between frames."""

    def __init__(self) -> None:
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None
        self.total, self.pixels = 0.0, 0

    def add(self, rgb: np.ndarray) -> None:
        light, ab = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0))
        if self.previous is not None and self.previous[0].shape == light.shape:
            static = ((light - self.previous[0]).abs() * 100 < STATIC_L)[:, 0]
            change = ((ab - self.previous[1]) * AB_SCALE).norm(dim=1)
            self.total += float(change[static].sum())
            self.pixels += int(static.sum())
        self.previous = (light, ab)

    @property
    def value(self) -> float:
        return self.total / self.pixels if self.pixels else 0.0


def flicker(frames: Iterator[np.ndarray]) -> float:
    """The flicker of a sequence of (H,W,3) uint8 RGB frames (see FlickerMeter)."""
    meter = FlickerMeter()
    for frame in frames:
        meter.add(frame)
    return meter.value


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """The video's frames as (H,W,3) uint8 RGB, one at a time."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def colorize_video(
    source: Path,
    target: Path,
    model: ColorModel,
    size: int | None = None,
    saturation: float = 1.0,
    temporal: float = 0.7,
    batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
    max_pixels: int | None = None,
) -> VideoReport:
    """Colorize `source` into `target` (written atomically): same frame count, timestamps (so frame
    rate, variable or not), size and container; audio and subtitle streams copied packet by packet.
    Frames of more than `max_pixels` are refused from the stream's header, before any is decoded."""
    import av

    try:
        container = av.open(str(source))
    except (av.error.FFmpegError, OSError) as err:
        raise VideoError(f"cannot read video {source}: {err}") from err
    with container:
        if not container.streams.video:
            raise VideoError(f"{source}: has no video stream")
        codec = container.streams.video[0].codec_context
        error = too_large(codec.width, codec.height, max_pixels)  # the same limit as photos, from the header
        if error is not None:
            raise VideoError(f"{source}: its frames are {error}")
        report: VideoReport | None = None

        def write(tmp: Path) -> None:
            nonlocal report
            report = _transcode(container, tmp, target.suffix, model, size, saturation, temporal,
                                batch_size, progress)  # fmt: skip

        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            atomic_write(target, write)
        except av.error.FFmpegError as err:
            raise VideoError(f"cannot colorize video {source}: {err}") from err
    assert report is not None
    return report


def _transcode(container, tmp: Path, suffix: str, model, size, saturation, temporal, batch_size, progress):
    import av

    video_in = container.streams.video[0]
    copied = [s for s in container.streams if s.type in ("audio", "subtitle")]
    with av.open(str(tmp), "w", format=_muxer(suffix)) as output:
        width, height = video_in.codec_context.width, video_in.codec_context.height
        video_out = output.add_stream(_codec(suffix), rate=video_in.average_rate or Fraction(25))
        video_out.width, video_out.height = width, height
        video_out.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video_out.time_base = video_in.time_base
        video_out.codec_context.time_base = video_in.time_base  # timestamps pass through unrounded (VFR)
        copies = {s.index: output.add_stream_from_template(s) for s in copied}
        output.start_encoding()  # opens the encoder and writes the header before any copied packet
        stabilise = TemporalFilter(temporal)
        meter = FlickerMeter()
        pending: list = []
        frames = 0

        def flush() -> None:
            nonlocal frames
            rgbs = [frame.to_ndarray(format="rgb24") for frame in pending]
            colors = _color(model, rgbs, size, stabilise, saturation)
            for frame, color in zip(pending, colors, strict=True):
                out = av.VideoFrame.from_ndarray(color, format="rgb24")
                out.pts, out.time_base = frame.pts, frame.time_base
                meter.add(color)
                for packet in video_out.encode(out):
                    output.mux(packet)
                frames += 1
                if progress is not None:
                    progress(1)
            pending.clear()

        for packet in container.demux(video_in, *copied):
            if packet.stream.index in copies:
                if packet.dts is None:
                    continue
                packet.stream = copies[packet.stream.index]
                output.mux(packet)
                continue
            for frame in packet.decode():
                if (frame.width, frame.height) != (width, height):  # every frame, not only the header's
                    raise VideoError(
                        f"frame {frames + len(pending) + 1} is {frame.width}x{frame.height}, but the stream's "
                        f"header says {width}x{height}; colorlab refuses videos whose frame size changes"
                    )
                pending.append(frame)
                if len(pending) >= batch_size:
                    flush()
        flush()
        for packet in video_out.encode(None):
            output.mux(packet)
    if frames == 0:
        raise VideoError("it has no decodable frames")
    return VideoReport(frames=frames, flicker=meter.value, scene_cuts=stabilise.cuts)


def _color(model: ColorModel, rgbs: list[np.ndarray], size: int | None, stabilise: TemporalFilter, saturation: float):
    """Frames -> color frames: one batched forward at the network size (as photos), then the temporal
    filter in frame order, then full-resolution recombination."""
    if not rgbs:
        return []
    light, ab = predict_batch(model, rgbs, size)
    return [recombine(rgb, stabilise(light[i : i + 1].cpu(), ab[i : i + 1].cpu()), saturation)
            for i, rgb in enumerate(rgbs)]  # fmt: skip


def _muxer(suffix: str) -> str:
    return {".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov", ".m4v": "mp4"}.get(suffix.lower(), "mp4")


def _codec(suffix: str) -> str:
    return "libvpx-vp9" if suffix.lower() == ".webm" else "libx264"
