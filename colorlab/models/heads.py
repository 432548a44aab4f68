"""What the decoder's output means: ab directly (regression, MSE) or color-class logits (Zhang et al.).

A head tells the module how to build the decoder's last layer, how to turn its output into ab, and
which loss to train it with, so every decoder works with every head (the `Head` protocol).
"""

from __future__ import annotations

import logging
import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from colorlab.models import color_classes

log = logging.getLogger(__name__)


@runtime_checkable
class Head(Protocol):
    """The head contract. An `nn.Module` (its buffers are saved with the model) with:

    needs_prior: whether `set_prior` must be called (with the training data's ab prior) before fitting.
    decoder_args(): the decoder's output layer: {out_channels, final_activation, output_stride, out_kernel}.
    loss(output, ab): the training loss of the decoder's output against ab/128 (B,2,H,W).
    decode(output, size): the decoder's output -> ab/128 (B,2,*size).
    set_prior(prior): (NUM_BINS,) probabilities or counts on the ab grid; a no-op when not needed.
    constructor_args(): the keyword arguments that rebuild this head (a model file stores them).
    """

    needs_prior: bool

    def decoder_args(self) -> dict: ...

    def loss(self, output: torch.Tensor, ab: torch.Tensor) -> torch.Tensor: ...

    def decode(self, output: torch.Tensor, size: tuple[int, int]) -> torch.Tensor: ...

    def set_prior(self, prior: torch.Tensor) -> None: ...

    def constructor_args(self) -> dict: ...


class RegressionHead(nn.Module):
    """The decoder predicts ab/128 in [-1,1] (tanh) at full resolution; loss: MSE (the paper's)."""

    needs_prior = False

    def decoder_args(self) -> dict:
        return {"out_channels": 2, "final_activation": "tanh", "output_stride": 1, "out_kernel": 3}

    def loss(self, output: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.float(), ab)

    def decode(self, output: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return output.float()

    def set_prior(self, prior: torch.Tensor) -> None:
        """MSE regression uses no color prior."""

    def constructor_args(self) -> dict:
        return {}


class ClassificationHead(nn.Module):
    """Zhang et al. 2016: logits over the Q in-gamut ab bins from a 1x1 conv at 1/`output_stride` of the
    input (4: a quarter, as Zhang et al.); soft-encoded targets (5 nearest bins, Gaussian sigma 5, read
    from a table over the ab grid), cross-entropy weighted by the rebalancing weight of each pixel's
    nearest bin; decoded by the annealed mean at `temperature` and upsampled to the input size.
    `regression_weight` > 0 adds that times the L1 distance between the predicted distribution's mean
    ab and the truth (ab/128), the small regression term of Zhang et al. 2017's recipe: it pulls the
    probability mass onto the true colour rather than only onto its bin's neighbours.
    """

    needs_prior = True

    def __init__(
        self,
        temperature: float = color_classes.TEMPERATURE,
        sigma: float = color_classes.SIGMA,
        mix: float = color_classes.MIX,
        output_stride: int = 4,
        out_kernel: int = 1,
        regression_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"model.net.head.temperature={temperature}: must be a finite number > 0")
        if output_stride not in (1, 2, 4):
            raise ValueError(f"model.net.head.output_stride={output_stride}: choose 1, 2 or 4")
        if out_kernel not in (1, 3):
            raise ValueError(f"model.net.head.out_kernel={out_kernel}: choose 1 or 3")
        if not 0 <= regression_weight < float("inf"):
            raise ValueError(f"model.net.head.regression_weight={regression_weight}: must be a finite number >= 0")
        self.regression_weight = float(regression_weight)
        self.temperature = temperature
        self.output_stride, self.out_kernel = output_stride, out_kernel
        self.sigma, self.mix = sigma, mix
        centres = color_classes.gamut_centres()
        q = len(centres)
        # Saved with the model: the bins, and the prior and weights estimated on the training split.
        self.register_buffer("centres", centres)
        self.register_buffer("prior", torch.full((q,), 1.0 / q, dtype=torch.float64))
        self.register_buffer("weights", torch.ones(q))
        self.register_buffer("prior_ready", torch.tensor(False))
        self._table: tuple[torch.Tensor, torch.Tensor] | None = None  # soft-encoding lookup, built on first use

    @property
    def num_bins(self) -> int:
        return len(self.centres)

    def constructor_args(self) -> dict:
        return {
            "temperature": float(self.temperature),
            "sigma": float(self.sigma),
            "mix": float(self.mix),
            "output_stride": self.output_stride,
            "out_kernel": self.out_kernel,
            "regression_weight": self.regression_weight,
        }

    def decoder_args(self) -> dict:
        return {
            "out_channels": self.num_bins,
            "final_activation": None,
            "output_stride": self.output_stride,
            "out_kernel": self.out_kernel,
        }

    def soft_encode(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ab/128 (B,2,h,w) -> (indices, weights) (B,h,w,5): the soft targets, by table lookup."""
        if self._table is None or self._table[0].device != ab.device:
            self._table = tuple(t.to(ab.device) for t in color_classes.soft_encode_table(self.centres, self.sigma))
        return color_classes.soft_encode_lookup(ab, self._table)

    def set_prior(self, counts: torch.Tensor) -> None:
        """Set the prior from pixel counts (or probabilities) on the full ab grid (training split);
        derive the weights."""
        prior = color_classes.smoothed_prior(counts, self.sigma)
        self.prior.copy_(prior)
        self.weights.copy_(color_classes.rebalancing_weights(prior, self.mix).float())
        self.prior_ready.fill_(True)
        log.info("color prior set: %d bins, weights %.2f..%.2f", self.num_bins, self.weights.min(), self.weights.max())

    def loss(self, logits: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        if logits.shape[-2:] != ab.shape[-2:]:
            ab = F.adaptive_avg_pool2d(ab, logits.shape[-2:])  # targets at the logits' resolution
        index, target = self.soft_encode(ab)  # (B,h,w,5) each
        z = logits.float().permute(0, 2, 3, 1)  # (B,h,w,Q): a view, no copy, for channels-last logits
        # -sum_k t_k log softmax(z)_k = logsumexp(z) - sum_k t_k z_k  (the t_k sum to 1)
        cross_entropy = torch.logsumexp(z, dim=-1) - (target * z.gather(-1, index)).sum(-1)  # (B,h,w)
        loss = (self.weights[index[..., 0]] * cross_entropy).mean()  # weight of the nearest bin
        if self.regression_weight:
            mean_ab = color_classes.annealed_mean(logits, self.centres, 1.0)  # the distribution's mean, ab/128
            loss = loss + self.regression_weight * F.l1_loss(mean_ab, ab.float())
        return loss

    def decode(self, logits: torch.Tensor, size: tuple[int, int], temperature: float | None = None) -> torch.Tensor:
        """Logits -> ab/128 by the annealed mean at `temperature` (default: the head's own)."""
        ab = color_classes.annealed_mean(logits, self.centres, self.temperature if temperature is None else temperature)
        if ab.shape[-2:] != tuple(size):
            ab = F.interpolate(ab, size=size, mode="bilinear", align_corners=False)
        return ab
