"""Callbacks: the validation picture grid, a checkpoint on crash, logs flushed with each checkpoint,
training throughput, the best checkpoint across resumes, and atomic checkpoint writes."""

from __future__ import annotations

import functools
import itertools
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torchvision
from lightning_fabric.plugins import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger
from torch.utils.data import Dataset, IterableDataset

from colorlab.core.atomic import atomic_write
from colorlab.core.color import gray_rgb, lab_to_rgb, rgb_to_lab

IMAGE_LOGGERS = (TensorBoardLogger, MLFlowLogger, WandbLogger)
log = logging.getLogger(__name__)


class ValidationImages(pl.Callback):
    """Logs rows of gray input | prediction | ground truth for the same `num_images` val photos, to
    every logger that stores images: TensorBoard, MLflow (a PNG artifact per epoch), W&B."""

    def __init__(self, num_images: int = 8, tag: str = "val/samples") -> None:
        self.num_images = num_images
        self.tag = tag
        self.images: torch.Tensor | None = None  # (N,3,H,W) uint8, the first N val photos

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, IMAGE_LOGGERS)]
        if trainer.sanity_checking or not loggers or self.num_images <= 0:
            return
        if self.images is None:
            self.images = first_images(trainer.val_dataloaders.dataset, self.num_images)
        grid = self.render(pl_module, self.images.to(pl_module.device))
        step = trainer.global_step
        for logger in loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(self.tag, grid, global_step=step)
                continue
            picture = (grid.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()  # (H,W,3)
            if isinstance(logger, MLFlowLogger):
                name = f"{self.tag.replace('/', '_')}/step_{step:07d}.png"
                logger.experiment.log_image(logger.run_id, picture, artifact_file=name)
            else:  # WandbLogger
                logger.log_image(key=self.tag, images=[picture], step=step)

    @staticmethod
    @torch.no_grad()
    def render(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) uint8 -> (3, H', W') grid in [0,1]: one row per photo, three columns."""
        lightness, ab = rgb_to_lab(images)
        pred = model(lightness).float()
        columns = [gray_rgb(lightness), lab_to_rgb(lightness, pred), lab_to_rgb(lightness, ab)]
        rows = torch.stack(columns, dim=1).flatten(0, 1)  # (N*3,3,H,W), row-major
        return torchvision.utils.make_grid(rows.cpu(), nrow=3, padding=2, pad_value=1.0)


def first_images(dataset: Dataset, count: int) -> torch.Tensor:
    """The first `count` photos of a val dataset as (N,3,H,W) uint8: indexed, streamed (shards), or
    the photos behind cached features."""
    dataset = getattr(dataset, "images", None) or dataset
    if isinstance(dataset, IterableDataset):
        return torch.stack(list(itertools.islice(iter(dataset), count)))
    return torch.stack([dataset[i] for i in range(min(count, len(dataset)))])


class CheckpointOnException(pl.Callback):
    """Saves `<dirpath>/on_exception.ckpt` when fitting fails (bad file, Ctrl-C, OOM): nothing is lost.

    Unlike Lightning's OnExceptionCheckpoint it does not turn `fit(ckpt_path=None)` into a resume.
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn == "fit" and trainer.global_step > 0:
            trainer.save_checkpoint(f"{self.dirpath}/on_exception.ckpt", weights_only=False)  # all of it: resumable


class FlushLogsOnCheckpoint(pl.Callback):
    """Writes the loggers' buffered metrics whenever a checkpoint is saved, so a run killed later
    (SIGKILL, power loss) keeps on disk every metric up to the checkpoint it resumes from."""

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            logger.save()


class TrainThroughput(pl.Callback):
    """Logs `train/images_per_s` each epoch: images over the wall time between consecutive training
    batches (data loading included, the first batch of an epoch excluded as warm-up)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.images = 0
        self.seconds = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last, self.images, self.seconds = None, 0, 0.0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.images += batch[0].shape[0]
            self.seconds += now - self.last
        self.last = now

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.seconds > 0:
            pl_module.log("train/images_per_s", self.images / self.seconds)


class EpochProgress(pl.Callback):
    """One log line per epoch: its number, the losses, its time and about how long the run has left.
    Lightning's progress bar redraws one line with carriage returns, which a log file or a pipe shows
    only at the end; this line reaches `train.log` and a redirected console as each epoch ends."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.first_epoch = 0
        self.epoch_started = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started, self.first_epoch = time.perf_counter(), trainer.current_epoch  # a resume starts later

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch_started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.started is None:
            return
        now = time.perf_counter()
        done = trainer.current_epoch + 1  # epochs finished, this one included
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        losses = ", ".join(
            f"{name} {float(value):.4f}"
            for name, value in sorted(trainer.callback_metrics.items())
            if name.endswith("loss") and not name.startswith("hp/") and value.numel() == 1
        )
        left = ""
        if total is not None and done < total:
            minutes = (now - self.started) / (done - self.first_epoch) * (total - done) / 60
            left = f", about {minutes:.0f} min left" if minutes >= 1 else ", under a minute left"
        ended = f"/{total}" if total else ""
        log.info("epoch %d%s: %s (%.0f s%s)", done, ended, losses or "no loss yet", now - self.epoch_started, left)


class StoreRunConfig(pl.Callback):
    """Writes the run's resolved config into every checkpoint (`colorlab_config`), as a record of how
    it was trained. Nothing is rebuilt from it: the network comes from the checkpoint's model entry
    (colorlab.models.model_file); evaluation reads its data settings through `stored_data_config`'s refusals."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint["colorlab_config"] = self.config


class BuildFeatureCache(pl.Callback):
    """Builds a datamodule's feature cache when fitting starts, with the network being fitted
    (`pl_module.net`, an encoder-decoder `Colorizer`) and the trainer's device, precision and ranks
    (after DDP has started every rank). Add it for `data.cache_features=true` (`colorlab.train` does), handing it the
    datamodule: neither object reaches into the other."""

    def __init__(self, datamodule: Any) -> None:
        self.datamodule = datamodule

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self.datamodule.cached:
            return
        self.datamodule.build_feature_cache(
            pl_module.net,
            device=trainer.strategy.root_device,
            precision=str(trainer.precision),
            autocast=trainer.precision_plugin.forward_context,
            rank=trainer.global_rank,
            world=trainer.world_size,
            barrier=functools.partial(trainer.strategy.barrier, "feature_cache"),
        )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file beside the target and renamed into place. Lightning's
    default goes through fsspec, which writes into the system temp folder first: a kill during the
    write left a checkpoint-sized file there. Ours are removed by the next run (`remove_stale_parts`)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda tmp: torch.save(checkpoint, tmp))


class BestCheckpoint(ModelCheckpoint):
    """Lightning's ModelCheckpoint, except that
    - `last.ckpt` is written after every validation (Lightning 2.6 writes it only together with a new
      best one, so a kill after a few epochs without improvement lost them), and
    - a run resumed into a new folder brings the previous folder's best checkpoint along and keeps
      comparing against its score (Lightning forgets the score when the folder changes, so the first
      epoch after the resume became "best")."""

    last_step_written: int | None = None
    last_seen: int | None = None  # last.ckpt's mtime (ns) when last looked at

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self.save_last_if_missing(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self.save_last_if_missing(trainer)

    def save_last_if_missing(self, trainer: pl.Trainer) -> None:
        """Write last.ckpt unless it was written at this step (by Lightning, seen by its mtime, or by
        us); through `trainer.save_checkpoint`, Lightning's public way to write one."""
        skip = trainer.sanity_checking or bool(trainer.fast_dev_run) or trainer.state.fn != "fit"
        if not self.save_last or skip or self.dirpath is None:
            return
        path = Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        if stamp is not None and stamp != self.last_seen:
            self.last_step_written = trainer.global_step  # Lightning wrote it since we last looked
        if self.last_step_written != trainer.global_step:
            trainer.save_checkpoint(path, weights_only=self.save_weights_only)
            self.last_model_path = str(path)
            self.last_step_written = trainer.global_step
            stamp = path.stat().st_mtime_ns if path.is_file() else None
        self.last_seen = stamp

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        previous = state_dict.get("dirpath", self.dirpath)
        super().load_state_dict(state_dict)
        if previous == self.dirpath:
            return
        best, score = state_dict.get("best_model_path"), state_dict.get("best_model_score")
        if not best or score is None or not Path(best).is_file():
            self.best_model_path = ""  # never point into another run's folder
            return
        copy = Path(self.dirpath) / Path(best).name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(best, copy)
        self.best_model_path = self.kth_best_model_path = str(copy)
        self.best_model_score = self.kth_value = score
        self.best_k_models = {str(copy): score}
