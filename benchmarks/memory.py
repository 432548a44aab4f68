"""Peak memory of a training epoch on 1,000 vs 10,000 photos: it must not grow with the dataset.

    python benchmarks/memory.py [--root ../shared/data/cats] [--sizes 1000 10000] [--image-size 64]

Each size is a separate `colorlab.train` process (one epoch of the baseline decoder with the
EfficientNet-Lite0 encoder so that 10,000 photos take about a minute; validation on the whole val
split, checkpoints and logs as usual) that reports its own peak resident memory (ru_maxrss).
`--cached` trains from the feature cache instead. Prints each peak and the ratio smallest / largest
(target >= 0.9: the 10x larger dataset costs at most ~10% more). Memory does not depend on the CPU
load, so one round is the default (benchmarks/harness.py reports it).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import interleave, ratio, report  # benchmarks/harness.py

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import resource, sys
from colorlab.train import main
sys.argv = sys.argv[1:]
try:
    main()
finally:
    print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_rss_mb(args, size: int, workdir: Path) -> tuple[float, dict]:
    overrides = [
        "model/encoder=efficientnet_lite0", "trainer=cpu", "model.channels_last=true", "data=folder",
        f"data.root={Path(args.root).resolve()}", f"data.subset={size}", f"data.image_size={args.image_size}",
        "trainer.max_epochs=1", "trainer.enable_progress_bar=false", f"paths.cache_dir={workdir / 'cache'}",
        f"hydra.run.dir={workdir / str(size)}",
    ]  # fmt: skip
    if args.cached:
        overrides += ["data.cache_features=true", "data.crop_scale=null"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, "colorlab.train", *overrides], env=env, cwd=workdir,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"training on {size} photos failed:\n{done.stderr[-3000:]}")
    line = next(line for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    summary = json.loads((workdir / str(size) / "summary.json").read_text())
    return int(line.split()[1]) / 1024, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "data" / "cats"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--cached", action="store_true", help="train from the feature cache")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = itertools.count()

        def peak(size: int) -> float:
            workdir = Path(tmp) / f"run{next(runs)}"
            workdir.mkdir()
            mb, summary = peak_rss_mb(args, size, workdir)
            steps, seconds = summary["global_step"], summary["train_seconds"]
            print(f"{size:6d} photos: peak RSS {mb:7.1f} MB, {steps} steps in {seconds:.0f} s")
            return mb

        values = interleave({f"{size} photos": functools.partial(peak, size) for size in args.sizes}, args.rounds)
    smallest, largest = f"{min(args.sizes)} photos", f"{max(args.sizes)} photos"
    settings = f"one epoch, EfficientNet-Lite0, {args.image_size} px{', from the feature cache' if args.cached else ''}"
    bound = ratio(values, smallest, largest, "peak RSS smallest / largest", target=0.9)
    report(f"memory{' (cached)' if args.cached else ''}", settings, "MB peak RSS", values, [bound])


if __name__ == "__main__":
    main()
