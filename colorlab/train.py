"""Train a colorizer: `python -m colorlab.train [model=batchnorm] [-m model=baseline,batchnorm,dropout]`.

`train(cfg)` is the one place that instantiates the configs in conf/; `main` is its Hydra wrapper.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from colorlab.atomic import remove_stale_parts
from colorlab.callbacks import BuildFeatureCache, StoreRunConfig
from colorlab.cli import user_errors_exit
from colorlab.config import CONFIG_DIR, register_resolvers

log = logging.getLogger(__name__)
# The frozen encoder is in eval mode on purpose; Lightning warns about any such module at fit start.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=UserWarning)

register_resolvers()


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (and optionally test) the configured model; return the final metrics as floats."""
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)
    output_dir = Path(cfg.paths.output_dir)
    check_settings(cfg)
    ckpt_path = resume_path(cfg.get("ckpt_path"), output_dir)
    if rank_zero_only.rank == 0:
        refuse_used_folder(output_dir, ckpt_path)
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_parts([output_dir / "checkpoints"])

    log.info("output folder: %s", output_dir.resolve())
    log.info("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))
    summary = RunSummary(output_dir / SUMMARY_FILE)  # "running" until it says otherwise
    started = time.perf_counter()
    trainer: pl.Trainer | None = None
    try:
        datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data)
        datamodule.prepare_data()  # data first: a wrong data.root fails before the model is built
        with torch.random.fork_rng():  # reading photos draws loader seeds: keep the seeded stream as it was
            color_stats = datamodule.color_stats(cfg.color_stats_images)
        model: pl.LightningModule = hydra.utils.instantiate(cfg.model)
        check_image_size(cfg.data.get("image_size"), model.net.stride)
        model.net.set_color_stats(color_stats)  # else setup estimates them on the default number of photos
        summary.info = dict(model.hparams)
        callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
        callbacks.append(StoreRunConfig(OmegaConf.to_container(cfg, resolve=True)))  # a record of the run
        if cfg.data.get("cache_features"):  # wiring: the datamodule encodes with the module being fitted
            callbacks.append(BuildFeatureCache(datamodule))
        loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
        trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
        refuse_ddp_in_local_sweep(trainer)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        seconds = time.perf_counter() - started
        if getattr(datamodule, "cache_report", None) is not None:
            summary.extra["feature_cache"] = dataclasses.asdict(datamodule.cache_report)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if cfg.get("test") and not trainer.interrupted:
            trainer.test(model, datamodule=datamodule, ckpt_path="best" if _has_best(trainer) else None)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    except BaseException as err:
        summary.write("failed", time.perf_counter() - started, trainer, error=f"{type(err).__name__}: {err}")
        raise
    summary.write("interrupted" if trainer.interrupted else "finished", seconds, trainer, metrics)
    if any(math.isnan(v) for k, v in metrics.items() if k.endswith("loss")):
        log.warning("a loss is NaN: the run diverged")
    log.info("final metrics: %s", {k: round(v, 5) for k, v in sorted(metrics.items())})
    return metrics


SUMMARY_FILE = "summary.json"


class RunSummary:
    """`summary.json` in the run folder: status, timing and final metrics, for reports without TensorBoard."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.info: dict = {}  # the model's hparams, once it is built
        self.extra: dict = {}  # more records (the feature cache's report)
        self.write("running", 0.0, None)

    def write(self, status: str, seconds: float, trainer: pl.Trainer | None, metrics=None, error=None) -> None:
        if rank_zero_only.rank != 0:  # under DDP, one summary per run: rank 0's
            return
        record = {"status": status, "train_seconds": round(seconds, 2), "hparams": self.info, **self.extra}
        if trainer is not None:
            record.update(epochs=trainer.current_epoch, global_step=trainer.global_step)
        if metrics is not None:
            record["metrics"] = metrics
        if error is not None:
            record["error"] = error
        self.path.write_text(json.dumps(record, indent=2, default=str))


def refuse_ddp_in_local_sweep(trainer: pl.Trainer) -> None:
    """Lightning starts the other DDP ranks by re-running the command line, which inside a local `-m`
    sweep would start the whole sweep again in each rank. (Under SLURM the ranks are SLURM tasks.)"""
    launcher = getattr(trainer.strategy, "launcher", None)
    if type(launcher).__name__ != "_SubprocessScriptLauncher" or not HydraConfig.initialized():
        return
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ValueError(
            "trainer=ddp inside a local -m sweep: Lightning would start each extra rank by re-running the whole "
            "sweep. Run the variants one command at a time, or sweep with hydra/launcher=slurm"
        )


def resume_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`ckpt_path`: a checkpoint file, `last` (this run folder's newest) or a run folder: its newest
    of checkpoints/last.ckpt and checkpoints/on_exception.ckpt. Nothing to resume from is an error."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        return _newest_checkpoint(output_dir, f"ckpt_path=last: the run folder {output_dir}")
    path = Path(ckpt_path).expanduser()
    if path.is_file():
        return str(path)
    if not path.is_dir():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file or run folder")
    return _newest_checkpoint(path, f"ckpt_path={ckpt_path}")


def _newest_checkpoint(run_dir: Path, what: str) -> str:
    found = [run_dir / "checkpoints" / name for name in ("last.ckpt", "on_exception.ckpt")]
    found = [p for p in found if p.is_file()]
    if not found:
        raise FileNotFoundError(f"{what} has no checkpoints/last.ckpt or on_exception.ckpt to resume from")
    return str(max(found, key=lambda p: p.stat().st_mtime_ns))


RUN_FILES = (SUMMARY_FILE, "checkpoints", "csv/metrics.csv")


def refuse_used_folder(output_dir: Path, ckpt_path: str | None) -> None:
    """A second run into a folder that holds one would mix their metrics and checkpoints: refused
    unless it resumes (with ckpt_path)."""
    used = [name for name in RUN_FILES if (output_dir / name).exists()]
    if used and ckpt_path is None:
        raise ValueError(
            f"hydra.run.dir={output_dir} already holds a run ({', '.join(used)}): resume it with ckpt_path=last, "
            "or choose a new folder"
        )


def check_image_size(image_size: int | None, stride: int) -> None:
    if image_size is not None and image_size % stride:
        raise ValueError(
            f"data.image_size={image_size}: must be a multiple of the encoder's stride {stride} "
            f"(e.g. {max(stride, image_size // stride * stride)})"
        )


def check_settings(cfg: DictConfig) -> None:
    """Settings that would run but make no sense: refused with the key named."""
    trainer = cfg.trainer
    max_epochs = trainer.get("max_epochs")
    bounded = (trainer.get("max_steps") or -1) > 0 or trainer.get("max_time") is not None
    if max_epochs is None or max_epochs == -1:
        if not bounded:
            raise ValueError(
                f"trainer.max_epochs={max_epochs} trains forever: give a number of epochs, "
                "or bound the run with trainer.max_steps or trainer.max_time"
            )
    elif max_epochs < 1:
        raise ValueError(f"trainer.max_epochs={max_epochs}: must be >= 1 (or -1 with max_steps/max_time)")
    min_epochs = trainer.get("min_epochs") or 0
    if max_epochs is not None and max_epochs > 0 and min_epochs > max_epochs:
        raise ValueError(f"trainer.min_epochs={min_epochs} exceeds trainer.max_epochs={max_epochs}")
    if cfg.get("color_stats_images") is not None and cfg.color_stats_images < 1:
        raise ValueError(f"color_stats_images={cfg.color_stats_images}: must be >= 1")


def _has_best(trainer: pl.Trainer) -> bool:
    callback = trainer.checkpoint_callback
    return callback is not None and bool(getattr(callback, "best_model_path", ""))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@user_errors_exit
def main(cfg: DictConfig) -> Any:
    metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric", "val/loss"))


if __name__ == "__main__":
    main()
