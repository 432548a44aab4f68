"""What a larger EfficientNet-Lite costs, and what training Lite0's top costs, measured in one run.

    python benchmarks/encoder_cost.py [--size 192] [--batch 16] [--steps 3] [--rounds 3]

For Lite0, Lite1 and Lite2: the frozen encoder's forward with the U-Net's skips (16, 8, 4), which is
what a feature-cache build runs once per photo and view, in images/s (fp32, channels-last). For
Lite0 with `train_from_stride=16`: the trained top's forward and backward on cached stride-16
features, which every training step then adds. Weights are random (`weights=null`): the cost does
not depend on them. Ratios: each Lite against Lite0 (below 1: slower), and Lite0's encoder pass
against its top's step.
"""

from __future__ import annotations

import argparse
import functools
import time

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py

from colorlab.models import EfficientNetLite0Encoder, EfficientNetLite1Encoder, EfficientNetLite2Encoder

ENCODERS = {"Lite0": EfficientNetLite0Encoder, "Lite1": EfficientNetLite1Encoder, "Lite2": EfficientNetLite2Encoder}


def rate(work, images: int, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        work()
    return steps * images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    lightness = torch.rand(args.batch, 1, args.size, args.size).contiguous(memory_format=torch.channels_last)
    runs, sizes = {}, {}
    for name, cls in ENCODERS.items():
        encoder = cls(weights=None).to(memory_format=torch.channels_last)
        sizes[name] = sum(p.numel() for n, p in encoder.named_parameters() if not n.startswith("net.classifier"))

        @torch.no_grad()
        def encode(encoder=encoder):
            encoder.forward_with_skips(lightness)

        encode()  # warm-up
        runs[f"{name}: encoder forward + skips"] = functools.partial(rate, encode, args.batch, args.steps)
    top = EfficientNetLite0Encoder(weights=None, train_from_stride=16).to(memory_format=torch.channels_last)
    with torch.no_grad():
        cached = top.forward_frozen(lightness)

    def top_step():
        top.zero_grad(set_to_none=True)
        top.forward_top(cached).float().square().mean().backward()

    top_step()
    runs["Lite0 top (train_from_stride=16): forward + backward"] = functools.partial(
        rate, top_step, args.batch, args.steps
    )
    values = interleave(runs, args.rounds)
    lite0 = "Lite0: encoder forward + skips"
    ratios = [
        ratio(values, f"{name}: encoder forward + skips", lite0, f"{name} / Lite0 encoder pass")
        for name in ("Lite1", "Lite2")
    ]
    ratios.append(
        ratio(
            values,
            "Lite0 top (train_from_stride=16): forward + backward",
            lite0,
            "Lite0 trained top's step / Lite0 encoder pass",
        )
    )
    params = ", ".join(f"{name} {count / 1e6:.2f} M" for name, count in sizes.items())
    settings = (
        f"{args.batch} x {args.size} px, fp32 + channels-last, {args.steps} batches per round, "
        f"{torch.get_num_threads()} threads; encoder parameters without the classifier: {params}"
    )
    report("encoder_cost", settings, "images/s", values, ratios)


if __name__ == "__main__":
    main()
