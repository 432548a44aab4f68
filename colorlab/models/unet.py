"""A U-Net decoder: the paper's upsampling path plus skip connections from the encoder's blocks.

With VGG-16 the skips are conv1_2 ... conv5_3 (strides 1 to 16), so fine structure reaches the
output directly instead of through a 7x7 bottleneck.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from colorlab.models.decoder import check_variant, conv_block
from colorlab.models.decoder_base import DecoderBase
from colorlab.models.hint_attention import CHANNELS as ATTENDED
from colorlab.models.hint_attention import HintAttention
from colorlab.models.hints import Hints

MIN_ATTENTION_STRIDE = 8  # attention costs cells x points: 4 times more at each finer stride


class UNetDecoder(DecoderBase):
    """(B,C,H/32,W/32) features + {stride: skip map} -> (B,out,H,W) (tanh: ab/128 in [-1,1]).

    At the encoder's resolution: Conv C->widths[0]. Then, per halving of the stride: Up2, concatenate
    the encoder's skip at that stride (if it has one and `skip_strides` lists it; None: every one), Conv
    to the next width; the output conv last. With `hints=True` the local hints pooled to each of those
    strides join every conv's input, and the global hint the first conv's output; at the
    `hint_attention` strides, also the points' colours carried to the cells whose features match
    theirs (colorlab.models.hint_attention).
    """

    uses_skips = True

    def __init__(
        self,
        in_channels: int = 512,
        stride: int = 32,
        skip_channels: Mapping[int, int] | None = None,
        out_channels: int = 2,
        final_activation: str | None = "tanh",
        output_stride: int = 1,
        out_kernel: int = 3,
        widths: Sequence[int] = (256, 128, 64, 32, 16, 16),
        norm: str | None = None,
        dropout: float = 0.0,
        upsample: str = "nearest",
        skip_strides: Sequence[int] | None = None,
        hints: bool = False,
        hint_attention: Sequence[int] = (),
    ) -> None:
        super().__init__(
            in_channels, stride, skip_channels, out_channels, final_activation, output_stride, out_kernel, hints
        )
        levels = stride.bit_length() - 1  # 5 halvings for stride 32
        if 2**levels != stride or len(widths) != levels + 1:
            raise ValueError(f"unet decoder: stride {stride} needs {levels + 1} widths, got {list(widths)}")
        check_variant(norm, dropout)
        block = functools.partial(conv_block, norm=norm, dropout=dropout, upsample=upsample)
        self.head = block(in_channels + self.hint_channels, widths[0], up=False)
        self.build_global_layer(widths[0])
        self.strides = [stride >> (i + 1) for i in range(levels)]  # 16, 8, 4, 2, 1
        self.strides = [s for s in self.strides if s >= output_stride]  # stop at the output's resolution
        if skip_strides is not None:
            unknown = set(skip_strides) - set(self.skip_channels)
            if unknown:
                raise ValueError(
                    f"model.net.decoder.skip_strides={list(skip_strides)}: the encoder has skips at "
                    f"{sorted(self.skip_channels)} only"
                )
            self.skip_channels = {s: c for s, c in self.skip_channels.items() if s in skip_strides}
        attended = self._checked_attention(hint_attention)
        self.attention = nn.ModuleDict(
            {str(s): HintAttention(widths[i] + self.skip_channels.get(s, 0)) for i, s in attended}
        )
        self.ups = nn.ModuleList(
            block(self._up_channels(widths[i], s), widths[i + 1], up=True) for i, s in enumerate(self.strides)
        )
        self.out = conv_block(
            widths[len(self.strides)],
            out_channels,
            up=False,
            norm=None,
            dropout=0.0,
            upsample=upsample,
            activation=final_activation,
            kernel=out_kernel,
        )

    def _up_channels(self, width: int, stride: int) -> int:
        """What the conv at `stride` reads: the upsampled path, the skip, the local hints, the attention."""
        attended = ATTENDED if str(stride) in self.attention else 0
        return width + self.skip_channels.get(stride, 0) + self.hint_channels + attended

    def _checked_attention(self, hint_attention: Sequence[int]) -> list[tuple[int, int]]:
        """(level, stride) of each stride the points attend at: strides of the upsampling path of 8 or
        more (attention costs cells x points)."""
        if not isinstance(hint_attention, Sequence) or isinstance(hint_attention, str):
            raise ValueError(f"unet decoder hint_attention={hint_attention!r}: a list of strides")
        allowed = [s for s in self.strides if s >= MIN_ATTENTION_STRIDE]
        if hint_attention and not self.takes_hints:
            raise ValueError("unet decoder hint_attention: needs hints=true")
        for s in hint_attention:
            if isinstance(s, bool) or not isinstance(s, int) or s not in allowed:
                raise ValueError(f"unet decoder hint_attention={list(hint_attention)}: strides among {allowed}")
        return [(i, s) for i, s in enumerate(self.strides) if s in hint_attention]

    @property
    def skip_strides_used(self) -> tuple[int, ...]:
        return tuple(s for s in self.strides if s in self.skip_channels)

    def with_attention(self, x: torch.Tensor, hints: Hints | None, stride: int) -> torch.Tensor:
        """x (with its local hints last) plus what the points bring by attention (HintAttention)."""
        own = x[:, : x.shape[1] - self.hint_channels]
        if hints is None:
            brought = x.new_zeros(x.shape[0], ATTENDED, *x.shape[-2:])
        else:
            brought = self.attention[str(stride)](own, hints.at(stride))
        return torch.cat([x, brought.to(x.dtype)], dim=1)

    def forward(
        self, features: torch.Tensor, skips: Mapping[int, torch.Tensor] | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        skips = skips or {}
        x = self.inject_global(self.head(self.with_hints(features, hints, self.stride)), hints)
        for stride, up in zip(self.strides, self.ups, strict=True):
            upsample, rest = up[0], up[1:]
            x = upsample(x)
            if stride in self.skip_channels:
                x = torch.cat([x, skips[stride].to(x.dtype)], dim=1)
            x = self.with_hints(x, hints, stride)
            if str(stride) in self.attention:
                x = self.with_attention(x, hints, stride)
            x = rest(x)
        return self.out(x)
