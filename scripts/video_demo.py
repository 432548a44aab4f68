"""The documentation's video figures: a gray "old film" clip made from an embedded sample photo (a slow pan
with film grain and a cut to a second photo), colorized per frame and with the temporal filter; prints
both flicker measurements and writes a before/after frame strip.

    python scripts/video_demo.py [--ckpt pretrained:cats] [--out docs/video_strip.jpg] [--table docs/video_demo.md]

The table (with its provenance) goes to `--table`, which the colorizing page includes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from colorlab.core.provenance import provenance
from colorlab.data.embedded import SAMPLE_DIR
from colorlab.inference.video import colorize_video, read_frames
from colorlab.models.checkpoints import load_model

FRAMES, FPS, WIDTH, HEIGHT = 48, 24, 320, 240
DOCS = Path(__file__).resolve().parents[1] / "docs"


def film(photo: Path, frames: int, seed: int) -> list[np.ndarray]:
    """Gray frames panning across `photo`, with per-frame grain and flicker of the exposure."""
    image = Image.open(photo).convert("L")
    scale = HEIGHT / image.height
    image = image.resize((max(WIDTH + frames * 2, round(image.width * scale)), HEIGHT))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        crop = np.asarray(image.crop((2 * i, 0, 2 * i + WIDTH, HEIGHT)), dtype=np.float64)
        crop = crop * rng.uniform(0.97, 1.03) + rng.normal(0, 4, crop.shape)  # exposure flicker + grain
        gray = crop.clip(0, 255).astype(np.uint8)
        out.append(np.repeat(gray[..., None], 3, axis=2))
    return out


def write_clip(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def strip(rows: list[list[np.ndarray]], path: Path) -> None:
    tiles = [np.concatenate(row, axis=1) for row in rows]
    Image.fromarray(np.concatenate(tiles, axis=0)).save(path, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="pretrained:cats")
    parser.add_argument("--out", type=Path, default=DOCS / "video_strip.jpg")
    parser.add_argument("--table", type=Path, default=DOCS / "video_demo.md", help="the measurements (Markdown)")
    args = parser.parse_args()
    model = load_model(args.ckpt)
    size = model.image_size
    photos = sorted(SAMPLE_DIR.glob("*.jpg"))
    frames = film(photos[3], FRAMES // 2, seed=0) + film(photos[40], FRAMES // 2, seed=1)  # a cut halfway
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "old_film.mp4"
        write_clip(clip, frames)
        reports = {}
        for name, temporal in (("per frame", 0.0), ("stabilised", 0.7)):
            target = Path(tmp) / f"{name.replace(' ', '_')}.mp4"
            report = reports[name] = colorize_video(clip, target, model, size, temporal=temporal)
            print(f"{name:>10} (temporal={temporal}): {report.frames} frames, flicker {report.flicker:.3f} "
                  f"ab units over static pixels, {report.scene_cuts} scene cuts")  # fmt: skip
        picks = [0, 8, 16, 30, 40]
        gray = [f for i, f in enumerate(read_frames(clip)) if i in picks]
        color = [f for i, f in enumerate(read_frames(Path(tmp) / "stabilised.mp4")) if i in picks]
        strip([gray, color], args.out)
    ratio = reports["stabilised"].flicker / reports["per frame"].flicker
    print(f"stabilised / per-frame flicker: {ratio:.2f}; strip: {args.out}")
    rows = ["| decoding | frames | flicker (ab units over static pixels) | scene cuts the filter found |",
            "|---|---|---|---|"]  # fmt: skip
    for name, temporal in (("per frame", 0), ("stabilised", 0.7)):
        report = reports[name]
        cells = [f"{name} (`temporal={temporal}`)", report.frames, f"{report.flicker:.3f}", report.scene_cuts]
        rows.append("| " + " | ".join(map(str, cells)) + " |")
    command = " ".join(["python scripts/video_demo.py", *sys.argv[1:]])
    text = f"{provenance(command)}\n\n" + "\n".join(rows) + f"\n\nStabilised / per-frame flicker: **{ratio:.2f}**.\n"
    args.table.write_text(text)


if __name__ == "__main__":
    main()
