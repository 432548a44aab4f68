"""Short synthetic video clips made with PyAV: moving smooth color fields, optional audio, odd sizes,
variable frame rate."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.conftest import smooth_image

AUDIO_RATE = 16000
AAC_FRAME = 1024  # samples per AAC frame


def frame_image(index: int, width: int, height: int, static: bool) -> np.ndarray:
    """A smooth color field that pans by 2 px a frame (or stays put), with a little grain."""
    side = max(width, height) + 64
    field = smooth_image(side, seed=3).astype(np.int16)
    shift = 0 if static else 2 * index
    crop = field[:height, shift : shift + width]
    grain = np.random.default_rng(index).integers(-3, 4, crop.shape)
    return (crop + grain).clip(0, 255).astype(np.uint8)


def make_clip(
    path: Path,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    fps: int = 12,
    audio: bool = False,
    vfr: bool = False,
    static: bool = False,
) -> list[int]:
    """Write a clip; returns the frames' timestamps in milliseconds."""
    import av

    width, height = size
    stamps = []
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.time_base = Fraction(1, 1000)
        sound = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if audio else None
        now = 0
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height, static), format="rgb24")
            frame.pts, frame.time_base = now, Fraction(1, 1000)
            stamps.append(now)
            now += (1000 // fps) * (3 if vfr and i % 3 == 2 else 1)  # every third gap three times longer
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            samples = int(AUDIO_RATE * now / 1000)
            wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / AUDIO_RATE)).astype(np.float32)
            for start in range(0, samples - AAC_FRAME + 1, AAC_FRAME):
                chunk = av.AudioFrame.from_ndarray(wave[None, start : start + AAC_FRAME], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = AUDIO_RATE, start
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return stamps


def probe(path: Path) -> dict:
    """Frame count, size, timestamps (ms) of the video stream; audio packet count and duration."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        stamps, chroma = [], []
        for frame in container.decode(video=0):
            stamps.append(round(float(frame.pts * frame.time_base) * 1000))
            rgb = frame.to_ndarray(format="rgb24").astype(np.int16)
            chroma.append(float(np.abs(rgb - rgb.mean(2, keepdims=True)).mean()))
        info = {"frames": len(stamps), "size": (video.width, video.height), "stamps": stamps, "chroma": chroma}
    with av.open(str(path)) as container:
        audio = [p for p in container.demux(audio=0) if p.size] if container.streams.audio else []
        info["audio_packets"] = len(audio)
        info["audio_bytes"] = [bytes(p) for p in audio]
    return info
