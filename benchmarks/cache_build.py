"""Building the feature cache vs the bare encoder forward on the same photos. Target: >= 0.8.

    python benchmarks/cache_build.py [--root ../shared/data/cats] [--photos 256] [--size 192] [--rounds 5]

The build is `FeatureCache.build` from an empty folder, as `data.cache_features=true` runs it: hash
each file, decode and centre-crop (read ahead by a thread), LAB, the encoder on both views
(EfficientNet-Lite0, ImageNet weights, fp32), pack and write each entry atomically (by a thread).
The bare forward runs the same encoder on the same views, decoded beforehand, in batches of the same
size. Interleaved rounds (benchmarks/harness.py); photos/s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from harness import interleave, ratio, report  # benchmarks/harness.py

from colorlab.core.color import rgb_to_lab
from colorlab.data.feature_cache import FeatureCache
from colorlab.data.images import ImageFiles
from colorlab.data.photo_files import find_images
from colorlab.data.transforms import eval_transform
from colorlab.models import EfficientNetLite0Encoder

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "data" / "cats"))
    parser.add_argument("--photos", type=int, default=256)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    files = sorted(find_images(Path(args.root)))[: args.photos]
    encoder = EfficientNetLite0Encoder("imagenet").eval()

    def load_views(paths) -> ImageFiles:
        return ImageFiles(paths, *eval_transform(args.size))

    views = load_views(files)
    batches = [
        torch.stack([views[j] for j in range(i, min(i + args.batch, len(files)))])
        for i in range(0, len(files), args.batch)
    ]
    lightness = [rgb_to_lab(images)[0] for images in batches]

    with tempfile.TemporaryDirectory() as tmp:

        def build() -> float:
            folder = Path(tmp) / "cache"
            shutil.rmtree(folder, ignore_errors=True)
            start = time.perf_counter()
            _, built = FeatureCache(folder, encoder, args.size).build(files, load_views, batch_size=args.batch)
            seconds = time.perf_counter() - start
            assert built.computed == len(files)
            return len(files) / seconds

        @torch.no_grad()
        def bare() -> float:
            start = time.perf_counter()
            for light in lightness:
                encoder(torch.cat([light, light.flip(-1)]))
            return len(files) / (time.perf_counter() - start)

        bare()  # warm-up
        values = interleave({"cache build": build, "bare encoder forward (2 views)": bare}, args.rounds)
    settings = (
        f"EfficientNet-Lite0, {len(files)} photos of {Path(args.root).name} at {args.size} px, centre + mirror, "
        f"batch {args.batch}, fp32, {torch.get_num_threads()} threads"
    )
    target = ratio(values, "cache build", "bare encoder forward (2 views)", "build / bare encoder", target=0.8)
    report("cache_build", settings, "photos/s", values, [target])


if __name__ == "__main__":
    main()
