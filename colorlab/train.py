"""The train command: `python -m colorlab.train [model=batchnorm] [-m model=baseline,batchnorm,dropout]`.

`train(cfg)` is the one place that instantiates the configs in conf/ (datamodule, model, callbacks,
loggers, trainer, side by side) and lets the Trainer connect them; `main` is its Hydra wrapper.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from colorlab.core.atomic import remove_stale_parts
from colorlab.core.config import register_resolvers, whole_number
from colorlab.core.errors import command
from colorlab.training.callbacks import BuildFeatureCache, StoreRunConfig
from colorlab.training.run_folder import (
    SUMMARY_FILE,
    RunSummary,
    check_image_size,
    refuse_ddp_in_local_sweep,
    refuse_used_folder,
    resume_path,
)
from colorlab.training.start_from import start_from

log = logging.getLogger(__name__)
# The frozen encoder is in eval mode on purpose; Lightning warns about any such module at fit start.
warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode", category=UserWarning)
# Lightning's own housekeeping, nothing a colorlab user can act on: a deprecation inside Lightning and
# the model summary's note on bf16 (colorlab logs its own summary line instead of the table).
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=Warning)
warnings.filterwarnings("ignore", message=r"Precision .* is not supported by the model summary", category=Warning)


class NoAdverts(logging.Filter):
    """Drops Lightning's advertising tips (a cloud logger to install) from the run's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡")


for _name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(NoAdverts())

register_resolvers()


def chosen_groups() -> str:
    """The config groups this run chose (`model=batchnorm data=sample ...`): the short form of its config."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return "composed outside a Hydra run"
    choices = HydraConfig.get().runtime.choices
    return " ".join(f"{key}={value}" for key, value in choices.items() if value and not key.startswith("hydra"))


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
        if cfg.get("init_from"):
            start_from(model.net, str(cfg.init_from))
        model.net.set_color_stats(color_stats)  # else setup estimates them on the default number of photos
        log.debug("config:\n%s", OmegaConf.to_yaml(cfg, resolve=True))  # all of it: in <run>/.hydra/config.yaml
        log.info("settings: %s (all of them: %s)", chosen_groups(), output_dir / ".hydra" / "config.yaml")
        summary.info = dict(model.hparams)
        callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
        callbacks.append(StoreRunConfig(OmegaConf.to_container(cfg, resolve=True)))  # a record of the run
        if cfg.data.get("cache_features"):  # wiring: the datamodule encodes with the module being fitted
            callbacks.append(BuildFeatureCache(datamodule))
        loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
        trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
        refuse_ddp_in_local_sweep(trainer)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)  # a file runs no code
        seconds = time.perf_counter() - started
        if getattr(datamodule, "cache_report", None) is not None:
            summary.extra["feature_cache"] = dataclasses.asdict(datamodule.cache_report)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if cfg.get("test") and not trainer.interrupted:
            trainer.test(
                model, datamodule=datamodule, ckpt_path="best" if _has_best(trainer) else None, weights_only=True
            )
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    except BaseException as err:
        # Ctrl-C: Lightning stops gracefully, marks the trainer interrupted and exits with status 1.
        interrupted = isinstance(err, KeyboardInterrupt) or (trainer is not None and trainer.interrupted)
        status = "interrupted" if interrupted else "failed"
        summary.write(status, time.perf_counter() - started, trainer, error=f"{type(err).__name__}: {err}")
        raise
    summary.write("interrupted" if trainer.interrupted else "finished", seconds, trainer, metrics)
    if any(math.isnan(v) for k, v in metrics.items() if k.endswith("loss")):
        log.warning("a loss is NaN: the run diverged")
    log.info("final metrics: %s", {k: round(v, 5) for k, v in sorted(metrics.items())})
    return metrics


def check_settings(cfg: DictConfig) -> None:
    """Settings that would run but make no sense: refused with the key named."""
    trainer = cfg.trainer
    for key in ("max_epochs", "min_epochs", "max_steps", "log_every_n_steps", "num_sanity_val_steps"):
        if trainer.get(key) is not None:
            whole_number(trainer[key], f"trainer.{key}", -1)
    for key in ("batch_size", "image_size", "num_workers"):
        if cfg.data.get(key) is not None:
            whole_number(cfg.data[key], f"data.{key}", 0 if key == "num_workers" else 1)
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
    if cfg.get("fine_tune") and not cfg.get("init_from"):
        raise ValueError("init_from is required: this recipe fine-tunes a trained model (give its run folder or file)")
    if cfg.get("color_stats_images") is not None and cfg.color_stats_images < 1:
        raise ValueError(f"color_stats_images={cfg.color_stats_images}: must be >= 1")


def _has_best(trainer: pl.Trainer) -> bool:
    callback = trainer.checkpoint_callback
    return callback is not None and bool(getattr(callback, "best_model_path", ""))


@command("train")
def main(cfg: DictConfig) -> Any:
    metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric", "val/loss"))


if __name__ == "__main__":
    main()
