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
    counts = check_options(split, hints, hint_patch, hint_sigma)
    reference = None
    if global_hint not in (None, "truth"):
        reference = reference_distribution(open_image(global_hint).convert("RGB"))
    opened = open_model(run, device, temperature)
    model, ckpt, device = opened.net, opened.path, opened.net.device
    if counts is not None and global_hint is not None:
        model.require_hints(f"global_hint={global_hint}")
    datamodule = open_data(opened, data, batch_size)
    stats, stats_source = color_stats_for(model, datamodule, ckpt, prior_images)
    variant = model_row_name(opened.variant, baselines)
    autocast = torch.bfloat16 if str(stored_precision(opened)).startswith("bf16") else None
    log.info("evaluating %s (%s) and %d baselines on the %s split of %s", variant, ckpt, len(baselines),
             split, datamodule.describe())  # fmt: skip
    settings = {"split": split, "protocol": protocol, "batch_size": batch_size, "seed": seed, "autocast": autocast}
    records, reused = score_all(model, variant, datamodule, stats, baselines, device, settings)
    result = {
        **describe_run(ckpt, datamodule, settings, len(records[variant]), variant, model.temperature),
        "bootstrap": bootstrap,
        "color_stats": stats_source,
        "baselines_reused": sorted(reused),  # scored by an earlier evaluation of the same photos
        **summarise_records(records, variant, bootstrap, seed),
    }
    if counts is not None:
        given = reference if reference is not None else global_hint
        hint_settings = {"counts": counts, "patch": hint_patch, "sigma": hint_sigma, "global_hint": global_hint}
        result["hints"] = sweep_section(model, datamodule, stats, device, {**settings, "bootstrap": bootstrap},
                                        hint_settings, given)  # fmt: skip
    out = Path(out) if out else _run_folder(ckpt) / "eval" / split
    files = datamodule.eval_names(split) or [f"{split}-{i:06d}" for i in range(result["images"])]
    write_results(result, records, files, out)
    return result


def open_data(opened, data: Mapping[str, Any] | None, batch_size: int) -> DataSource:
    """The user's data settings, else the run's own through stored_data_config's refusals (no command,
    no URL, no download, no cache written where the file says), set up."""
    data_cfg = OmegaConf.create(dict(data) if data is not None else stored_data_config(opened))
    datamodule: DataSource = hydra.utils.instantiate(data_cfg, batch_size=batch_size)
    datamodule.prepare_data()
    datamodule.setup()
    return datamodule


def describe_run(ckpt: Path, datamodule: DataSource, settings: Mapping[str, Any], images: int, variant: str,
                 temperature: float | None) -> dict[str, Any]:  # fmt: skip
    """What the results are of: the checkpoint (and its hash: compare re-evaluates on a change), the
    photos, the protocol, and where and when they were measured."""
    return {
        "checkpoint": str(ckpt),
        "checkpoint_sha256": file_sha256(ckpt),
        "split": settings["split"],
        "protocol": settings["protocol"],
        "image_size": datamodule.image_size(),
        "data_root": datamodule.describe(),
        "images": images,
        "variant": variant,
        "temperature": temperature,  # the annealed mean's, for class heads
        "measured": measured(),  # commit, date, machine: where a results page's numbers came from
        "skipped": skipped_metrics(),
    }


def sweep_section(model, datamodule: DataSource, stats: ColorStats, device, settings: Mapping[str, Any],
                  hint_settings: Mapping[str, Any], given) -> dict[str, Any]:  # fmt: skip
    """metrics.json's "hints": the sweep's settings and, per count, every predictor's summary."""
    counts, patch, sigma = hint_settings["counts"], hint_settings["patch"], hint_settings["sigma"]
    split, protocol, seed = settings["split"], settings["protocol"], settings["seed"]
    log.info("hint sweep: %s points, %d px patches, blend sigma %s px", counts, patch, sigma)
    swept = sweep(model, datamodule.eval_dataloader(split, protocol=protocol), stats, counts, device, seed, patch,
                  sigma, given)  # fmt: skip
    return {**hint_settings, "seed": seed, **summarise_sweep(swept, settings["bootstrap"], seed)}


def check_options(split: str, hints: Sequence[int] | None, hint_patch: int, hint_sigma: float) -> list[int] | None:
    """The split and the hint sweep's settings checked; the sweep's counts (None: no sweep)."""
    if split not in SPLITS:
        raise ValueError(f"split={split}: choose one of {', '.join(SPLITS)}")
    counts = check_counts(hints) if hints is not None else None
    whole_number(hint_patch, "hint_patch", 1, 64)
    if isinstance(hint_sigma, bool) or not isinstance(hint_sigma, int | float) or not 0 < hint_sigma <= 1000:
        raise ValueError(f"hint_sigma={hint_sigma!r}: must be a number of pixels in (0, 1000]")
    return counts


def color_stats_for(model, datamodule: DataSource, ckpt: Path, prior_images: int) -> tuple[ColorStats, str]:
    """The baselines' color statistics and where they came from: the model's own training data's,
    else (a model trained before colorlab stored them) the evaluated data's train split."""
    if model.color_stats is not None:
        return model.color_stats, "the model's training data (stored in the checkpoint)"
    stats = ColorStats.estimate(datamodule.eval_dataloader("train", max_images=prior_images))
    source = f"the evaluated data's train split ({prior_images} photos at most)"
    log.warning("%s holds no color statistics: using %s", ckpt, source)
    return stats, source


def score_all(model, variant: str, datamodule: DataSource, stats: ColorStats, baselines: Sequence[str], device,
              settings: Mapping[str, Any]) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:  # fmt: skip
    """(per-image rows of the model and each baseline, the baselines' rows reused from an earlier
    evaluation of the same photos): one pass scores the model and the baselines not kept."""
    split, protocol, seed, autocast = settings["split"], settings["protocol"], settings["seed"], settings["autocast"]
    chosen = baseline_predictors(stats, seed)
    unknown = set(baselines) - set(chosen)
    if unknown:
        raise ValueError(f"baselines={list(baselines)}: unknown {sorted(unknown)}; choose from {list(chosen)}")
    kept = KeptBaselines(datamodule, split, stats, seed=seed, protocol=protocol, batch_size=settings["batch_size"],
                         device=torch.device(device).type, autocast=str(autocast))  # fmt: skip
    reused = {name: rows for name in baselines if (rows := kept.load(name)) is not None}
    reused = verified_reuse(reused, datamodule.eval_dataloader(split, protocol=protocol), stats, seed, device, autocast)
    to_score = {variant: model, **{f"{name} baseline": chosen[name] for name in baselines if name not in reused}}
    scored = evaluate(to_score, datamodule.eval_dataloader(split, protocol=protocol), stats, device, autocast)
    records = {variant: scored[variant]}
    for name in baselines:
        if name in reused:
            records[f"{name} baseline"] = reused[name]
        else:
            records[f"{name} baseline"] = scored[f"{name} baseline"]
            kept.store(name, scored[f"{name} baseline"])
    return records, reused


def summarise_records(records: Mapping[str, list[dict]], variant: str, bootstrap: int, seed: int) -> dict[str, Any]:
    """Every predictor's means with intervals, and the model minus each baseline, image by image."""
    return {
        "results": {name: summarise(rows, bootstrap, seed) for name, rows in records.items()},
        "differences": {  # does the model beat them?
            f"{variant} - {name}": paired_differences(records[variant], rows, bootstrap, seed)
            for name, rows in records.items()
            if name != variant
        },
    }


def write_results(result: dict[str, Any], records: Mapping[str, list[dict]], files: Sequence[str], out: Path) -> None:
    """`metrics.json`, `per_image.csv` (and `hint_curves.png` for a sweep) in `out`, and the table printed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    _write_csv(out / "per_image.csv", files, records)
    print(format_table(result["results"]))
    for pair, diff in result["differences"].items():
        auc, psnr = diff["auc"], diff["psnr"]
        print(f"{pair}: AuC {auc['mean']:+.3f} [{auc['ci_low']:+.3f}, {auc['ci_high']:+.3f}], "
              f"PSNR {psnr['mean']:+.3f} [{psnr['ci_low']:+.3f}, {psnr['ci_high']:+.3f}] (paired, 95%)")  # fmt: skip
    if "hints" in result:
        print(format_sweep(result["hints"]))
        plot_hint_curves({result["variant"]: result["hints"]}, out / "hint_curves.png")
    for name, reason in result["skipped"].items():
        print(f"{name}: skipped ({reason})")
    log.info("wrote %s and %s", out / "metrics.json", out / "per_image.csv")


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
