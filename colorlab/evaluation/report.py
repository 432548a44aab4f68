"""A side-by-side report of runs (what `python -m colorlab.compare` writes).

Writes `report.md`, a self-contained `report.html`, `curves.png` (loss and accuracy per epoch) and
`grid.png` (gray input | each variant | ground truth) to `<sweep>/report/` (or `--out`). Runs without
evaluation results are evaluated first; results already there are reused. Running, failed and
interrupted runs are listed with their status, never dropped.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
import math
import re
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import hydra
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from colorlab.core.color import gray_rgb, lab_to_rgb, rgb_to_lab  # noqa: E402
from colorlab.core.provenance import provenance  # noqa: E402
from colorlab.evaluation.hint_sweep import plot_hint_curves  # noqa: E402
from colorlab.evaluation.results import evaluate_run  # noqa: E402
from colorlab.models.checkpoints import (  # noqa: E402
    CheckpointError,
    file_sha256,
    find_checkpoint,
    open_model,
    stored_data_config,
)
from colorlab.training.run_folder import SUMMARY_FILE  # noqa: E402

log = logging.getLogger(__name__)

# (key in metrics.json, column label, best: "max" | "min" | "zero" | None)
COLUMNS = (
    ("psnr", "PSNR (dB)", "max"),
    ("ssim", "SSIM", "max"),
    ("auc", "AuC (%)", "max"),
    ("auc_rebalanced", "rebal. AuC (%)", "max"),
    ("acc@10", "acc@10", "max"),
    ("cf", "CF", None),
    ("dcf", "ΔCF", "zero"),
)
EXTRA = (
    ("params", "params", None),
    ("train_time", "train time (s)", None),
    ("best_epoch", "best epoch", None),
    ("gap", "val−train loss", "zero"),
)


@dataclass
class Run:
    folder: Path
    name: str
    status: str
    summary: dict = field(default_factory=dict)
    results: dict | None = None  # metrics.json of its evaluation
    note: str = ""


def discover(paths: list[Path]) -> list[Path]:
    """Run folders: a sweep folder expands to its job folders (those with a .hydra/ inside)."""
    runs: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"{path}: no such run or sweep folder")
        if (path / ".hydra").is_dir() or (path / "checkpoints").is_dir():
            runs.append(path)
        else:
            jobs = sorted((p for p in path.iterdir() if (p / ".hydra").is_dir()), key=_job_order)
            if not jobs:
                raise FileNotFoundError(f"{path}: neither a run folder nor a sweep with run folders in it")
            runs += jobs
    return runs


def _job_order(path: Path) -> tuple:
    head = path.name.split("_", 1)[0]
    return (int(head), path.name) if head.isdigit() else (math.inf, path.name)


def load_run(folder: Path, split: str, bootstrap: int) -> Run:
    """Status from summary.json; evaluation results from eval/<split>/metrics.json when they are of the
    run's current checkpoint (its path and content hash), else evaluated again."""
    summary_file = folder / SUMMARY_FILE
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    status = summary.get("status", "unknown (no summary.json)")
    run = Run(folder, folder.name, status, summary, note=summary.get("error", ""))
    if status == "running":
        run.note = "still running (or killed without a chance to say so)"
    try:
        checkpoint = find_checkpoint(folder)
    except CheckpointError as err:
        run.note = run.note or str(err)
        return run
    run.results = current_results(folder / "eval" / split / "metrics.json", checkpoint)
    if run.results is not None or status == "running":
        return run
    try:  # finished runs, and failed or interrupted ones that left a checkpoint (their status says so)
        run.results = evaluate_run(folder, split=split, bootstrap=bootstrap)
    except (CheckpointError, OSError, ValueError) as err:
        run.note = f"evaluation failed: {err}"
    return run


def current_results(metrics_file: Path, checkpoint: Path) -> dict | None:
    """metrics.json if it exists, reads and records exactly `checkpoint` (path and content), else None."""
    try:
        results = json.loads(metrics_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(results, dict):
        return None
    if results.get("checkpoint") != str(checkpoint) or results.get("checkpoint_sha256") != file_sha256(checkpoint):
        log.info("%s: of another checkpoint than %s; evaluating again", metrics_file, checkpoint.name)
        return None
    return results


def table_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (variants, then the baselines of the first evaluated run); best values in bold."""
    header = ["run", "status", *(label for _, label, _ in COLUMNS), *(label for _, label, _ in EXTRA)]
    values: list[tuple[str, str, dict[str, float]]] = []
    for run in runs:
        row: dict[str, float] = {}
        intervals: dict[str, tuple[float, float]] = {}
        if run.results:
            own = run.results["results"][run.results["variant"]]
            row.update({key: own[key]["mean"] for key, _, _ in COLUMNS})
            intervals = {key: (own[key]["ci_low"], own[key]["ci_high"]) for key, _, _ in COLUMNS}
        metrics = run.summary.get("metrics", {})
        hp = run.summary.get("hparams", {})
        row["params"] = hp.get("params/decoder", math.nan)
        row["train_time"] = run.summary.get("train_seconds", math.nan)
        row["best_epoch"] = metrics.get("val/best_epoch", math.nan)
        if "val/loss" in metrics and "train/loss_epoch" in metrics:
            row["gap"] = metrics["val/loss"] - metrics["train/loss_epoch"]
        values.append((run.name, run.status + (f": {run.note}" if run.note else ""), row, intervals))
    reference = next((r.results for r in runs if r.results), None)
    if reference:
        for name, summary in reference["results"].items():
            if name.endswith(" baseline"):
                means = {key: summary[key]["mean"] for key, _, _ in COLUMNS}
                intervals = {key: (summary[key]["ci_low"], summary[key]["ci_high"]) for key, _, _ in COLUMNS}
                values.append((name, "baseline", means, intervals))
    best = {}
    for key, _, rule in (*COLUMNS, *EXTRA):
        present = [row[key] for _, _, row, _ in values if key in row and not math.isnan(row[key])]
        if rule and present:
            best[key] = {"max": max, "min": min, "zero": lambda v: min(v, key=abs)}[rule](present)
    rows = []
    for name, status, row, intervals in values:
        cells = [name, status]
        for key, _, _ in (*COLUMNS, *EXTRA):
            value = row.get(key, math.nan)
            text = "–" if math.isnan(value) else _fmt(key, value)
            text = f"**{text}**" if key in best and value == best[key] else text
            low, high = intervals.get(key, (math.nan, math.nan))
            cells.append(text if math.isnan(low) else f"{text} [{_fmt(key, low)}, {_fmt(key, high)}]")
        rows.append(cells)
    return header, rows


def _fmt(key: str, value: float) -> str:
    if key in ("params", "best_epoch"):
        return f"{int(value):,}"
    if key == "train_time":
        return f"{value:.0f}"
    if key == "gap":
        return f"{value:+.5f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def read_curves(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Per-epoch series from the run's csv/metrics.csv: {metric: [(epoch, value)]}."""
    path = folder / "csv" / "metrics.csv"
    series: dict[str, list[tuple[int, float]]] = {}
    if not path.is_file():
        return series
    with open(path) as f:
        for row in csv.DictReader(f):
            for key in ("train/loss_epoch", "val/loss", "train/acc", "val/acc"):
                if row.get(key):
                    series.setdefault(key, []).append((int(float(row["epoch"])), float(row[key])))
    return series


def plot_curves(runs: list[Run], path: Path) -> None:
    """Loss and accuracy per epoch, train and validation, one color per run, shared axes."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    panels = [
        ("train/loss_epoch", "train loss (the head's: MSE on ab/128, or rebalanced CE)"),
        ("val/loss", "validation loss"),
        ("train/acc", "train acc (≤10 ab)"),
        ("val/acc", "validation acc (≤10 ab)"),
    ]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        series = read_curves(run.folder)
        for ax, (key, title) in zip(axes.flat, panels, strict=True):
            if key in series:
                epochs, values = zip(*series[key], strict=True)
                ax.plot(epochs, values, marker="o", markersize=3, color=colors[i % len(colors)], label=run.name)
            ax.set_title(title)
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    axes[0, 1].sharey(axes[0, 0])
    axes[1, 1].sharey(axes[1, 0])
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@torch.no_grad()
def plot_grid(
    runs: list[Run], path: Path, split: str, images: int = 6, cell_inches: float = 2.2, root: Path | None = None
) -> None:
    """Rows of `split` photos (of the first run's data, or of the folder `root`): gray input | each
    evaluated run's prediction | ground truth."""
    finished = [r for r in runs if r.results is not None]
    if not finished:
        return
    loaded = [open_model(r.folder) for r in finished]
    models = [opened.net for opened in loaded]
    if root is not None:  # a folder of the user's: the model file needs to say nothing about data
        size = models[0].image_size or 224
        data_cfg = OmegaConf.create({"_target_": "colorlab.data.ColorDataModule", "root": str(root)})
        data_cfg.image_size = size
    else:
        data_cfg = OmegaConf.create(stored_data_config(loaded[0]))
    datamodule = hydra.utils.instantiate(data_cfg, batch_size=images)
    datamodule.setup()
    rgb = next(iter(datamodule.eval_dataloader(split)))[:images]
    lightness, ab = rgb_to_lab(rgb)
    columns = [("gray input", gray_rgb(lightness))]
    columns += [
        (run.name, lab_to_rgb(lightness, model(lightness).float())) for run, model in zip(finished, models, strict=True)
    ]
    columns.append(("ground truth", lab_to_rgb(lightness, ab)))
    fig, axes = plt.subplots(
        len(rgb), len(columns), figsize=(cell_inches * len(columns), cell_inches * len(rgb)), squeeze=False
    )
    for c, (title, batch) in enumerate(columns):
        for r in range(len(rgb)):
            ax = axes[r, c]
            ax.imshow(batch[r].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=10)
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(header: list[str], rows: list[list[str]], runs: list[Run], split: str, command: str) -> str:
    lines = ["# colorlab comparison", "", provenance(command), ""]
    reference = next((r.results for r in runs if r.results), None)
    if reference:
        lines.append(
            f"Evaluated on the **{split}** split of `{reference['data_root']}` ({reference['images']} images); "
            f"means over images, 95% bootstrap intervals in each run's `eval/{split}/metrics.json`. "
            "Best value per column in bold, baselines included (ΔCF and the loss gap: closest to zero)."
        )
        lines += ["", conclusion(runs), ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "![loss and accuracy per epoch](curves.png)", "", "![gray | variants | truth](grid.png)", ""]
    if reference and reference.get("skipped"):
        lines += [f"- {name}: not reported ({why})" for name, why in reference["skipped"].items()]
    return "\n".join(lines) + "\n"


def conclusion(runs: list[Run], metric: str = "auc", label: str = "AuC") -> str:
    """One sentence: which variant wins on `metric`, and whether any beats the gray and mean baselines
    (the paired 95% interval of its difference above zero)."""
    evaluated = [run for run in runs if run.results]
    if not evaluated:
        return "No run has evaluation results yet."

    def mean(run: Run) -> float:
        return run.results["results"][run.results["variant"]][metric]["mean"]

    def beats(run: Run, baseline: str) -> bool:
        pair = run.results["differences"].get(f"{run.results['variant']} - {baseline} baseline")
        return pair is not None and pair[metric]["ci_low"] > 0

    winner = max(evaluated, key=mean)
    beating = [run.name for run in evaluated if beats(run, "gray") and beats(run, "mean")]
    to_mean = winner.results["differences"].get(f"{winner.results['variant']} - mean baseline", {}).get(metric)
    versus = f" ({to_mean['mean']:+.2f} [{to_mean['ci_low']:+.2f}, {to_mean['ci_high']:+.2f}] over the mean baseline)"
    if not beating:
        verdict = "no variant beats both the gray and the mean baseline"
    elif len(beating) == len(evaluated):
        verdict = "every variant beats both the gray and the mean baseline"
    else:
        verdict = f"{', '.join(beating)} beat{'s' if len(beating) == 1 else ''} both the gray and the mean baseline"
    return (
        f"**{winner.name}** has the best {label} of the {len(evaluated)} evaluated variant(s)"
        f"{versus if to_mean else ''}; {verdict} (paired 95% intervals of the difference)."
    )


def inline_html(text: str) -> str:
    """One line of the report's Markdown as HTML: escaped, then **bold**, *emphasis* and `code`."""
    text = escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def html(md_header: list[str], rows: list[list[str]], title: str, out: Path, intro: list[str]) -> str:
    """A self-contained page: the introduction's paragraphs (Markdown lines rendered), the table and
    the two pictures embedded as data URIs."""

    def cell(text: str, tag: str) -> str:
        return f"<{tag}>{inline_html(text)}</{tag}>"

    def image(name: str) -> str:
        path = out / name
        if not path.is_file():
            return ""
        data = base64.b64encode(path.read_bytes()).decode()
        return f'<p><img alt="{name}" src="data:image/png;base64,{data}" style="max-width:100%"></p>'

    table = "<tr>" + "".join(cell(h, "th") for h in md_header) + "</tr>"
    table += "".join("<tr>" + "".join(cell(c, "td") for c in row) + "</tr>" for row in rows)
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
    )
    paragraphs = "".join(f"<p>{inline_html(p)}</p>" for p in intro)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{style}</style>"
        f"</head><body><h1>{escape(title)}</h1>{paragraphs}<table>{table}</table>"
        f"{image('curves.png')}{image('grid.png')}</body></html>\n"
    )


def compare(
    paths: list[Path],
    out: Path | None = None,
    split: str = "test",
    bootstrap: int = 1000,
    images: int = 6,
    grid_root: Path | None = None,
    command: str = "colorlab.evaluation.report.compare",
) -> Path:
    folders = discover(paths)
    out = out or (
        paths[0] / "report" if len(paths) == 1 and paths[0] not in folders else Path("outputs") / "reports" / "latest"
    )
    out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(folder, split, bootstrap) for folder in folders]
    names = [run.name for run in runs]
    for run in runs:  # two sweeps both have 0_baseline: qualify by the sweep's folder
        if names.count(run.name) > 1:
            run.name = f"{run.folder.parent.name}/{run.folder.name}"
    header, rows = table_rows(runs)
    plot_curves(runs, out / "curves.png")
    plot_grid(runs, out / "grid.png", split, images, root=grid_root)
    text = markdown(header, rows, runs, split, command)
    with_hints = {run.name: run.results["hints"] for run in runs if run.results and "hints" in run.results}
    if with_hints:  # runs evaluated with a hint sweep (evaluate hints=[...]): their curves side by side
        plot_hint_curves(with_hints, out / "hint_curves.png")
        text += "\n![quality against the number of points](hint_curves.png)\n"
    (out / "report.md").write_text(text)
    intro = [line for line in text.split("\n")[1:] if line and not line.startswith(("|", "!", "#"))]
    (out / "report.html").write_text(html(header, rows, "colorlab comparison", out, intro))
    for run in runs:
        if run.status != "finished":
            log.warning("%s: %s %s", run.name, run.status, run.note)
    return out
