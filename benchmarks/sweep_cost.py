"""Sweep cost with and without the feature cache: the same Hydra multirun, end to end, measured in one run.

    python benchmarks/sweep_cost.py [--root ../shared/data/cats] [--subset 2000] [--size 128] [--epochs 10]

Runs `python -m colorlab.train -m model=baseline,batchnorm,dropout` twice on the same photos, settings
and augmentation (centre crop + mirror): without and then with `data.cache_features=true` (the cache
starts empty, so building it is part of the cost). Times each sweep as a whole (process start, data
scan, cache build, fit, checkpoints) and prints:

  E      one frozen-encoder pass over the data (train + val): half the cache build, which encodes both views
  D      one decoder epoch from cached features (train + val), from the cached runs' own timings
  ideal  N(E+D) / (E+N*D) for N decoder-epochs (the issue's ceiling), and N(E+D) / (2E+N*D), the same
         ceiling for a cache that also holds the mirror view
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

ROOT = Path(__file__).resolve().parents[1]


def sweep(workdir: Path, common: list[str], cached: bool) -> tuple[float, list[dict]]:
    """Run one multirun; return its wall seconds and each job's summary.json."""
    tag = "cached" if cached else "uncached"
    command = [
        sys.executable, "-m", "colorlab.train", "-m", *common,
        f"data.cache_features={str(cached).lower()}", f"paths.log_dir={workdir / tag}",
    ]  # fmt: skip
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
        "model.encoder.weights=null", "model.channels_last=true", f"trainer={args.trainer}",
        f"trainer.max_epochs={args.epochs}", "trainer.enable_progress_bar=false",
        f"paths.cache_dir={workdir / 'cache'}",
    ]  # fmt: skip
    runs = len(args.models.split(","))
    print(f"{runs} decoders x {args.epochs} epochs, {args.subset} photos at {args.size}px, trainer={args.trainer}")
    uncached, _ = sweep(workdir, common, cached=False)  # also fills the (shared) chroma-scan cache
    shutil.rmtree(workdir / "cache" / "features", ignore_errors=True)
    cached, summaries = sweep(workdir, common, cached=True)

    build = summaries[0]["feature_cache"]
    assert build["computed"] > 0 and all(s["feature_cache"]["computed"] == 0 for s in summaries[1:])
    n = runs * args.epochs
    encoder_pass = build["seconds"] / 2
    decoder_epoch = sum(s["train_seconds"] - s["feature_cache"]["seconds"] for s in summaries) / n
    ideal = n * (encoder_pass + decoder_epoch) / (encoder_pass + n * decoder_epoch)
    ideal_mirror = n * (encoder_pass + decoder_epoch) / (2 * encoder_pass + n * decoder_epoch)
    achieved = uncached / cached
    print(f"cache: {build['computed']} photos encoded (2 views each) in {build['seconds']:.1f} s")
    print(f"E (encoder pass over the data) = {encoder_pass:.1f} s")
    print(f"D (decoder epoch from features) = {decoder_epoch:.2f} s")
    print(f"N = {n} decoder-epochs")
    print(f"uncached sweep {uncached:.1f} s, cached sweep {cached:.1f} s")
    print(f"ideal N(E+D)/(E+ND) = {ideal:.2f}x; with the mirror view cached, N(E+D)/(2E+ND) = {ideal_mirror:.2f}x")
    print(f"achieved = {achieved:.2f}x = {achieved / ideal:.2f} of the ideal ({achieved / ideal_mirror:.2f} of the "
          "mirror-view ideal)")  # fmt: skip
    if args.keep:
        print(f"runs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
