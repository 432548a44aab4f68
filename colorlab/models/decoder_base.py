"""The decoder contract: what every decoder is constructed with, and what it declares.

`ColorizationModule` builds any decoder as
`decoder(in_channels=, stride=, skip_channels=, out_channels=, final_activation=, output_stride=, out_kernel=)`:
the encoder gives the first three, the head (`colorlab.models.heads.Head.decoder_args`) the rest. A decoder
that takes the encoder's skip features sets `uses_skips = True` and is called as
`decoder(features, skips)`; otherwise `decoder(features)`.

A decoder built with `hints=True` takes hints (`takes_hints`, colorlab.models.hints): it is called with
`hints=` as well, reads the local hints pooled to every stride it works at (concatenated to that
layer's input, as the U-Net's skips are) and the global hint at its first layer (`inject_global`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from colorlab.models import hints as hint_maps
from colorlab.models.hints import Hints


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
        hints: bool = False,
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
        self.takes_hints = bool(hints)
        self.global_layer: nn.Module | None = None

    @property
    def hint_channels(self) -> int:
        """Channels the local hints add to each layer's input (0 for a decoder without hints)."""
        return hint_maps.LOCAL_CHANNELS if self.takes_hints else 0

    def build_global_layer(self, width: int) -> None:
        """The global hint's 1x1 layers (Zhang et al.: into the middle of the network), giving a
        per-photo offset to the first layer's `width` channels. They read the reference's colour
        distribution and that of the points' colours (what colours the photo holds, wherever they
        are: one point can recolour a whole region). Zero at the start: a decoder begins as its
        automatic self."""
        if self.takes_hints:
            hidden = nn.Linear(2 * hint_maps.GLOBAL_CHANNELS, width)
            out = nn.Linear(width, width)
            nn.init.zeros_(out.weight)
            nn.init.zeros_(out.bias)
            self.global_layer = nn.Sequential(hidden, nn.ReLU(inplace=True), out)

    def with_hints(self, x: torch.Tensor, hints: Hints | None, stride: int) -> torch.Tensor:
        """x (B,C,h,w) at 1/stride of the input, with the local hints pooled there concatenated."""
        if not self.takes_hints:
            return x
        if hints is None:
            return torch.cat([x, x.new_zeros(x.shape[0], hint_maps.LOCAL_CHANNELS, *x.shape[-2:])], dim=1)
        local = hints.at(stride, x.dtype)
        if local.shape[-2:] != x.shape[-2:]:
            raise ValueError(f"hints of {tuple(hints.ab.shape[-2:])} do not fit features at stride {stride}")
        return torch.cat([x, local.to(memory_format=torch.contiguous_format)], dim=1)

    def inject_global(self, x: torch.Tensor, hints: Hints | None) -> torch.Tensor:
        """The first layer's output plus the global hint's per-channel offset."""
        if self.global_layer is None:
            return x
        # No hint is the zero vector (present flag 0), as training shows it, not a skipped layer.
        if hints is None:
            given = x.new_zeros(x.shape[0], 2 * hint_maps.GLOBAL_CHANNELS)
        else:
            given = torch.cat([hints.global_or_none(), hints.points_distribution()], dim=1).to(x.dtype)
        offset = self.global_layer(given)
        return x + offset[:, :, None, None]

    def forward(
        self, features: torch.Tensor, skips: Mapping[int, torch.Tensor] | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        raise NotImplementedError
