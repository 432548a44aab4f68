"""Two models on the same photos, photo by photo: the paired difference of every metric, with its
95% bootstrap interval, as a Markdown table with its provenance.

    python scripts/paired.py <evaluation folder A> <evaluation folder B> [more pairs ...] --out docs/x.md

Each folder is a `colorlab.evaluate` output (`metrics.json`, `per_image.csv`); the pairs must have
evaluated the same photos in the same order (the same data, split and protocol), which is checked.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from colorlab.core.provenance import provenance
from colorlab.evaluation.results import read_per_image
from colorlab.evaluation.scoring import paired_differences

METRICS = [("auc", "AuC"), ("auc_rebalanced", "rebal. AuC"), ("psnr", "PSNR (dB)"), ("dcf", "ΔCF")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="pairs of evaluation folders: A B [A B ...]")
    parser.add_argument("--out", type=Path, help="write the table here (Markdown, with its provenance)")
    args = parser.parse_args()
    if len(args.folders) % 2:
        parser.error("give the evaluation folders in pairs: A B [A B ...]")
    lines = ["| A − B (paired, same photos) | photos | " + " | ".join(label for _, label in METRICS) + " |"]
    lines.append("|---" * (len(METRICS) + 2) + "|")
    for a, b in zip(args.folders[::2], args.folders[1::2], strict=True):
        files_a, rows_a = read_per_image(a)
        files_b, rows_b = read_per_image(b)
        if files_a != files_b:
            parser.error(f"{a} and {b} did not evaluate the same photos in the same order")
        diff = paired_differences(rows_a, rows_b, 1000, 0)
        cells = [f"{diff[k]['mean']:+.2f} [{diff[k]['ci_low']:+.2f}, {diff[k]['ci_high']:+.2f}]" for k, _ in METRICS]
        lines.append(f"| {a.name} − {b.name} | {len(rows_a)} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        invocation = "python scripts/paired.py " + " ".join(sys.argv[1:])
        args.out.write_text(f"{provenance(invocation)}\n\n{table}\n")


if __name__ == "__main__":
    main()
