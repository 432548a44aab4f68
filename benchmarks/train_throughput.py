"""Training-step images/s per encoder and precision, measured in one run on the same batches.

    python benchmarks/train_throughput.py [--size 128] [--batch 16] [--steps 8]

For each encoder (VGG-16, EfficientNet-Lite0) with the paper's baseline decoder: the frozen encoder's
forward alone, and a full training step (encoder forward without gradients, decoder forward and
backward, Adam), each in fp32 and in bf16 autocast with channels-last. All eight alternate for
--rounds rounds (benchmarks/harness.py); prints images/s and ratios. On a CPU without AVX-512 (this
project's 2-core AMD EPYC) torch runs bf16 convolutions on a slow fallback: expect bf16 < fp32 there.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py
from steps import train_step  # benchmarks/steps.py

from colorlab.models import Decoder, EfficientNetLite0Encoder, VGG16Encoder
from colorlab.training.module import ColorizationModule


def images_per_second(step, batch, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * batch[0].shape[0] / (time.perf_counter() - start)


def encoder_images_per_second(module: ColorizationModule, lightness, steps: int, bf16: bool) -> float:
    def forward():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            module.encode(lightness)

    start = time.perf_counter()
    for _ in range(steps):
        forward()
    return steps * lightness.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    lightness = torch.rand(args.batch, 1, args.size, args.size)
    ab = torch.rand(args.batch, 2, args.size, args.size) * 0.4 - 0.2
    runs = {}
    for name, make in (
        ("vgg16", lambda: VGG16Encoder(None)),
        ("efficientnet_lite0", lambda: EfficientNetLite0Encoder(None)),
    ):
        for bf16 in (False, True):
            label = f"{name} {'bf16 + channels-last' if bf16 else 'fp32'}"
            module = ColorizationModule(
                make(), Decoder, functools.partial(torch.optim.Adam, lr=1e-3), channels_last=bf16
            )
            step = train_step(module, bf16)
            step((lightness, ab))  # warm-up
            encoder_images_per_second(module, lightness, 1, bf16)
            runs[f"{label}: encoder forward"] = functools.partial(
                encoder_images_per_second, module, lightness, args.steps, bf16
            )
            runs[f"{label}: training step"] = functools.partial(images_per_second, step, (lightness, ab), args.steps)
    values = interleave(runs, args.rounds)
    ratios = []
    for name in ("vgg16", "efficientnet_lite0"):
        for part in ("encoder forward", "training step"):
            ratios.append(
                ratio(
                    values,
                    f"{name} bf16 + channels-last: {part}",
                    f"{name} fp32: {part}",
                    f"{name} {part}: bf16 / fp32",
                )
            )
    ratios.append(
        ratio(
            values, "efficientnet_lite0 fp32: training step", "vgg16 fp32: training step", "Lite0 / VGG-16 step (fp32)"
        )
    )
    settings = f"{args.batch} x {args.size}px, {args.steps} steps per round, {torch.get_num_threads()} threads"
    report("train_throughput", settings, "images/s", values, ratios)


if __name__ == "__main__":
    main()
