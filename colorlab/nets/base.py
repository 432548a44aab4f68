"""The decoder contract: what every decoder is constructed with, and what it declares.

`ColorizationModule` builds any decoder as
`decoder(in_channels=, stride=, skip_channels=, out_channels=, final_activation=, output_stride=, out_kernel=)`:
the encoder gives the first three, the head (`colorlab.heads.Head.decoder_args`) the rest. A decoder
that takes the encoder's skip features sets `uses_skips = True` and is called as
`decoder(features, skips)`; otherwise `decoder(features)`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class DecoderBase(nn.Module):
    """Base class of decoders: stores the contract's arguments; subclasses build their layers.

    in_channels, stride: the encoder's output channels and its input/output size ratio.
    skip_channels: {stride: channels} of the encoder's skip features (ignored unless `uses_skips`).
    out_channels, final_activation ("tanh" or None), output_stride (1, 2 or 4: the output's size is
    the input's / output_stride), out_kernel (1 or 3): what the head needs from the last layer.
    """

    uses_skips: bool = False

    def __init__(
        self,
        in_channels: int,
        stride: int,
        skip_channels: Mapping[int, int] | None = None,
        out_channels: int = 2,
        final_activation: str | None = "tanh",
        output_stride: int = 1,
        out_kernel: int = 3,
    ) -> None:
        super().__init__()
        if output_stride not in (1, 2, 4):
            raise ValueError(f"decoder output_stride={output_stride}: choose 1, 2 or 4")
        if out_kernel not in (1, 3):
            raise ValueError(f"decoder out_kernel={out_kernel}: choose 1 or 3")
        if final_activation not in ("tanh", None):
            raise ValueError(f"decoder final_activation={final_activation!r}: use 'tanh' or null")
        self.in_channels, self.stride = in_channels, stride
        self.skip_channels = dict(skip_channels or {})
        self.out_channels, self.final_activation = out_channels, final_activation
        self.output_stride, self.out_kernel = output_stride, out_kernel

    @property
    def skip_strides_used(self) -> tuple[int, ...]:
        """The strides of the encoder's skip features this decoder reads (what a feature cache keeps)."""
        return ()

    def forward(self, features: torch.Tensor, skips: Mapping[int, torch.Tensor] | None = None) -> torch.Tensor:
        raise NotImplementedError
