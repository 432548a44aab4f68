"""Evaluate a trained run and the baselines on a split: `python -m colorlab.evaluate run=<dir or ckpt>`.

Writes `metrics.json` (means with 95% bootstrap intervals, for the model and each baseline) and
`per_image.csv` to `<run>/eval/<split>/`, and prints a table.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from colorlab.checkpoints import open_model, stored_data_config, stored_precision
from colorlab.cli import user_errors_exit
from colorlab.config import CONFIG_DIR, register_resolvers
from colorlab.data.source import DataSource
from colorlab.evaluation import (
    DATASET_METRICS,
    METRIC_KEYS,
    ColorStats,
    baselines,
    evaluate,
    paired_differences,
    summarise,
)

log = logging.getLogger(__name__)
register_resolvers()

SPLITS = ("train", "val", "test")


def run_evaluation(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.run` and the baselines on `cfg.split`; write and return the metrics."""
    if cfg.split not in SPLITS:
        raise ValueError(f"split={cfg.split}: choose one of {', '.join(SPLITS)}")
    opened = open_model(cfg.run, cfg.device, cfg.temperature)
    model, ckpt, device = opened.net, opened.path, opened.net.device
    # The user's data settings, else the run's own through stored_data_config's refusals (no command,
    # no URL, no download, no cache written where the file says).
    data_cfg = cfg.data if cfg.get("data") is not None else OmegaConf.create(stored_data_config(opened))
    datamodule: DataSource = hydra.utils.instantiate(data_cfg, batch_size=cfg.batch_size)
    datamodule.prepare_data()
    datamodule.setup()

    stats, stats_source = model.color_stats, "the model's training data (stored in the checkpoint)"
    if stats is None:  # a model trained before colorlab stored them
        stats = ColorStats.estimate(datamodule.eval_dataloader("train", max_images=cfg.prior_images))
        stats_source = f"the evaluated data's train split ({cfg.prior_images} photos at most)"
        log.warning("%s holds no color statistics: using %s", ckpt, stats_source)
    chosen = baselines(stats, cfg.seed)
    unknown = set(cfg.baselines) - set(chosen)
    if unknown:
        raise ValueError(f"baselines={list(cfg.baselines)}: unknown {sorted(unknown)}; choose from {list(chosen)}")
    variant = opened.variant
    predictors = {variant: model, **{f"{name} baseline": chosen[name] for name in cfg.baselines}}
    precision = str(stored_precision(opened))
    autocast = torch.bfloat16 if precision.startswith("bf16") else None
    log.info("evaluating %s (%s) and %d baselines on the %s split of %s", variant, ckpt, len(cfg.baselines),
             cfg.split, datamodule.describe())  # fmt: skip
    loader = datamodule.eval_dataloader(cfg.split, protocol=cfg.protocol)
    records = evaluate(predictors, loader, stats, device, autocast)
    images = len(records[variant])
    files = datamodule.eval_names(cfg.split) or [f"{cfg.split}-{i:06d}" for i in range(images)]

    out = Path(cfg.out) if cfg.out else _run_folder(ckpt) / "eval" / cfg.split
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "checkpoint": str(ckpt),
        "split": cfg.split,
        "protocol": cfg.protocol,
        "image_size": datamodule.image_size(),
        "data_root": datamodule.describe(),
        "images": images,
        "variant": variant,
        "temperature": model.temperature,  # the annealed mean's, for class heads
        "bootstrap": cfg.bootstrap,
        "color_stats": stats_source,
        "skipped": skipped_metrics(),
        "results": {name: summarise(rows, cfg.bootstrap, cfg.seed) for name, rows in records.items()},
        "differences": {  # the model minus each baseline, image by image: does it beat them?
            f"{variant} - {name}": paired_differences(records[variant], rows, cfg.bootstrap, cfg.seed)
            for name, rows in records.items()
            if name != variant
        },
    }
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    _write_csv(out / "per_image.csv", files, records)
    print(format_table(result["results"]))
    for pair, diff in result["differences"].items():
        auc, psnr = diff["auc"], diff["psnr"]
        print(f"{pair}: AuC {auc['mean']:+.3f} [{auc['ci_low']:+.3f}, {auc['ci_high']:+.3f}], "
              f"PSNR {psnr['mean']:+.3f} [{psnr['ci_low']:+.3f}, {psnr['ci_high']:+.3f}] (paired, 95%)")  # fmt: skip
    for name, reason in result["skipped"].items():
        print(f"{name}: skipped ({reason})")
    log.info("wrote %s and %s", out / "metrics.json", out / "per_image.csv")
    return result


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


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A plain-text table: one row per predictor, mean [95% CI] per metric."""
    keys = [key for key in (*METRIC_KEYS, *DATASET_METRICS) if key not in ("cf_true", "cf_abs_true")]
    header = ["predictor", *keys]
    lines = [header]
    for name, summary in results.items():
        lines.append([name, *(f"{summary[k]['mean']:.3f}" for k in keys)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in lines)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    run_evaluation(cfg)


if __name__ == "__main__":
    main()
