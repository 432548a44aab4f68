"""A trained model's results on a split: `metrics.json` (means with 95% bootstrap intervals, for the
model and each baseline, and their paired differences) and `per_image.csv`, beside a printed table."""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from colorlab.core.config import whole_number
from colorlab.core.provenance import measured
from colorlab.data.images import open_image
from colorlab.data.source import DataSource
from colorlab.evaluation.baseline_cache import KeptBaselines
from colorlab.evaluation.hint_sweep import check_counts, format_sweep, plot_hint_curves, summarise_sweep, sweep
from colorlab.evaluation.scoring import (
    DATASET_METRICS,
    METRIC_KEYS,
    ColorStats,
    evaluate,
    paired_differences,
    summarise,
)
from colorlab.evaluation.scoring import baselines as baseline_predictors
from colorlab.inference.guidance import reference_distribution
from colorlab.models.checkpoints import file_sha256, open_model, stored_data_config, stored_precision

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def evaluate_run(
    run: str | Path,
    data: Mapping[str, Any] | None = None,
    split: str = "test",
    protocol: str = "centre_crop",
    batch_size: int = 16,
    bootstrap: int = 1000,
    prior_images: int = 1000,
    baselines: Sequence[str] = ("gray", "mean", "random"),
    temperature: float | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    seed: int = 0,
    hints: Sequence[int] | None = None,
    global_hint: str | None = None,
    hint_patch: int = 6,
    hint_sigma: float = 24.0,
) -> dict[str, Any]:
    """Evaluate the model of `run` (a run folder, checkpoint, model file or `pretrained:<name>`) and the
    baselines on `split` of `data` (a data-source config; default: the run's own, through
    `stored_data_config`'s refusals); write `metrics.json` and `per_image.csv` to `out` (default
    `<run>/eval/<split>/`) and return the metrics. The options are conf/evaluate.yaml's.

    `hints=[0, 1, 5, ...]` adds a hint sweep (colorlab.evaluation.hint_sweep): every metric per number of
    points revealed from the truth, for the model and the Gaussian-blend baseline, in `metrics.json`
    under "hints" and drawn in `hint_curves.png`."""
    if split not in SPLITS:
        raise ValueError(f"split={split}: choose one of {', '.join(SPLITS)}")
    counts = check_counts(hints) if hints is not None else None
    whole_number(hint_patch, "hint_patch", 1, 64)
    if isinstance(hint_sigma, bool) or not isinstance(hint_sigma, int | float) or not 0 < hint_sigma <= 1000:
        raise ValueError(f"hint_sigma={hint_sigma!r}: must be a number of pixels in (0, 1000]")
    reference = None
    if global_hint not in (None, "truth"):
        reference = reference_distribution(open_image(global_hint).convert("RGB"))
    opened = open_model(run, device, temperature)
    model, ckpt, device = opened.net, opened.path, opened.net.device
    # The user's data settings, else the run's own through stored_data_config's refusals (no command,
    # no URL, no download, no cache written where the file says).
    data_cfg = OmegaConf.create(dict(data) if data is not None else stored_data_config(opened))
    datamodule: DataSource = hydra.utils.instantiate(data_cfg, batch_size=batch_size)
    datamodule.prepare_data()
    datamodule.setup()

    stats, stats_source = model.color_stats, "the model's training data (stored in the checkpoint)"
    if stats is None:  # a model trained before colorlab stored them
        stats = ColorStats.estimate(datamodule.eval_dataloader("train", max_images=prior_images))
        stats_source = f"the evaluated data's train split ({prior_images} photos at most)"
        log.warning("%s holds no color statistics: using %s", ckpt, stats_source)
    chosen = baseline_predictors(stats, seed)
    unknown = set(baselines) - set(chosen)
    if unknown:
        raise ValueError(f"baselines={list(baselines)}: unknown {sorted(unknown)}; choose from {list(chosen)}")
    variant = model_row_name(opened.variant, baselines)
    precision = str(stored_precision(opened))
    autocast = torch.bfloat16 if precision.startswith("bf16") else None
    log.info("evaluating %s (%s) and %d baselines on the %s split of %s", variant, ckpt, len(baselines),
             split, datamodule.describe())  # fmt: skip
    loader = datamodule.eval_dataloader(split, protocol=protocol)
    kept = KeptBaselines(datamodule, split, stats, seed=seed, protocol=protocol, batch_size=batch_size,
                         device=torch.device(device).type, autocast=str(autocast))  # fmt: skip
    reused = {name: rows for name in baselines if (rows := kept.load(name)) is not None}
    reused = verified_reuse(reused, datamodule.eval_dataloader(split, protocol=protocol), stats, seed, device, autocast)
    to_score = {variant: model, **{f"{name} baseline": chosen[name] for name in baselines if name not in reused}}
    scored = evaluate(to_score, loader, stats, device, autocast)
    records = {variant: scored[variant]}
    for name in baselines:
        if name in reused:
            records[f"{name} baseline"] = reused[name]
        else:
            records[f"{name} baseline"] = scored[f"{name} baseline"]
            kept.store(name, scored[f"{name} baseline"])
    images = len(records[variant])
    files = datamodule.eval_names(split) or [f"{split}-{i:06d}" for i in range(images)]

    out = Path(out) if out else _run_folder(ckpt) / "eval" / split
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "checkpoint": str(ckpt),
        "checkpoint_sha256": file_sha256(ckpt),  # what these results are of (compare re-evaluates on a change)
        "split": split,
        "protocol": protocol,
        "image_size": datamodule.image_size(),
        "data_root": datamodule.describe(),
        "images": images,
        "variant": variant,
        "temperature": model.temperature,  # the annealed mean's, for class heads
        "bootstrap": bootstrap,
        "color_stats": stats_source,
        "measured": measured(),  # commit, date, machine: where a results page's numbers came from
        "baselines_reused": sorted(reused),  # scored by an earlier evaluation of the same photos
        "skipped": skipped_metrics(),
        "results": {name: summarise(rows, bootstrap, seed) for name, rows in records.items()},
        "differences": {  # the model minus each baseline, image by image: does it beat them?
            f"{variant} - {name}": paired_differences(records[variant], rows, bootstrap, seed)
            for name, rows in records.items()
            if name != variant
        },
    }
    if counts is not None:
        if (global_hint is not None) and not model.takes_hints:
            raise ValueError(f"global_hint={global_hint}: this model does not take hints")
        log.info("hint sweep: %s points, %d px patches, blend sigma %s px", counts, hint_patch, hint_sigma)
        swept = sweep(model, datamodule.eval_dataloader(split, protocol=protocol), stats, counts, device, seed,
                        hint_patch, hint_sigma, reference if reference is not None else global_hint)  # fmt: skip
        result["hints"] = {
            "counts": counts, "patch": hint_patch, "sigma": hint_sigma, "seed": seed,
            "global_hint": global_hint, **summarise_sweep(swept, bootstrap, seed),
        }  # fmt: skip
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    _write_csv(out / "per_image.csv", files, records)
    print(format_table(result["results"]))
    for pair, diff in result["differences"].items():
        auc, psnr = diff["auc"], diff["psnr"]
        print(f"{pair}: AuC {auc['mean']:+.3f} [{auc['ci_low']:+.3f}, {auc['ci_high']:+.3f}], "
              f"PSNR {psnr['mean']:+.3f} [{psnr['ci_low']:+.3f}, {psnr['ci_high']:+.3f}] (paired, 95%)")  # fmt: skip
    if counts is not None:
        print(format_sweep(result["hints"]))
        plot_hint_curves({variant: result["hints"]}, out / "hint_curves.png")
    for name, reason in result["skipped"].items():
        print(f"{name}: skipped ({reason})")
    log.info("wrote %s and %s", out / "metrics.json", out / "per_image.csv")
    return result


def model_row_name(variant: str, baselines: Sequence[str]) -> str:
    """The model's row name: its variant, unless a file named it like a baseline row (it would replace it)."""
    return f"{variant} (model)" if variant in {f"{name} baseline" for name in baselines} else variant


CHECKED_BATCHES = 1


def verified_reuse(reused: dict[str, list[dict[str, float]]], loader, stats, seed: int, device, autocast):
    """The kept baseline scores that a fresh scoring of the first batch reproduces; an entry that does
    not (edited, or from other photos under the same name) is dropped with a warning and scored anew."""
    if not reused:
        return reused
    fresh = baseline_predictors(stats, seed)  # its own generator: the random baseline's first draws again
    checked = evaluate({name: fresh[name] for name in reused}, itertools.islice(loader, CHECKED_BATCHES),
                       stats, device, autocast)  # fmt: skip
    kept = {}
    for name, rows in reused.items():
        again = checked[name]
        if all(_same_scores(a, b) for a, b in zip(again, rows, strict=False)):
            kept[name] = rows
        else:
            log.warning("kept %s baseline scores do not match a fresh scoring of the first photos: scoring anew", name)
    return kept


def _same_scores(fresh: dict[str, float], kept: dict[str, float]) -> bool:
    return set(fresh) == set(kept) and all(math.isclose(fresh[k], kept[k], rel_tol=1e-5, abs_tol=1e-4) for k in fresh)


def skipped_metrics() -> dict[str, str]:
    """LPIPS and FID need pretrained networks that are not bundled; say why they are not reported."""
    return {
        "lpips": "needs LPIPS' AlexNet/VGG weights, which are downloaded on first use; not available offline here",
        "fid": "needs the Inception-v3 FID weights, which are downloaded on first use; not available offline here",
    }


def _run_folder(ckpt: Path) -> Path:
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def _write_csv(path: Path, files: list[str], records: dict[str, list[dict[str, float]]]) -> None:
    keys = list(METRIC_KEYS)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["predictor", "file", *keys])
        for name, rows in records.items():
            for file, row in zip(files, rows, strict=True):
                writer.writerow([name, str(file), *(f"{row[k]:.6g}" for k in keys)])


def read_per_image(folder: Path, predictor: str | None = None) -> tuple[list[str], list[dict[str, float]]]:
    """An evaluation folder's per-photo metrics of one predictor (default: its model), in the order
    written: (files, rows), for pairing two evaluations of the same photos."""
    predictor = predictor or json.loads((Path(folder) / "metrics.json").read_text())["variant"]
    with open(Path(folder) / "per_image.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["predictor"] == predictor]
    values = [{key: float(value) for key, value in row.items() if key not in ("predictor", "file")} for row in rows]
    return [row["file"] for row in rows], values


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per predictor, mean [95% CI] per metric."""
    keys = [key for key in (*METRIC_KEYS, *DATASET_METRICS) if key not in ("cf_true", "cf_abs_true")]
    header = ["predictor", *keys]
    lines = [header]
    for name, summary in results.items():
        lines.append([name, *(f"{summary[k]['mean']:.3f}" for k in keys)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in lines)
