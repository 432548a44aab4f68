"""Data vs training: images/s the DataModule delivers (decoded, cropped, converted to LAB) vs images/s
the training step consumes, measured in one run. Target: data >= 3x the step, so it never starves it.

    python benchmarks/data_throughput.py [--root ../shared/data/cats] [--size 224] [--batches 20]

Two pipelines, each against its own consumer:
  photos   ColorDataModule train loader (JPEG decode, random resized crop + flip, kornia LAB), num_workers=0
           vs the full training step (frozen VGG-16 + decoder, channels-last, fp32; --bf16: bf16 autocast)
  features the feature-cache train loader (fp16 features + targets from disk)
           vs the decoder-only training step on cached features
Loader and step alternate for --rounds rounds (benchmarks/harness.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import tempfile
import time
from itertools import islice
from pathlib import Path

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from steps import train_step  # benchmarks/steps.py

from colorlab.data import ColorDataModule
from colorlab.models import Decoder, VGG16Encoder
from colorlab.training.module import ColorizationModule

ROOT = Path(__file__).resolve().parents[1]


def bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def loader_rate(datamodule: ColorDataModule, batches: int) -> tuple[float, list]:
    """Images/s of the train loader plus on_after_batch_transfer; also returns the batches it made."""
    loader = datamodule.train_dataloader()
    iterator = iter(loader)
    kept = [datamodule.on_after_batch_transfer(next(iterator), 0)]  # warm-up
    start = time.perf_counter()
    count = 0
    for batch in islice(iterator, batches):
        kept.append(datamodule.on_after_batch_transfer(batch, 0))
        count += kept[-1][0].shape[0]
    return count / (time.perf_counter() - start), kept


def step_rate(step, batches: list) -> float:
    start = time.perf_counter()
    for batch in batches[1:]:
        step(batch)
    return sum(b[0].shape[0] for b in batches[1:]) / (time.perf_counter() - start)


def compare(name: str, datamodule: ColorDataModule, module: ColorizationModule, args, steps: int) -> None:
    """Interleave the loader and its consumer step, on the loader's own batches."""
    _, batches = loader_rate(datamodule, args.batches)
    step = train_step(module, bf16=args.bf16)
    step(batches[0])  # warm-up
    values = interleave(
        {
            f"{name}: data": lambda: loader_rate(datamodule, args.batches)[0],
            f"{name}: training step": lambda: step_rate(step, batches[: steps + 1]),
        },
        args.rounds,
    )
    settings = f"{args.batch} x {args.size}px, {args.batches} batches, num_workers=0, {'bf16' if args.bf16 else 'fp32'}"
    ratios = [ratio(values, f"{name}: data", f"{name}: training step", f"{name}: data / step", target=3.0)]
    report(f"data_throughput ({name})", settings, "images/s", values, ratios)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "data" / "cats"))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--subset", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default fp32: faster on AVX2 CPUs)")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    encoder = VGG16Encoder(weights=None)
    module = ColorizationModule(encoder, Decoder, functools.partial(torch.optim.Adam, lr=1e-3), channels_last=True)
    common = {"image_size": args.size, "batch_size": args.batch, "subset": args.subset, "num_workers": 0}
    with tempfile.TemporaryDirectory() as cache:
        photos = ColorDataModule(args.root, cache_dir=cache, **common)
        photos.setup("fit")
        compare("photos vs full VGG-16 step", photos, module, args, steps=4)

        cached = ColorDataModule(args.root, cache_dir=cache, crop_scale=None, cache_features=True, **common)
        precision = "bf16-mixed" if args.bf16 else "32"
        cached.build_feature_cache(module, precision=precision, autocast=bf16 if args.bf16 else contextlib.nullcontext)
        compare("cached features vs decoder-only step", cached, module, args, steps=args.batches)


if __name__ == "__main__":
    main()
