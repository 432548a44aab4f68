"""Accuracy against colorfulness: where each evaluated model (and temperature) lands, and the goal region.

    python scripts/frontier.py outputs/frontier/*/ --out docs/cats_frontier.png --table docs/cats_frontier.md

Each argument is an evaluation folder (a `metrics.json` from `colorlab.evaluate`), e.g. from a
temperature sweep on the validation split:

    for T in 0.2 0.38 0.6 1.0; do python -m colorlab.evaluate run=<run> split=val temperature=$T \
      data=folder data.root=../shared/data/cats data.image_size=224 'baselines=[gray,mean]' \
      out=outputs/frontier/<name>-T$T; done

Prints one row per folder, the model minus the mean
baseline paired over the same photos, and plots AuC − mean against ΔCF with the target region
(AuC ≥ mean + 1, ΔCF ≥ −12) shaded: a point inside meets both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from colorlab.provenance import provenance

AUC_TARGET, DCF_TARGET, REBALANCED_TARGET = 1.0, -12.0, 2.0


def point(folder: Path) -> dict:
    """The model's paired differences to the mean and gray baselines and its ΔCF, from one evaluation."""
    metrics = json.loads((folder / "metrics.json").read_text())
    variant = metrics["variant"]
    to_mean = metrics["differences"][f"{variant} - mean baseline"]
    to_gray = metrics["differences"].get(f"{variant} - gray baseline")
    return {
        "folder": folder.name,
        "variant": variant,
        "temperature": metrics.get("temperature"),
        "images": metrics["images"],
        "auc": to_mean["auc"],
        "auc_rebalanced": to_mean["auc_rebalanced"],
        "psnr_vs_gray": to_gray["psnr"] if to_gray else None,
        "dcf": metrics["results"][variant]["dcf"],
    }


def interval(stat: dict | None) -> str:
    if stat is None:
        return "–"
    return f"{stat['mean']:+.2f} [{stat['ci_low']:+.2f}, {stat['ci_high']:+.2f}]"


def table(points: list[dict]) -> str:
    rows = [
        "| evaluation | T | AuC − mean | rebal. AuC − mean | PSNR − gray (dB) | ΔCF |",
        "|---|---|---|---|---|---|",
    ]
    for p in points:
        dcf = p["dcf"]
        rows.append(
            f"| {p['folder']} | {p['temperature'] or '–'} | {interval(p['auc'])} | {interval(p['auc_rebalanced'])} "
            f"| {interval(p['psnr_vs_gray'])} | {dcf['mean']:.1f} [{dcf['ci_low']:.1f}, {dcf['ci_high']:.1f}] |"
        )
    return "\n".join(rows)


def plot(points: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    by_variant: dict[str, list[dict]] = {}
    for p in points:
        by_variant.setdefault(p["variant"], []).append(p)
    for variant, group in by_variant.items():
        group.sort(key=lambda p: p["temperature"] or 0)
        xs, ys = [p["auc"]["mean"] for p in group], [p["dcf"]["mean"] for p in group]
        ax.plot(xs, ys, "o-", label=variant)
        for p, x, y in zip(group, xs, ys, strict=True):
            if p["temperature"] is not None:
                ax.annotate(f"T={p['temperature']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    right = max(AUC_TARGET + 0.5, *(p["auc"]["mean"] + 0.3 for p in points))
    top = max(DCF_TARGET + 3, *(p["dcf"]["mean"] + 2 for p in points))
    goal = "goal: AuC ≥ mean + 1, ΔCF ≥ −12"
    ax.fill_between([AUC_TARGET, right], DCF_TARGET, top, color="tab:green", alpha=0.12, label=goal)
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_xlabel("AuC − mean baseline (paired, percentage points)")
    ax.set_ylabel("ΔCF (colorfulness − truth's)")
    ax.set_title(f"accuracy vs colorfulness ({points[0]['images']} photos)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="evaluation folders holding metrics.json")
    parser.add_argument("--out", type=Path, help="write the plot here (PNG)")
    parser.add_argument("--table", type=Path, help="write the table here (Markdown, with its provenance)")
    args = parser.parse_args()
    missing = [str(f) for f in args.folders if not (f / "metrics.json").is_file()]
    if missing:
        parser.error(f"no metrics.json in {', '.join(missing)}")
    points = [point(folder) for folder in args.folders]
    print(table(points))
    if args.table:
        invocation = "python scripts/frontier.py " + " ".join(sys.argv[1:])
        args.table.write_text(f"{provenance(invocation)}\n\n{table(points)}\n")
    if args.out:
        plot(points, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
