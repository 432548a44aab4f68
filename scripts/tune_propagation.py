"""Choose the edge-aware propagation's settings on a validation split (never on a test set).

    python scripts/tune_propagation.py --root ../shared/data/cats --images 160 \
        --edge 0.1 0.2 0.4 --reach 24 48 96 --gain 1 4 16 --out outputs/tune_propagation.json

Points are revealed from the truth as the hint sweep reveals them (`colorlab.models.hints.reveal`, the same
seed). The network runs once per photo and count; each (edge, reach, gain) then only re-runs the
propagation, so a grid costs little more than one sweep. For each setting it prints the mean PSNR gain
over zero points of the model + propagation and of the propagation baseline at every count, and the
far-region change at one point; among the settings whose far-region change is at most a third of the
network's own, the one with the best mean gain of the model + propagation wins.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from colorlab.core import metrics
from colorlab.core.color import lab_to_srgb8
from colorlab.core.provenance import measured, provenance
from colorlab.data import ColorDataModule
from colorlab.evaluation import hint_reveal
from colorlab.evaluation.hint_sweep import ab_distance, far_pixels, masked_mean
from colorlab.evaluation.scoring import Truth
from colorlab.inference.propagation import Propagation, refine, spread
from colorlab.models import ab_grid
from colorlab.models.checkpoints import load_model


def network_outputs(model, loader, counts, patch, seed):
    """Per batch: (truth, automatic ab, {n: (revealed hints, guided ab)})."""
    first, batches = 0, []
    for rgb in loader:
        truth = Truth.of(rgb, torch.ones(ab_grid.NUM_BINS))
        size = tuple(truth.lightness.shape[-2:])
        features, skips = model.encode(truth.lightness)
        automatic = model.decode((features, skips), size)
        by_count = {}
        for n in counts:
            revealed = hint_reveal.reveal(truth.ab, n, seed, patch, first)
            guided = model.decode((features, skips), size, revealed)
            by_count[n] = (revealed, guided)
        batches.append((truth, automatic, by_count))
        first += rgb.shape[0]
    return batches


def score(batches, settings: Propagation, gate: Propagation) -> dict:
    psnr: dict[str, dict[int, list]] = {"refined": {}, "propagated": {}, "ungated": {}}
    far: dict[str, list] = {"refined": [], "model": []}
    hinted = {}
    for truth, automatic, by_count in batches:
        for n, (revealed, guided) in by_count.items():
            refined = refine(truth.lightness, automatic, guided, revealed.ab, revealed.mask, settings, gate)
            propagated = spread(truth.lightness, automatic, revealed.ab, revealed.mask, settings)
            ungated = spread(truth.lightness, guided, revealed.ab, revealed.mask, settings)  # the network unbounded
            for name, pred in (("refined", refined), ("propagated", propagated), ("ungated", ungated)):
                rgb = lab_to_srgb8(truth.lightness, pred)
                psnr[name].setdefault(n, []).extend(metrics.psnr(rgb, truth.rgb).tolist())
            hinted.setdefault(n, []).extend(masked_mean(ab_distance(refined, revealed.ab), revealed.mask).tolist())
            if n == 1:
                region = far_pixels(truth.lightness, revealed.mask)
                far["refined"].extend(masked_mean(ab_distance(refined, automatic), region).tolist())
                far["model"].extend(masked_mean(ab_distance(guided, automatic), region).tolist())
    gains = {name: {n: float(np.mean(np.array(v) - np.array(by[min(by)]))) for n, v in by.items()}
             for name, by in psnr.items()}  # fmt: skip
    return {**gains, "far_change_at_1": {name: float(np.mean(v)) for name, v in far.items() if v},
            "hint_error": {n: float(np.mean(v)) for n, v in hinted.items()}}  # fmt: skip


def table(rows: list[dict], images: int) -> str:
    """The rows as Markdown: each gate's PSNR gains at every count and its far-region change at one point."""
    counts = list(rows[0]["refined"])
    lines = [
        "| gate: edge, reach, gain | " + " | ".join(f"gain at {n}" for n in counts[1:]) + " | far Δab at 1 |",
        "|---" * (len(counts) + 1) + "|",
    ]
    for row in rows:
        gains = " | ".join(f"{row['refined'][n]:+.2f}" for n in counts[1:])
        far = row["far_change_at_1"]["refined"]
        lines.append(f"| {row['gate_edge']}, {row['gate_reach']:g}, {row['gate_gain']:g} | {gains} | {far:.2f} |")
    first = rows[0]
    for name, label in (("ungated", "network change kept everywhere"), ("propagated", "edge-aware propagation")):
        gains = " | ".join(f"{first[name][n]:+.2f}" for n in counts[1:])
        far = first["far_change_at_1"]["model"] if name == "ungated" else float("nan")
        lines.append(f"| {label} | {gains} | {far:.2f} |" if name == "ungated" else f"| {label} | {gains} | – |")
    lines.append("")
    lines.append(f"*{images} photos of the validation split, 224 px; PSNR gain over zero points in dB (means).*")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="pretrained:cats")
    parser.add_argument("--root", type=Path, required=True, help="a folder of photos; its validation split is used")
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50])
    parser.add_argument("--patch", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edge", type=float, nargs="+", default=[0.2])
    parser.add_argument("--reach", type=float, nargs="+", default=[48.0])
    parser.add_argument("--gain", type=float, nargs="+", default=[4.0])
    parser.add_argument("--gate-edge", type=float, nargs="+", default=[0.3])
    parser.add_argument("--gate-reach", type=float, nargs="+", default=[160.0])
    parser.add_argument("--gate-gain", type=float, nargs="+", default=[32.0])
    parser.add_argument("--gate-scale", type=int, default=4)
    parser.add_argument("--scale", type=int, default=1, help="the points' error spread's scale")
    parser.add_argument("--separate-edges", action="store_true", help="the points' error spread stops at edges")
    parser.add_argument("--cache-dir", type=Path, default=Path("outputs/cache"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, help="also write the rows as a Markdown table, with their provenance")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    model = load_model(args.ckpt)
    data = ColorDataModule(args.root, image_size=args.size, batch_size=16, cache_dir=args.cache_dir)
    data.setup()
    with torch.no_grad():
        loader = data.eval_dataloader("val", max_images=args.images)
        batches = network_outputs(model, loader, sorted(set(args.counts)), args.patch, args.seed)
        rows = []
        grid = itertools.product(args.edge, args.reach, args.gain, args.gate_edge, args.gate_reach, args.gate_gain)
        for edge, reach, gain, gate_edge, gate_reach, gate_gain in grid:
            gate = Propagation(gate_edge, gate_reach, gate_gain, scale=args.gate_scale, separate_edges=True)
            row = {"edge": edge, "reach": reach, "gain": gain, "gate_edge": gate_edge, "gate_reach": gate_reach,
                   "gate_gain": gate_gain, **score(batches, Propagation(edge, reach, gain, scale=args.scale,
                   separate_edges=args.separate_edges), gate)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    # the best mean gain among the gates that keep far regions within a third of the network's own change
    local = [row for row in rows if row["far_change_at_1"]["refined"] <= row["far_change_at_1"]["model"] / 3] or rows
    best = max(local, key=lambda row: np.mean(list(row["refined"].values())))
    print("best:", {key: value for key, value in best.items() if "gate" in key or key in ("edge", "reach", "gain")})
    if args.table:
        invocation = "python scripts/tune_propagation.py " + " ".join(sys.argv[1:])
        args.table.write_text(f"{provenance(invocation)}\n\n{table(rows, args.images)}\n")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        settings = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
        args.out.write_text(
            json.dumps({"measured": measured(), "args": settings, "rows": rows, "best": best}, indent=2)
        )


if __name__ == "__main__":
    main()
