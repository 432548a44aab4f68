"""Sweep cost with and without the feature cache: the same Hydra multirun, end to end, measured in one run.

    python benchmarks/sweep_cost.py [--root ../shared/data/cats] [--subset 2000] [--size 128] [--epochs 10]

Runs `python -m colorlab.train -m model=baseline,batchnorm,dropout` three times on the same photos and
settings (centre crop + mirror augmentation): without the cache, with it (centre crop + mirror
cached), and with `data.cache_mirror=false` (centre crop only, so no flip). Each cache starts empty,
so building it is part of the cost. Times each sweep as a whole (process start, data scan, cache
build, fit, checkpoints) and prints:

  E      one frozen-encoder pass over the data (train + val): the centre-only cache build
  D      one decoder epoch from cached features (train + val), from the cached runs' own timings
  ideal  N(E+D) / (E+N*D) for N decoder-epochs (the ceiling); for the two-view cache also
         N(E+D) / (2E+N*D), the ceiling when the build encodes both views
  achieved = uncached sweep seconds / cached sweep seconds

The encoder is VGG-16 with `weights=null` (no download offline): its cost does not depend on its weights.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Ratio, report  # benchmarks/harness.py

ROOT = Path(__file__).resolve().parents[1]


def sweep(workdir: Path, overrides: list[str], tag: str) -> tuple[float, list[dict]]:
    """Run one multirun; return its wall seconds and each job's summary.json."""
    command = [sys.executable, "-m", "colorlab.train", "-m", *overrides, f"paths.log_dir={workdir / tag}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                          capture_output=True)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{tag} sweep failed:\n{done.stderr[-3000:]}")
    summaries = [json.loads(p.read_text()) for p in sorted((workdir / tag).glob("multirun/*/*/summary.json"))]
    return seconds, summaries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default=str(ROOT.parent / "shared" / "data" / "cats"))
    parser.add_argument("--subset", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", default="baseline,batchnorm,dropout")
    parser.add_argument("--trainer", default="cpu", help="trainer config (cpu: bf16-mixed)")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="colorlab-sweep-cost-"))
    common = [
        f"model={args.models}", "data=folder", f"data.root={Path(args.root).resolve()}",
        f"data.subset={args.subset}", f"data.image_size={args.size}", "data.crop_scale=null",
        "model.net.encoder.weights=null", "model.net.channels_last=true", f"trainer={args.trainer}",
        f"trainer.max_epochs={args.epochs}", "trainer.enable_progress_bar=false",
        f"paths.cache_dir={workdir / 'cache'}",
    ]  # fmt: skip
    runs = len(args.models.split(","))
    print(f"{runs} decoders x {args.epochs} epochs, {args.subset} photos at {args.size}px, trainer={args.trainer}")
    uncached, _ = sweep(workdir, [*common, "data.cache_features=false"], "uncached")  # fills the chroma-scan cache
    n = runs * args.epochs
    cached = {}
    for label, extra in (("centre + mirror", []), ("centre only", ["data.cache_mirror=false"])):
        shutil.rmtree(workdir / "cache" / "features", ignore_errors=True)
        overrides = [*common, "data.cache_features=true", *extra]
        seconds, summaries = sweep(workdir, overrides, "cached-" + label.split()[-1])
        build = summaries[0]["feature_cache"]
        assert build["computed"] > 0 and all(s["feature_cache"]["computed"] == 0 for s in summaries[1:])
        decoder_epoch = sum(s["train_seconds"] - s["feature_cache"]["seconds"] for s in summaries) / n
        cached[label] = seconds, build, decoder_epoch
    encoder_pass = cached["centre only"][1]["seconds"]
    print(f"E (one encoder pass over {cached['centre only'][1]['computed']} train + val photos) = {encoder_pass:.1f} s")
    print(f"N = {n} decoder-epochs; uncached sweep {uncached:.1f} s")
    for label, views in (("centre + mirror", 2), ("centre only", 1)):
        seconds, build, decoder_epoch = cached[label]
        ideal = n * (encoder_pass + decoder_epoch) / (encoder_pass + n * decoder_epoch)
        achieved = uncached / seconds
        line = (
            f"cached ({label}): sweep {seconds:.1f} s, build {build['seconds']:.1f} s, D = {decoder_epoch:.2f} s; "
            f"achieved {achieved:.2f}x, ideal N(E+D)/(E+ND) = {ideal:.2f}x -> {achieved / ideal:.2f} of it"
        )
        if views == 2:
            ideal_views = n * (encoder_pass + decoder_epoch) / (2 * encoder_pass + n * decoder_epoch)
            line += f"; two-view ideal N(E+D)/(2E+ND) = {ideal_views:.2f}x -> {achieved / ideal_views:.2f} of it"
        print(line)
    # Minutes-long sweeps are run once each, not interleaved: the report records them for run_all.
    values = {"uncached sweep": [3600 / uncached], **{f"cached ({k}) sweep": [3600 / v[0]] for k, v in cached.items()}}
    ratios = [
        Ratio(f"cached ({k}) / uncached", f"cached ({k}) sweep", "uncached sweep", [uncached / v[0]])
        for k, v in cached.items()
    ]
    settings = f"{runs} decoders x {args.epochs} epochs, {args.subset} photos at {args.size}px, trainer={args.trainer}"
    report("sweep_cost", settings, "sweeps/hour", values, ratios)
    if args.keep:
        print(f"runs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
