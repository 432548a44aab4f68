"""LightningModule: a frozen encoder, a trainable decoder and a head that gives the output its meaning
(ab regression with MSE, or rebalanced color classification); the optimiser sees the decoder only."""

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

from colorlab import ab_bins
from colorlab.ab_bins import ColorStats
from colorlab.data.features import FeatureBatch
from colorlab.heads import Head, RegressionHead
from colorlab.metrics import ab_accuracy
from colorlab.nets import DecoderBase, FrozenEncoder, count_parameters

log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]  # (L/100 (B,1,H,W), ab/128 (B,2,H,W))
HP_METRICS = ("hp/val_loss", "hp/val_loss_best", "hp/val_acc")


def decoder_output(encoder: FrozenEncoder, decoder: DecoderBase, lightness: torch.Tensor) -> torch.Tensor:
    """Frozen encoder (no gradients), then the decoder; a U-Net decoder also gets the encoder's skips."""
    with torch.no_grad():
        if decoder.uses_skips:
            features, skips = encoder.forward_with_skips(lightness)
        else:
            features, skips = encoder(lightness), {}  # (B,C,H/32,W/32)
    return call_decoder(decoder, features, skips)


def call_decoder(decoder: DecoderBase, features: torch.Tensor, skips: dict[int, torch.Tensor]) -> torch.Tensor:
    """The decoder contract's call: `decoder(features, skips)` for one that `uses_skips`, else `decoder(features)`."""
    return decoder(features, skips) if decoder.uses_skips else decoder(features)


# Buffer names of checkpoints written before identifiers took one spelling (the first pretrained:cats).
LEGACY_KEYS = {
    "colour_prior": "color_prior",
    "colour_mean_ab": "color_mean_ab",
    "colour_stats_ready": "color_stats_ready",
}


def _rename_legacy_keys(state_dict: dict, prefix: str, *args: Any) -> None:
    """A load_state_dict pre-hook: old checkpoints load under the current buffer names."""
    for old, new in LEGACY_KEYS.items():
        if prefix + old in state_dict:
            state_dict[prefix + new] = state_dict.pop(prefix + old)


class ColorizationModule(pl.LightningModule):
    """L/100 (B,1,H,W) -> ab/128 (B,2,H,W) in [-1,1].

    `decoder` is a factory (a Hydra partial) of a `DecoderBase`, called with the encoder's
    `in_channels`, `stride` and `skip_channels` and the `head`'s output layer (`Head.decoder_args`),
    so any encoder fits any decoder and any head. `optimizer` and `scheduler` are partials too.
    """

    def __init__(
        self,
        encoder: FrozenEncoder,
        decoder: Callable[..., nn.Module],
        optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer],
        scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
        head: Head | None = None,
        variant: str = "custom",
        acc_threshold: float = 10.0,
        channels_last: bool = False,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head if head is not None else RegressionHead()
        if not isinstance(self.head, Head):
            raise TypeError(f"model.head builds a {type(self.head).__name__}, which lacks the Head protocol's methods")
        # The decoder contract (colorlab.nets.base): the encoder's shape, then the head's output layer.
        self.decoder = decoder(
            in_channels=encoder.out_channels,
            stride=encoder.stride,
            skip_channels=encoder.skip_channels,
            **self.head.decoder_args(),
        )
        if not isinstance(self.decoder, DecoderBase):
            raise TypeError(f"model.decoder builds a {type(self.decoder).__name__}: decoders subclass DecoderBase")
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.acc_threshold = acc_threshold
        self.channels_last = channels_last
        self.image_size = image_size  # the training photos' size: the default network input when colorizing
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.best_epoch = -1
        self._resumed_best: dict[str, float] | None = None  # val/loss_best from a checkpoint we resume

        # The training data's color statistics, saved with the weights (set_color_stats).
        self.register_buffer("color_prior", torch.zeros(ab_bins.NUM_BINS, dtype=torch.float64))
        self.register_buffer("color_mean_ab", torch.zeros(2))
        self.register_buffer("color_stats_ready", torch.tensor(False))
        self._register_load_state_dict_pre_hook(_rename_legacy_keys)

        self.train_acc, self.val_acc, self.test_acc = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_loss, self.val_mse, self.val_loss_best = MeanMetric(), MeanMetric(), MinMetric()
        self.save_hyperparameters(self.describe(variant, decoder, optimizer, acc_threshold))
        log.info(
            "variant %s: decoder %s trainable parameters, encoder %s (%s frozen parameters, weights=%s)",
            variant,
            f"{self.hparams['params/decoder']:,}",
            type(encoder).__name__,
            f"{self.hparams['params/encoder_frozen']:,}",
            getattr(encoder, "weights", None),
        )

    def describe(self, variant: str, decoder: Callable, optimizer: Callable, acc_threshold: float) -> dict:
        """Flat, loggable description of the run for TensorBoard's HPARAMS tab and hparams.yaml."""
        desc: dict[str, Any] = {
            "variant": variant,
            "encoder": type(self.encoder).__name__,
            "encoder/weights": str(getattr(self.encoder, "weights", None)),
            "params/decoder": count_parameters(self.decoder, trainable=True),
            "params/encoder_frozen": count_parameters(self.encoder, trainable=False),
            "acc_threshold": acc_threshold,
            "head": type(self.head).__name__,
        }
        if hasattr(self.head, "temperature"):
            desc["head/temperature"] = self.head.temperature
        for prefix, factory in (("decoder", decoder), ("optimizer", optimizer)):
            if isinstance(factory, functools.partial):
                desc[f"{prefix}/class"] = getattr(factory.func, "__name__", str(factory.func))
                desc.update({f"{prefix}/{k}": v for k, v in factory.keywords.items()})
        return {k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in desc.items()}

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.head.decode(self.raw_output(lightness), lightness.shape[-2:])  # (B,2,H,W)

    def raw_output(self, lightness: torch.Tensor) -> torch.Tensor:
        """The decoder's output before the head decodes it (ab, or color-class logits)."""
        stride = self.encoder.stride
        height, width = lightness.shape[-2:]
        if height % stride or width % stride:
            raise ValueError(
                f"input {height}x{width} is not a multiple of the encoder's stride {stride}: "
                f"set data.image_size to a multiple of {stride}"
            )
        return decoder_output(self.encoder, self.decoder, self._layout(lightness))

    @torch.no_grad()
    def encode(self, lightness: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The frozen encoder's features and {stride: skip features} for L/100 (what
        `data.cache_features` stores)."""
        return self.encoder.forward_with_skips(self._layout(lightness))

    def _layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """Inputs in the memory layout the weights use (channels-last when `channels_last`)."""
        return tensor.contiguous(memory_format=torch.channels_last) if self.channels_last else tensor

    def _step(self, batch: Batch | FeatureBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(training loss, MSE of the decoded ab/128 (comparable across heads), per-image acc).

        A `FeatureBatch` (from the feature cache) skips the encoder: same loss, a fraction of the cost.
        """
        if isinstance(batch, FeatureBatch):
            features, ab, skips = batch
            skips = {stride: self._layout(skip) for stride, skip in skips.items()}  # empty unless cached
            output = call_decoder(self.decoder, self._layout(features), skips)
        else:
            lightness, ab = batch
            output = self.raw_output(lightness)
        with torch.no_grad():  # the decoded ab is for the metrics; only the head's loss is trained
            pred = self.head.decode(output.detach(), ab.shape[-2:])
        return self.head.loss(output, ab), F.mse_loss(pred, ab), ab_accuracy(pred, ab, self.acc_threshold)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _, acc = self._step(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {self.global_step}: lower the lr")
        self.train_acc(acc)
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        # DDP: the epoch mean is reduced across ranks once, at epoch end; the step loss is rank 0's.
        self.log("train/loss_epoch", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, mse, acc = self._step(batch)
        self.val_loss(loss, weight=batch[0].shape[0])
        self.val_mse(mse, weight=batch[0].shape[0])
        self.val_acc(acc)
        self.log("val/mse", self.val_mse, on_step=False, on_epoch=True)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        loss, _, acc = self._step(batch)
        self.test_acc(acc)
        self.log("test/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)

    def set_color_stats(self, stats: ColorStats) -> None:
        """Keep the training data's color statistics with the model (evaluation's baselines and
        rebalancing weights use them); a head that needs a color prior takes it from them."""
        self.color_prior.copy_(stats.prior)
        self.color_mean_ab.copy_(stats.mean_ab)
        self.color_stats_ready.fill_(True)
        if self.head.needs_prior:
            self.head.set_prior(stats.prior)

    @property
    def color_stats(self) -> ColorStats | None:
        """The training data's color statistics, or None for a model trained without them."""
        if not bool(self.color_stats_ready):
            return None
        return ColorStats(prior=self.color_prior.cpu(), mean_ab=self.color_mean_ab.cpu())

    def setup(self, stage: str) -> None:
        if self.head.needs_prior and not bool(self.head.prior_ready):
            raise RuntimeError(
                f"{type(self.head).__name__} needs the training data's color prior: call "
                "set_color_stats(datamodule.color_stats()) before fitting (colorlab.train does)"
            )

    def on_fit_start(self) -> None:
        # Declare the HPARAMS tab's metric columns once (NaN until the first validation epoch).
        for logger in self.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_hyperparams(self.hparams, dict.fromkeys(HP_METRICS, math.nan))

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
        optimizer = self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # torchmetrics states are not in the state dict: keep the best so far for a resumed run.
        best = float(self.val_loss_best.min_value)
        checkpoint["colorlab_best"] = {"val_loss_best": best, "best_epoch": float(self.best_epoch)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._resumed_best = checkpoint.get("colorlab_best")
