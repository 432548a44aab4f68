"""LightningModule: trains any model that meets the model contract (colorlab.models.contract: the
encoder-decoder `Colorizer`, or another registered family); the optimizer sees the trainable parameters
only. Every checkpoint it writes is also a model file (colorlab.models.model_file).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torchmetrics import MeanMetric, MinMetric

from colorlab.core.metrics import ab_accuracy
from colorlab.data.feature_cache import encoded
from colorlab.data.source import DataSource
from colorlab.models import model_file
from colorlab.models.contract import ColorModel
from colorlab.models.hints import Simulation

log = logging.getLogger(__name__)

HP_METRICS = ("hp/val_loss", "hp/val_loss_best", "hp/val_acc")
# TensorBoard's CUSTOM SCALARS tab: what a comparison looks at first, train beside val on one chart.
CHARTS = {
    "colorlab": {
        "loss (train, val)": ["Multiline", ["train/loss_epoch", "val/loss"]],
        "accuracy (train, val)": ["Multiline", ["train/acc", "val/acc"]],
        "best val loss": ["Multiline", ["val/loss_best"]],
    }
}


class ColorizationModule(pl.LightningModule):
    """Trains `net`, a `ColorModel`: L/100 (B,1,H,W) -> ab/128 (B,2,H,W) in [-1,1].

    `optimizer` and `scheduler` are partials (Hydra's `_partial_: true`). At setup the datamodule, when
    it is a colorlab `DataSource`, gives the network its image size and, unless it has them already,
    the training data's color statistics: `Trainer().fit(module, datamodule)` needs nothing else.
    Batches are photos as (L/100, ab/128) or cached encoder features (`FeatureBatch`).
    """

    def __init__(
        self,
        net: ColorModel,
        optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        variant: str = "custom",
        acc_threshold: float = 10.0,
        hint_simulation: Simulation | None = None,
        encoder_lr_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if not isinstance(net, ColorModel):
            raise TypeError(f"model.net builds a {type(net).__name__}, not a colorlab.models.ColorModel")
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.variant = variant
        self.acc_threshold = acc_threshold
        if not 0 < encoder_lr_scale <= 1:
            raise ValueError(f"model.encoder_lr_scale={encoder_lr_scale}: must be in (0, 1]")
        self.encoder_lr_scale = encoder_lr_scale  # an encoder's trained top learns at lr x this
        if net.takes_hints and hint_simulation is None:
            hint_simulation = Simulation()
        self.hint_simulation = hint_simulation if net.takes_hints else None
        self.best_epoch = -1
        self._resumed_best: dict[str, float] | None = None  # val/loss_best from a checkpoint we resume

        self.train_acc, self.val_acc, self.test_acc = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_loss, self.val_mse, self.val_loss_best = MeanMetric(), MeanMetric(), MinMetric()
        self.save_hyperparameters(self.describe(variant, optimizer, acc_threshold))
        log.info("variant %s: %s", variant, ", ".join(f"{k} {v:,}" for k, v in self.hparams.items() if "params/" in k))

    def describe(self, variant: str, optimizer: Callable, acc_threshold: float) -> dict:
        """Flat, loggable description of the run for TensorBoard's HPARAMS tab and hparams.yaml (a
        record: the model file, not this, is what rebuilds the network)."""
        desc: dict[str, Any] = {"variant": variant, **self.net.summary(), "acc_threshold": acc_threshold}
        if isinstance(optimizer, functools.partial):
            desc["optimizer/class"] = getattr(optimizer.func, "__name__", str(optimizer.func))
            desc.update({f"optimizer/{k}": v for k, v in optimizer.keywords.items()})
        return {k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in desc.items()}

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.net(lightness)  # (B,2,H,W)

    def _step(self, batch: Any, batch_idx: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(training loss, MSE of the decoded ab/128 (comparable across heads), per-image acc).

        Photos go through the frozen encoder; a `FeatureBatch` (the feature cache) already has. A model
        that takes hints gets them simulated from the target: random in training, and drawn with a
        fixed seed per batch (`batch_idx`) in validation and test, so its val/loss compares across epochs.
        """
        features, skips, ab = encoded(batch, self.net)
        hints = None
        if self.hint_simulation is not None:
            generator = None
            if batch_idx is not None:
                generator = torch.Generator(device=ab.device).manual_seed(batch_idx)
            hints = self.hint_simulation(ab.float(), generator)
        output = self.net.decode_raw(features, skips, hints)
        with torch.no_grad():  # the decoded ab is for the metrics; only the model's loss is trained
            pred = self.net.to_ab(output.detach(), ab.shape[-2:])
        return self.net.loss(output, ab), F.mse_loss(pred, ab), ab_accuracy(pred, ab, self.acc_threshold)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, _, acc = self._step(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {self.global_step}: lower the lr")
        self.train_acc(acc)
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        # DDP: the epoch mean is reduced across ranks once, at epoch end; the step loss is rank 0's.
        self.log("train/loss_epoch", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss, mse, acc = self._step(batch, batch_idx)
        self.val_loss(loss, weight=batch[0].shape[0])
        self.val_mse(mse, weight=batch[0].shape[0])
        self.val_acc(acc)
        self.log("val/mse", self.val_mse, on_step=False, on_epoch=True)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        loss, _, acc = self._step(batch, batch_idx)
        self.test_acc(acc)
        self.log("test/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)

    def setup(self, stage: str) -> None:
        try:
            datamodule = self.trainer.datamodule
        except RuntimeError:  # not attached to a Trainer (set up by hand)
            datamodule = None
        if isinstance(datamodule, DataSource):  # the DataSource contract: what the network needs of the data
            size = datamodule.image_size()
            self.net.check_size(size, size, what=f"data.image_size={size}:")
            self.net.image_size = size
            if stage == "fit" and self.net.color_stats is None:
                with torch.random.fork_rng():  # reading photos draws loader seeds: keep the seeded stream
                    self.net.set_color_stats(datamodule.color_stats())
        self.net.check_ready()

    def on_fit_start(self) -> None:
        # Declare the HPARAMS tab's metric columns once (NaN until the first validation epoch).
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(self.hparams, dict.fromkeys(HP_METRICS, math.nan))
                logger.experiment.add_custom_scalars(CHARTS)

    def on_train_start(self) -> None:
        self.val_loss_best.reset()  # forget the sanity check's validation
        self.best_epoch = -1
        if self._resumed_best is not None:  # a resumed run remembers the best before the interruption
            if math.isfinite(self._resumed_best["val_loss_best"]):
                self.val_loss_best.update(torch.tensor(self._resumed_best["val_loss_best"]))
            self.best_epoch = int(self._resumed_best["best_epoch"])

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        loss = self.val_loss.compute()
        self.val_loss_best(loss)
        best = self.val_loss_best.compute()
        if loss <= best:
            self.best_epoch = self.current_epoch
        self.log("val/loss_best", best)
        self.log("val/best_epoch", float(self.best_epoch))
        self.log_dict({"hp/val_loss": loss, "hp/val_loss_best": best, "hp/val_acc": self.val_acc.compute()})

    def configure_optimizers(self) -> Any:
        top = list(self.net.slow_parameters())
        slow = {id(p) for p in top}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in slow]
        groups = [{"params": rest, "name": "decoder"}, {"params": top, "name": "encoder_top"}] if top else rest
        optimizer = self.optimizer_factory(params=groups)
        if top:  # pretrained parameters that train (an encoder's top) move more slowly
            optimizer.param_groups[1]["lr"] *= self.encoder_lr_scale
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # torchmetrics states are not in the state dict: keep the best so far for a resumed run.
        best = float(self.val_loss_best.min_value)
        checkpoint["colorlab_best"] = {"val_loss_best": best, "best_epoch": float(self.best_epoch)}
        checkpoint[model_file.MODEL_KEY] = model_file.describe(self.net, self.variant)  # a model file too

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resumed_best = checkpoint.get("colorlab_best")
