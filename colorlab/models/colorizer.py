"""The colorizer network: frozen encoder -> decoder -> head, the one place the three are composed.

Training (photos or cached features), evaluation, colorize, video, the web page and export all call
a `Colorizer`; a model file (colorlab.models.model_file) holds exactly what rebuilds one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import nn

from colorlab.models import ab_grid
from colorlab.models.ab_grid import ColorStats
from colorlab.models.decoder_base import DecoderBase
from colorlab.models.encoder import FrozenEncoder
from colorlab.models.heads import Head, RegressionHead
from colorlab.models.hints import Hints

Skips = Mapping[int, torch.Tensor]


class Colorizer(nn.Module):
    """L/100 (B,1,H,W) -> ab/128 (B,2,H,W) in [-1,1]; H and W multiples of `stride`.

    `decoder` is a factory (a class, or a `functools.partial` of one, as Hydra's `_partial_` gives)
    called with the decoder contract's arguments: the encoder's `in_channels`, `stride` and
    `skip_channels`, then the head's output layer (`Head.decoder_args`). So any encoder fits any
    decoder and any head. `image_size` is the short side the model was trained at: colorize's default
    network input. The training data's color statistics are buffers, saved with the weights.
    """

    def __init__(
        self,
        encoder: FrozenEncoder,
        decoder: Callable[..., DecoderBase],
        head: Head | None = None,
        image_size: int | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head if head is not None else RegressionHead()
        if not isinstance(self.head, Head):
            raise TypeError(f"model head {type(self.head).__name__} lacks the Head protocol's methods")
        self.decoder_factory = decoder  # what built the decoder: its constructor config, for the model file
        self.decoder = decoder(
            in_channels=encoder.out_channels,
            stride=encoder.stride,
            skip_channels=encoder.skip_channels,
            **self.head.decoder_args(),
        )
        if not isinstance(self.decoder, DecoderBase):
            raise TypeError(f"model decoder builds a {type(self.decoder).__name__}: decoders subclass DecoderBase")
        self.image_size = image_size
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.register_buffer("color_prior", torch.zeros(ab_grid.NUM_BINS, dtype=torch.float64))
        self.register_buffer("color_mean_ab", torch.zeros(2))
        self.register_buffer("color_stats_ready", torch.tensor(False))

    @property
    def stride(self) -> int:
        """Input sides must be multiples of this (the encoder's input/output size ratio)."""
        return self.encoder.stride

    @property
    def skip_strides(self) -> tuple[int, ...]:
        """The strides of the encoder's skip features the decoder reads (what a feature cache keeps)."""
        return tuple(self.decoder.skip_strides_used) if self.decoder.uses_skips else ()

    @property
    def temperature(self) -> float | None:
        """A class head's annealed-mean temperature (None for a regression head)."""
        return getattr(self.head, "temperature", None)

    def check_size(self, height: int, width: int, what: str = "input") -> None:
        if torch.jit.is_tracing():  # an exported graph has a fixed size, checked by export
            return
        if height % self.stride or width % self.stride:
            raise ValueError(
                f"{what} {height}x{width} is not a multiple of the encoder's stride {self.stride} "
                f"(e.g. {max(self.stride, height // self.stride * self.stride)})"
            )

    def layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """Inputs in the memory layout the weights use (channels-last when `channels_last`)."""
        return tensor.contiguous(memory_format=torch.channels_last) if self.channels_last else tensor

    @torch.no_grad()
    def encode(self, lightness: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """The frozen encoder's output and the {stride: skip} the decoder reads (what the feature cache
        stores); no gradients. The output is the encoder's features (B,C,H/stride,W/stride), or, for
        an encoder whose top trains, the top's input (`decode_features` runs the top)."""
        self.check_size(*lightness.shape[-2:])
        lightness = self.layout(lightness)
        if not self.decoder.uses_skips:
            return self.encoder.forward_frozen(lightness), {}
        features, skips = self.encoder.forward_with_skips(lightness)
        return features, {stride: skips[stride] for stride in self.skip_strides}

    @property
    def takes_hints(self) -> bool:
        """Whether the decoder takes local and global hints (colorlab.models.hints)."""
        return self.decoder.takes_hints

    def decode_features(
        self, features: torch.Tensor, skips: Skips | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        """`encode`'s output (and skips) -> the decoder's raw output (ab, or color-class logits): the
        encoder's trained top, if any, then the decoder contract's call: `decoder(features, skips)` for
        one that `uses_skips`, plus `hints=` for one that takes them (None: no hints)."""
        if hints is not None and not self.takes_hints:
            raise ValueError("this model does not take hints: colorize it without points or a reference photo")
        features = self.encoder.forward_top(self.layout(features))
        kwargs = {"hints": hints} if self.takes_hints else {}
        if not self.decoder.uses_skips:
            return self.decoder(features, **kwargs)
        skips = {stride: self.layout(skip) for stride, skip in (skips or {}).items()}
        return self.decoder(features, skips, **kwargs)

    def to_ab(self, output: torch.Tensor, size: tuple[int, int], temperature: float | None = None) -> torch.Tensor:
        """The decoder's raw output -> ab/128 (B,2,*size); `temperature` overrides a class head's own."""
        if temperature is None:
            return self.head.decode(output, size)
        self.check_temperature(temperature)
        return self.head.decode(output, size, temperature=temperature)

    def check_temperature(self, temperature: float) -> None:
        """A temperature for this network's decoding, or a ValueError saying why not."""
        if self.temperature is None:
            raise ValueError(
                f"temperature={temperature}: this is a {type(self.head).__name__} model, "
                "which has no color classes to anneal"
            )
        if not isinstance(temperature, int | float) or not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be a finite number > 0")

    def raw_output(self, lightness: torch.Tensor, hints: Hints | None = None) -> torch.Tensor:
        """L/100 -> the decoder's raw output (the head's loss reads this)."""
        return self.decode_features(*self.encode(lightness), hints=hints)

    def forward(
        self, lightness: torch.Tensor, temperature: float | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        output = self.raw_output(lightness, hints)
        return self.to_ab(output, tuple(lightness.shape[-2:]), temperature)  # (B,2,H,W)

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

    @property
    def device(self) -> torch.device:
        return self.color_prior.device
