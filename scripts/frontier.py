"""Accuracy against colorfulness: where each evaluated model (and temperature) lands, and the goal region.

    python scripts/frontier.py docs/cats_frontier.json outputs/frontier/*/ --out docs/cats_frontier.png \
      --table docs/cats_frontier.md --points docs/cats_frontier.json

Each argument is an evaluation folder (a `metrics.json` from `colorlab.evaluate`), e.g. from a
temperature sweep on the validation split:

    for T in 0.6 1.0 1.3; do python -m colorlab.evaluate run=<run> split=val temperature=$T \
      data=folder data.root=../shared/data/cats data.image_size=224 'baselines=[gray,mean]' \
      out=outputs/frontier/<name>-T$T; done

or a points file an earlier call wrote with `--points`, so that measurements whose checkpoints are
gone stay on the plot (a folder replaces an earlier point of the same name). Prints one row per
point, the model minus the mean baseline paired over the same photos, and plots AuC − mean against
ΔCF with the target region (AuC ≥ mean + 1, ΔCF ≥ −12) shaded: a point inside meets both. The
table says where each point was measured (commit, date, machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from colorlab.core.provenance import provenance
from colorlab.evaluation.page_text import escape_cell, escape_line

AUC_TARGET, DCF_TARGET, REBALANCED_TARGET = 1.0, -12.0, 2.0


def point(folder: Path) -> dict:
    """The model's paired differences to the mean and gray baselines and its ΔCF, from one evaluation."""
    metrics = json.loads((folder / "metrics.json").read_text())
    where = metrics.get("measured", {})
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
        "measured": where.get("commit", "?") + ", " + where.get("date", "?") + ", " + where.get("machine", "?"),
    }


def gather(sources: list[Path]) -> list[dict]:
    """Points from evaluation folders and earlier points files, in order; a later source of the same
    name replaces an earlier one."""
    points: dict[str, dict] = {}
    for source in sources:
        found = json.loads(source.read_text())["points"] if source.suffix == ".json" else [point(source)]
        for p in found:
            points.pop(p["folder"], None)
            points[p["folder"]] = p
    return list(points.values())


def measured_notes(points: list[dict]) -> str:
    """Which rows were measured where: one line per commit, date and machine."""
    groups: dict[str, list[str]] = {}
    for p in points:
        groups.setdefault(p["measured"], []).append(p["folder"])
    lines = [
        f"- {escape_cell(', '.join(names))}: evaluated at commit {escape_cell(where)}."
        for where, names in groups.items()
    ]
    return "\n".join(lines)


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
            f"| {escape_cell(p['folder'])} | {escape_cell(p['temperature'] or '–')} | {interval(p['auc'])} "
            f"| {interval(p['auc_rebalanced'])} "
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
    parser.add_argument("sources", nargs="+", type=Path, help="evaluation folders, or points files (.json)")
    parser.add_argument("--out", type=Path, help="write the plot here (PNG)")
    parser.add_argument("--table", type=Path, help="write the table here (Markdown, with its provenance)")
    parser.add_argument("--points", type=Path, help="write the points here (JSON), to extend them later")
    args = parser.parse_args()
    missing = [
        str(f) for f in args.sources if not (f.is_file() if f.suffix == ".json" else (f / "metrics.json").is_file())
    ]
    if missing:
        parser.error(f"no metrics.json or points file at {', '.join(missing)}")
    points = gather(args.sources)
    print(table(points))
    invocation = "python scripts/frontier.py " + " ".join(sys.argv[1:])
    if args.table:
        args.table.write_text(f"{escape_line(provenance(invocation))}\n\n{table(points)}\n\n{measured_notes(points)}\n")
    if args.points:
        args.points.write_text(json.dumps({"written_by": provenance(invocation), "points": points}, indent=2) + "\n")
    if args.out:
        plot(points, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
