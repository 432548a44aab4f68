"""The paper's decoder (Table 2): encoder features -> ab/128, one topology with its variants as arguments."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from colorlab.models.decoder_base import DecoderBase
from colorlab.models.hints import Hints

NORMS = {None: None, "none": None, "batch": nn.BatchNorm2d}


class Decoder(DecoderBase):
    """(B,C,H/s,W/s) features -> (B,out,H,W); with the defaults (B,512,7,7) -> (B,2,224,224) in [-1,1].

    Table 2: Conv 512->256, Conv 256->128 at the encoder's resolution, then Up2+Conv to 64, 32, 16
    and 2 (tanh), and a final Up2. Every conv is 3x3 'same' with ReLU. `norm="batch"` puts a
    BatchNorm2d before each conv; `dropout=p` follows each hidden activation with Dropout(p).

    `output_stride` is where the output layer sits: 1 (the paper: Up2+Conv at 1/2, then a final Up2),
    2 (Up2+Conv at 1/2, no final Up2) or 4 (the output conv right after the last hidden block, at
    1/4, as Zhang et al.'s class layer); `out_kernel` is its kernel (3, or 1 for a class layer).
    With `hints=True` the local hints pooled to each conv's resolution join its input, and the global
    hint the first conv's output.
    """

    def __init__(
        self,
        in_channels: int = 512,
        stride: int = 32,
        skip_channels: Mapping[int, int] | None = None,  # the contract's; this decoder takes no skips
        out_channels: int = 2,
        final_activation: str | None = "tanh",
        output_stride: int = 1,
        out_kernel: int = 3,
        widths: Sequence[int] = (256, 128),
        up_widths: Sequence[int] = (64, 32, 16),
        norm: str | None = None,
        dropout: float = 0.0,
        upsample: str = "nearest",
        hints: bool = False,
    ) -> None:
        super().__init__(
            in_channels, stride, skip_channels, out_channels, final_activation, output_stride, out_kernel, hints
        )
        n_up = len(up_widths) + 2  # an Up2 before each up-width conv, before the output conv, and last
        if 2**n_up != stride:
            raise ValueError(
                f"decoder upsamples by 2^{n_up}={2**n_up} but the encoder's stride is {stride}: "
                "give up_widths with log2(stride) - 2 entries"
            )
        check_variant(norm, dropout)

        block = functools.partial(conv_block, norm=norm, dropout=dropout, upsample=upsample)
        extra = self.hint_channels
        chans = [in_channels, *widths]
        blocks = [block(a + extra, b, up=False) for a, b in zip(chans[:-1], chans[1:], strict=True)]
        ups = [chans[-1], *up_widths]
        blocks += [block(a + extra, b, up=True) for a, b in zip(ups[:-1], ups[1:], strict=True)]
        out_up = output_stride < 4
        blocks.append(block(ups[-1] + extra, out_channels, up=out_up, activation=final_activation, kernel=out_kernel))
        if output_stride == 1:  # the paper's final Up2; a classification head upsamples ab itself
            blocks.append(nn.Sequential(nn.Upsample(scale_factor=2, mode=upsample)))
        self.blocks = nn.Sequential(*blocks)
        # The stride each conv works at (None: the final Up2, which has no conv).
        self.block_strides = [stride] * len(widths)
        self.block_strides += [stride >> (i + 1) for i in range(len(up_widths))]
        self.block_strides.append(self.block_strides[-1] >> out_up)
        if output_stride == 1:
            self.block_strides.append(None)
        self.build_global_layer((*widths, *up_widths)[0])

    def forward(
        self, features: torch.Tensor, skips: Mapping[int, torch.Tensor] | None = None, hints: Hints | None = None
    ) -> torch.Tensor:
        if not self.takes_hints:
            return self.blocks(features)
        x = features
        for index, (stride, layers) in enumerate(zip(self.block_strides, self.blocks, strict=True)):
            if stride is None:
                x = layers(x)
                continue
            if isinstance(layers[0], nn.Upsample):
                x = layers[0](x)
                layers = layers[1:]
            x = layers(self.with_hints(x, hints, stride))
            if index == 0:
                x = self.inject_global(x, hints)
        return x


def check_variant(norm: str | None, dropout: float) -> None:
    if norm not in NORMS:
        raise ValueError(f"decoder norm={norm!r}: choose one of {[k for k in NORMS if k]} or null")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"decoder dropout={dropout}: must be in [0, 1)")


def conv_block(
    cin: int,
    cout: int,
    up: bool,
    norm: str | None,
    dropout: float,
    upsample: str,
    activation: str | None = "relu",
    kernel: int = 3,
) -> nn.Sequential:
    """[Up2] [BatchNorm] Conv (3x3, or 1x1) then ReLU [+ Dropout] for hidden blocks, or tanh / nothing for
    the output."""
    layers: list[nn.Module] = []
    if up:
        layers.append(nn.Upsample(scale_factor=2, mode=upsample))
    if NORMS[norm] is not None:
        layers.append(NORMS[norm](cin))
    layers.append(nn.Conv2d(cin, cout, kernel_size=kernel, padding=kernel // 2))
    if activation == "relu":
        layers.append(nn.ReLU(inplace=True))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    elif activation == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module, trainable: bool | None = None) -> int:
    """Number of parameters; only the (non-)trainable ones when `trainable` is given."""
    return sum(p.numel() for p in module.parameters() if trainable is None or p.requires_grad == trainable)
