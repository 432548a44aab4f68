"""The model contract: what training, evaluation, colorize, video, export and the web page ask of a
colorizer, and nothing more, so a second family (a transformer that propagates hints, a diffusion
colorizer) plugs in without touching them.

A `ColorModel` maps L/100 (B,1,H,W) [+ `Hints`] to ab/128 (B,2,H,W) in [-1,1]. Its work is split in two
so that "features once, decode many" is one idiom for everyone: `encode` (no gradients; what the
feature cache stores and what the web page and the hint sweep keep per photo) and `decode` (the part
that trains and that hints enter). A family registers itself by name (colorlab.models.registry) and
describes itself in plain values (`describe`) that its `from_description` rebuilds through its own
allow-list: that is all a model file holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from colorlab.models import ab_grid
from colorlab.models.ab_grid import ColorStats
from colorlab.models.hints import Hints

Features = tuple[torch.Tensor, dict[int, torch.Tensor]]  # (the main features, {stride: skip features})


class ColorModel(nn.Module):
    """Base class of every colorizer family. Subclasses implement `encode`, `decode_raw`, `to_ab`,
    `loss`, `describe` and `from_description`, and set `stride`, `takes_hints`."""

    family: ClassVar[str] = ""  # its registry name, set by `register_family`
    stride: int = 1  # input sides must be multiples of this
    stride_of: str = "model"  # what sets the stride, for messages
    takes_hints: bool = False
    image_size: int | None = None  # the short side it was trained at: colorize's default input
    channels_last: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("color_prior", torch.zeros(ab_grid.NUM_BINS, dtype=torch.float64))
        self.register_buffer("color_mean_ab", torch.zeros(2))
        self.register_buffer("color_stats_ready", torch.tensor(False))

    # -- what every family implements --------------------------------------------------------------
    def encode(self, lightness: torch.Tensor) -> Features:
        """L/100 -> the features `decode_raw` reads (no gradients; the part that never trains)."""
        raise NotImplementedError

    def decode_raw(self, features: torch.Tensor, skips: Mapping[int, torch.Tensor] | None, hints: Hints | None):
        """`encode`'s output [+ hints] -> the raw output that `loss` trains and `to_ab` decodes. Hints come
        only to a model that takes them: `decode` and `forward` check (`check_hints`), training asks
        `takes_hints` first."""
        raise NotImplementedError

    def to_ab(self, output: torch.Tensor, size: tuple[int, int], temperature: float | None = None) -> torch.Tensor:
        """The raw output -> ab/128 (B,2,*size); a given `temperature` is checked here
        (`check_temperature`)."""
        raise NotImplementedError

    def loss(self, output: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """The training loss of the raw output against the true ab/128."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Plain values (numbers, strings, flags, short lists, nested dicts of them) that rebuild this
        network's architecture through `from_description`: the model file's `network` entry."""
        raise NotImplementedError

    @classmethod
    def from_description(
        cls, network: Mapping[str, Any], packaged_weights: bool = False, device: str = "cpu"
    ) -> ColorModel:
        """The network `describe` wrote, built on `device` ("meta": shapes only, for the model file's
        size check) from names on the family's own allow-list; a ValueError says what is refused.
        `packaged_weights`: the file leaves out `packaged_state_keys`, an installed package has them."""
        raise NotImplementedError

    # -- what a family may refine ------------------------------------------------------------------
    @property
    def temperature(self) -> float | None:
        """A tunable decoding temperature (a class head's annealed mean), or None."""
        return None

    def slow_parameters(self) -> Iterator[nn.Parameter]:
        """Trainable parameters that start from pretrained weights and learn at a reduced rate."""
        return iter(())

    def check_ready(self) -> None:
        """Raise RuntimeError when the model cannot be trained as built (e.g. a missing color prior)."""

    def summary(self) -> dict[str, Any]:
        """A flat description for TensorBoard's HPARAMS tab (a record, not a recipe)."""
        return {"family": self.family, "params/trainable": sum(p.numel() for p in self.parameters() if p.requires_grad)}

    def packaged_state_keys(self) -> set[str]:
        """State keys whose weights come from an installed package when the file leaves them out."""
        return set()

    # -- what the contract gives every family ------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.color_prior.device

    def check_size(self, height: int, width: int, what: str = "input") -> None:
        if torch.jit.is_tracing():  # an exported graph has a fixed size, checked by export
            return
        if height % self.stride or width % self.stride:
            raise ValueError(
                f"{what} {height}x{width} is not a multiple of the {self.stride_of}'s stride {self.stride} "
                f"(e.g. {max(self.stride, height // self.stride * self.stride)})"
            )

    def require_hints(self, what: str = "hints") -> None:
        """The one guard: hints (points, a reference, a global hint) for a model that takes none."""
        if not self.takes_hints:
            raise ValueError(
                f"{what}: this model does not take hints; colorize without points or a reference photo, "
                "or use a model trained with them (model=unet_hints)"
            )

    def check_hints(self, hints: Hints | None) -> None:
        if hints is not None:
            self.require_hints()

    def check_temperature(self, temperature: float) -> None:
        """A temperature for this model's decoding, or a ValueError saying why not."""
        if self.temperature is None:
            raise ValueError(f"temperature={temperature}: this model has no color classes to anneal")
        if not isinstance(temperature, int | float) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be a finite number > 0")

    def decode(
        self,
        features: Features,
        size: tuple[int, int],
        hints: Hints | None = None,
        temperature: float | None = None,
    ) -> torch.Tensor:
        """Features once, decode many: `encode`'s output [+ hints] -> ab/128 (B,2,*size), fp32, in the
        plain (B,C,H,W) memory layout whatever layout the model computes in: what follows (the points'
        propagation, resizing to the photo) is elementwise work and resizes that are several times slower
        on a channels-last tensor."""
        self.check_hints(hints)
        return self.to_ab(self.decode_raw(features[0], features[1], hints), size, temperature).float().contiguous()

    def forward(
        self, lightness: torch.Tensor, temperature: float | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        """L/100 (B,1,H,W) [+ hints] -> ab/128 (B,2,H,W), in the plain memory layout (as `decode`)."""
        self.check_hints(hints)
        output = self.decode_raw(*self.encode(lightness), hints)
        return self.to_ab(output, tuple(lightness.shape[-2:]), temperature).contiguous()

    def set_color_stats(self, stats: ColorStats) -> None:
        """Keep the training data's color statistics with the model (evaluation's baselines use them)."""
        self.color_prior.copy_(stats.prior)
        self.color_mean_ab.copy_(stats.mean_ab)
        self.color_stats_ready.fill_(True)

    @property
    def color_stats(self) -> ColorStats | None:
        """The training data's color statistics, or None for a model trained without them."""
        if not bool(self.color_stats_ready):
            return None
        return ColorStats(prior=self.color_prior.cpu(), mean_ab=self.color_mean_ab.cpu())
