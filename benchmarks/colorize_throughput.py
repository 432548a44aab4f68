"""Photos per second of `colorlab.colorize` on a folder of 500x375 JPEGs, vs the bare model forward.
Target: the pipeline at >= 0.9 of the bare forward, for Lite0 and VGG-16.

    python benchmarks/colorize_throughput.py [--photos 48] [--encoder efficientnet_lite0|vgg16] [--rounds 5]

Both are measured in this one run on the same photos, interleaved round by round (benchmarks/harness.py):
the ratio is the share of time the model itself takes; the rest is decode, LAB, resizing, upsampling,
recombination and JPEG encoding (overlapped with the network by colorize's read and write threads).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from omegaconf import OmegaConf
from PIL import Image

from colorlab.colorize import run_colorize
from colorlab.core.color import rgb_to_lab
from colorlab.core.config import CONFIG_DIR
from colorlab.data.embedded import SAMPLE_DIR
from colorlab.inference.photo import network_size
from colorlab.models import Colorizer, Decoder, EfficientNetLite0Encoder, VGG16Encoder, model_file


def make_checkpoint(folder: Path, encoder_name: str) -> Path:
    """A model file of an untrained baseline decoder on `encoder_name` (speed does not depend on training)."""
    encoder = EfficientNetLite0Encoder("imagenet") if encoder_name == "efficientnet_lite0" else VGG16Encoder(None)
    path = folder / "model.ckpt"
    model_file.save(path, Colorizer(encoder, Decoder, image_size=224), variant="baseline")
    return path


def colorize_config(ckpt: Path, photos: Path, out: Path, device: str, batch_size: int):
    """conf/colorize.yaml with these settings, as `python -m colorlab.colorize` composes it (outputs overwritten)."""
    cfg = OmegaConf.load(Path(CONFIG_DIR) / "colorize.yaml")
    cfg.pop("defaults")
    cfg.pop("hydra", None)  # the command's Hydra settings, when inline
    cfg.update(ckpt=str(ckpt), input=str(photos), output=str(out), device=device, batch_size=batch_size,
               progress=False, overwrite=True)  # fmt: skip
    return cfg


def stage_profile(photos: list[Path], model, size: int, quality: int = 95) -> dict[str, float]:
    """Milliseconds per photo of each stage outside the network, one photo at a time (the profile that
    explains the ratio: work the network's threads cannot hide on a CPU they already fill)."""
    from colorlab.data.images import open_image
    from colorlab.inference.batch import write
    from colorlab.inference.photo import assemble, network_lightness, predict_ab, recombine, split_alpha

    stages = {"decode": 0.0, "network input (resize + L)": 0.0, "recombine (upsample + L + LAB->sRGB)": 0.0}
    stages["encode + write"] = 0.0
    with tempfile.TemporaryDirectory() as out:
        for path in photos:
            start = time.perf_counter()
            rgb, alpha = split_alpha(open_image(path))
            decoded = time.perf_counter()
            h, w = network_size(*rgb.shape[:2], size)
            network_lightness([rgb], (h, w), torch.device("cpu"))
            prepared = time.perf_counter()
            ab = predict_ab(model, [rgb], size)[0]
            predicted = time.perf_counter()
            color = recombine(rgb, ab)
            recombined = time.perf_counter()
            write(assemble(rgb, color, alpha, False), Path(out) / path.name, quality)
            written = time.perf_counter()
            stages["decode"] += decoded - start
            stages["network input (resize + L)"] += prepared - decoded
            stages["recombine (upsample + L + LAB->sRGB)"] += recombined - predicted
            stages["encode + write"] += written - recombined
    return {name: 1000 * seconds / len(photos) for name, seconds in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--encoder", default="efficientnet_lite0", choices=["efficientnet_lite0", "vgg16"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        for path in sorted(SAMPLE_DIR.glob("*.jpg"))[: args.photos]:
            Image.open(path).convert("RGB").resize((500, 375), Image.Resampling.BICUBIC).save(
                photos / path.name, quality=90
            )
        ckpt = make_checkpoint(tmp, args.encoder)
        cfg = colorize_config(ckpt, photos, tmp / "out", "cpu", args.batch_size)
        run_colorize(cfg)  # warm-up (and the outputs exist now)

        from colorlab.models.checkpoints import load_model

        model = load_model(ckpt)
        h, w = network_size(375, 500, 224)
        arrays = [np.asarray(Image.open(p).resize((w, h))) for p in sorted(photos.glob("*.jpg"))]
        rgb = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        lightness, _ = rgb_to_lab(rgb)

        def pipeline() -> float:
            start = time.perf_counter()
            run_colorize(cfg)
            return args.photos / (time.perf_counter() - start)

        @torch.no_grad()
        def bare() -> float:
            start = time.perf_counter()
            for i in range(0, args.photos, args.batch_size):
                model(lightness[i : i + args.batch_size])
            return args.photos / (time.perf_counter() - start)

        bare()  # warm-up
        values = interleave({"colorize pipeline": pipeline, "bare model forward": bare}, args.rounds)
        profile = stage_profile(sorted(photos.glob("*.jpg")), model, 224, cfg.quality)
    settings = (
        f"encoder {args.encoder}, {args.photos} photos 500x375 -> network {h}x{w}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )
    target = ratio(values, "colorize pipeline", "bare model forward", "colorize / bare forward", target=0.9)
    report(f"colorize_throughput ({args.encoder})", settings, "photos/s", values, [target])
    bare_ms = 1000 / statistics.median(values["bare model forward"])
    print(f"  per photo: bare forward {bare_ms:.1f} ms (batch {args.batch_size}, all threads); outside the network:")
    for name, ms in profile.items():
        print(f"    {name:40s} {ms:6.1f} ms")


if __name__ == "__main__":
    main()
