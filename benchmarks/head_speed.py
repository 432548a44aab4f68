"""Rebalanced vs regression head: training steps from cached encoder features, same batches, one run.
Target: the rebalanced step at >= 1/3 of the regression step's images/s.

    python benchmarks/head_speed.py [--root ../shared/data/cats] [--size 192] [--batch 32] [--steps 10]

Batches are what `data.cache_features=true` serves: EfficientNet-Lite0 features of real Kaggle cat photos
(ImageNet weights) and their ab/128 targets; channels-last, Adam; fp32 (`--bf16`: bf16 autocast, as
`trainer=cpu`; on a CPU without AVX-512 torch runs bf16 convolutions on a slow fallback).
Also times the soft-encoding alone: the per-pixel distance search vs the lookup table.
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from steps import train_step  # benchmarks/steps.py

from colorlab.core.color import rgb_to_lab
from colorlab.data.feature_cache import FeatureBatch
from colorlab.data.images import ImageFiles
from colorlab.data.photo_files import find_images
from colorlab.data.transforms import eval_transform
from colorlab.models import Decoder, EfficientNetLite0Encoder, color_classes
from colorlab.models.heads import ClassificationHead, RegressionHead
from colorlab.training.module import ColorizationModule

ROOT = Path(__file__).resolve().parents[1]


def real_batch(root: Path, size: int, batch: int, encoder: EfficientNetLite0Encoder) -> FeatureBatch:
    files = sorted(find_images(root))[:batch]
    images = torch.stack([ImageFiles(files, *eval_transform(size))[i] for i in range(len(files))])
    lightness, ab = rgb_to_lab(images)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        features = encoder(lightness).float()
    return FeatureBatch(features.contiguous(memory_format=torch.channels_last), ab)


def rate(step, batch: FeatureBatch, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * batch.features.shape[0] / (time.perf_counter() - start)


def calls_per_second(fn, repeats: int = 3) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "data" / "cats"))
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default: fp32)")
    parser.add_argument("--up-widths", default="64,32,16", help="the decoder's up widths, for both heads")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = EfficientNetLite0Encoder("imagenet")
    batch = real_batch(Path(args.root), args.size, args.batch, encoder)
    up_widths = tuple(int(w) for w in args.up_widths.split(","))
    adam = functools.partial(torch.optim.Adam, lr=1e-3)
    decoder = functools.partial(Decoder, up_widths=up_widths)
    heads = {
        "regression (MSE, full resolution)": RegressionHead(),
        "rebalanced, 1x1 class conv at 1/4": ClassificationHead(output_stride=4, out_kernel=1),
        "rebalanced, 3x3 class conv at 1/2": ClassificationHead(output_stride=2, out_kernel=3),
    }
    runs = {}
    for name, head in heads.items():
        if isinstance(head, ClassificationHead):
            head.set_prior(torch.ones(529))
        module = ColorizationModule(encoder, decoder, adam, head=head, channels_last=True)
        step = train_step(module, bf16=args.bf16)
        step(batch)  # warm-up
        runs[name] = functools.partial(rate, step, batch, args.steps)
    values = interleave(runs, args.rounds)
    base = "regression (MSE, full resolution)"
    ratios = [ratio(values, name, base, f"{name} / regression") for name in heads if name != base]
    ratios[0].target = 1 / 3
    settings = (
        f"cached Lite0 features of {args.batch} Kaggle cat photos at {args.size} px, "
        f"decoder up widths {args.up_widths}, "
        f"{'bf16' if args.bf16 else 'fp32'} + channels-last, Adam, {args.steps} steps per round"
    )
    report("head_speed", settings, "images/s", values, ratios)

    head = ClassificationHead()
    ab = torch.nn.functional.adaptive_avg_pool2d(batch.ab, args.size // 4)
    head.soft_encode(ab)  # builds the table
    values = interleave(
        {
            "soft-encode by lookup table": functools.partial(calls_per_second, lambda: head.soft_encode(ab), 50),
            "soft-encode by distance search": functools.partial(
                calls_per_second, lambda: color_classes.soft_encode(ab, head.centres)
            ),
        },
        args.rounds,
    )
    pixels = f"{args.batch} x {args.size // 4}^2 px"
    lookup = ratio(values, "soft-encode by lookup table", "soft-encode by distance search", "lookup / search")
    report("soft_encoding", pixels, "batches/s", values, [lookup])


if __name__ == "__main__":
    main()
