"""The encoder-decoder family: frozen encoder -> decoder -> head, the one place the three are composed.

It meets the model contract (colorlab.models.contract) and registers as `encoder_decoder`; a model
file's `network` entry for it names each part by its allow-list name (colorlab.models.parts).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from colorlab.models import parts
from colorlab.models.ab_grid import ColorStats
from colorlab.models.contract import ColorModel, Features
from colorlab.models.decoder import count_parameters
from colorlab.models.decoder_base import DecoderBase
from colorlab.models.encoder import FrozenEncoder
from colorlab.models.heads import Head, RegressionHead
from colorlab.models.hints import Hints
from colorlab.models.registry import register_family

Skips = Mapping[int, torch.Tensor]


@register_family("encoder_decoder")
class Colorizer(ColorModel):
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
        super().__init__()  # the contract's buffers: the training data's color statistics
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

    stride_of = "encoder"

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

    def layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """Inputs in the memory layout the weights use (channels-last when `channels_last`)."""
        return tensor.contiguous(memory_format=torch.channels_last) if self.channels_last else tensor

    @torch.no_grad()
    def encode(self, lightness: torch.Tensor) -> Features:
        """The frozen encoder's output and the {stride: skip} the decoder reads (what the feature cache
        stores); no gradients. The output is the encoder's features (B,C,H/stride,W/stride), or, for
        an encoder whose top trains, the top's input (`decode_raw` runs the top)."""
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

    def decode_raw(
        self, features: torch.Tensor, skips: Skips | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        """`encode`'s output (and skips) -> the decoder's raw output (ab, or color-class logits): the
        encoder's trained top, if any, then the decoder contract's call: `decoder(features, skips)` for
        one that `uses_skips`, plus `hints=` for one that takes them (None: no hints)."""
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

    def loss(self, output: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.head.loss(output, ab)

    def check_temperature(self, temperature: float) -> None:
        if self.temperature is None:
            raise ValueError(
                f"temperature={temperature}: this is a {type(self.head).__name__} model, "
                "which has no color classes to anneal"
            )
        super().check_temperature(temperature)

    def set_color_stats(self, stats: ColorStats) -> None:
        """The contract's statistics; a head that needs a color prior takes it from them."""
        super().set_color_stats(stats)
        if self.head.needs_prior:
            self.head.set_prior(stats.prior)

    def check_ready(self) -> None:
        if self.head.needs_prior and not bool(self.head.prior_ready):
            raise RuntimeError(
                f"{type(self.head).__name__} needs the training data's color prior: fit with a colorlab "
                "DataSource, or call net.set_color_stats(...) before fitting"
            )

    def slow_parameters(self) -> Iterator[nn.Parameter]:
        """An encoder's trained top: it starts from ImageNet's weights."""
        return (p for p in self.encoder.parameters() if p.requires_grad)

    def packaged_state_keys(self) -> set[str]:
        """The encoder's frozen tensors (a packaged encoder's weights come from its package)."""
        trained = {f"encoder.{name}" for name, p in self.encoder.named_parameters() if p.requires_grad}
        return {key for key in self.state_dict() if key.startswith("encoder.") and key not in trained}

    def summary(self) -> dict[str, Any]:
        network = self.describe()
        desc: dict[str, Any] = {
            "family": self.family,
            "encoder": type(self.encoder).__name__,
            "encoder/weights": str(getattr(self.encoder, "weights", None)),
            "params/decoder": count_parameters(self.decoder, trainable=True),
            "params/encoder_frozen": count_parameters(self.encoder, trainable=False),
            "params/encoder_trained": count_parameters(self.encoder, trainable=True),
            "head": type(self.head).__name__,
        }
        if self.temperature is not None:
            desc["head/temperature"] = self.temperature
        desc["decoder/class"] = network["decoder"]["_target_"].rsplit(".", 1)[-1]
        desc.update({f"decoder/{k}": v for k, v in network["decoder"].items() if k != "_target_"})
        return desc

    def describe(self) -> dict[str, Any]:
        """Each part's allow-list name and constructor arguments."""
        decoder_cls, decoder_args = parts.factory_spec(self.decoder_factory)
        return {
            "encoder": {
                "_target_": parts.stored_name("encoder", type(self.encoder)),
                **self.encoder.constructor_args(),
            },
            "decoder": {"_target_": parts.stored_name("decoder", decoder_cls), **decoder_args},
            "head": {"_target_": parts.stored_name("head", type(self.head)), **self.head.constructor_args()},
        }

    @classmethod
    def from_description(
        cls, network: Mapping[str, Any], packaged_weights: bool = False, device: str = "cpu"
    ) -> Colorizer:
        """On `device` "meta" the encoder and decoder are shapes only (the head's few tensors are
        computed from its arguments, so it is built on the CPU either way)."""
        encoder_name, encoder_cls, encoder_args = parts.checked_part(network, "encoder")
        _, decoder_cls, decoder_args = parts.checked_part(network, "decoder")
        _, head_cls, head_args = parts.checked_part(network, "head")
        if packaged_weights and encoder_name not in parts.PACKAGED_WEIGHTS:
            raise ValueError(f"its encoder {encoder_name} has no weights in an installed package")
        weights = parts.PACKAGED_WEIGHTS[encoder_name] if packaged_weights and device != "meta" else None
        head = head_cls(**head_args)
        with torch.device(device):
            encoder = encoder_cls(weights=weights, **encoder_args)
            return cls(encoder, functools.partial(decoder_cls, **decoder_args), head)
