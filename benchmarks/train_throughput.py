"""Training-step images/s per encoder and precision, measured in one run on the same batches.

    python benchmarks/train_throughput.py [--size 128] [--batch 16] [--steps 8]

For each encoder (VGG-16, EfficientNet-Lite0) with the paper's baseline decoder: the frozen encoder's
forward alone, and a full training step (encoder forward without gradients, decoder forward and
backward, Adam), each in fp32 and in bf16 autocast with channels-last. Prints images/s and ratios.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from steps import train_step  # benchmarks/steps.py

from colorlab.module import ColorizationModule
from colorlab.nets import Decoder, EfficientNetLite0Encoder, VGG16Encoder


def images_per_second(module: ColorizationModule, batch, steps: int, bf16: bool) -> float:
    step = train_step(module, bf16)
    step(batch)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step(batch)
    return steps * batch[0].shape[0] / (time.perf_counter() - start)


def encoder_images_per_second(module: ColorizationModule, lightness, steps: int, bf16: bool) -> float:
    def forward():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            module.encode(lightness)

    forward()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        forward()
    return steps * lightness.shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    lightness = torch.rand(args.batch, 1, args.size, args.size)
    ab = torch.rand(args.batch, 2, args.size, args.size) * 0.4 - 0.2
    print(f"{args.batch} x {args.size}px, {args.steps} timed steps, {torch.get_num_threads()} threads")
    results, encoder_rates = {}, {}
    for name, make in (
        ("vgg16", lambda: VGG16Encoder(None)),
        ("efficientnet_lite0", lambda: EfficientNetLite0Encoder(None)),
    ):
        for bf16 in (False, True):
            module = ColorizationModule(
                make(), Decoder, functools.partial(torch.optim.Adam, lr=1e-3), channels_last=bf16
            )
            batch = (lightness, ab)
            encoder_rates[name, bf16] = encoder_images_per_second(module, lightness, args.steps, bf16)
            results[name, bf16] = images_per_second(module, batch, args.steps, bf16)
            label = "bf16 + channels-last" if bf16 else "fp32"
            print(
                f"{name:20s} {label:22s} encoder forward {encoder_rates[name, bf16]:7.1f} images/s, "
                f"training step {results[name, bf16]:7.1f} images/s"
            )
    for name in ("vgg16", "efficientnet_lite0"):
        print(
            f"{name}: bf16+channels-last / fp32 = {encoder_rates[name, True] / encoder_rates[name, False]:.2f} "
            f"(encoder forward), {results[name, True] / results[name, False]:.2f} (training step)"
        )
    for bf16 in (False, True):
        ratio = results["efficientnet_lite0", bf16] / results["vgg16", bf16]
        print(f"efficientnet_lite0 / vgg16 ({'bf16' if bf16 else 'fp32'}) = {ratio:.2f}")


if __name__ == "__main__":
    main()
