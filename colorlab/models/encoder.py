"""Frozen, ImageNet-pretrained encoders: grayscale L -> a feature map the decoder colors."""

from __future__ import annotations

import logging
import urllib.error
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FrozenEncoder(nn.Module):
    """Base for encoders that are never trained: no gradients, and eval mode even under `.train()`.

    Subclasses set `out_channels` and `stride` (input size / output size), which the decoder reads.
    An encoder may train its last stages (its *top*): `forward_frozen` then stops where the top
    begins (what `Colorizer.encode` and the feature cache return, `frozen_channels` at
    `frozen_stride`), and `forward_top` turns that into the final features, with gradients. By
    default the whole encoder is frozen and the top is the identity.
    """

    out_channels: int
    stride: int
    _skip_channels: dict[int, int] = {}

    def constructor_args(self) -> dict:
        """Keyword arguments, other than `weights`, that rebuild this encoder (a model file stores them)."""
        return {}

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    @property
    def trains_top(self) -> bool:
        """Whether the last stages train (see `forward_top`)."""
        return False

    @property
    def frozen_channels(self) -> int:
        """Channels of `forward_frozen`'s output (what a feature cache stores)."""
        return self.out_channels

    @property
    def frozen_stride(self) -> int:
        """Stride of `forward_frozen`'s output."""
        return self.stride

    def forward_frozen(self, lightness: torch.Tensor) -> torch.Tensor:
        """L/100 -> the output of the frozen part (all of it unless a top trains)."""
        return self(lightness)

    def forward_top(self, frozen: torch.Tensor) -> torch.Tensor:
        """`forward_frozen`'s output -> the final features (B,out_channels,H/stride,W/stride)."""
        return frozen

    def set_input_normalization(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        """The per-channel mean/std (on [0,1] RGB) that the pretrained weights expect."""
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def skip_modules(self) -> dict[int, nn.Module]:
        """{stride: module} whose outputs a U-Net decoder takes as skip connections (none by default)."""
        return {}

    @property
    def skip_channels(self) -> dict[int, int]:
        """{stride: channels} of the skip features."""
        return dict(self._skip_channels)

    def forward_with_skips(self, lightness: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """(features, {stride: intermediate feature map}) in one pass, captured with forward hooks."""
        captured: dict[int, torch.Tensor] = {}
        hooks = [
            module.register_forward_hook(lambda m, i, o, s=stride: captured.__setitem__(s, o))
            for stride, module in self.skip_modules().items()
        ]
        try:
            features = self.forward_frozen(lightness)
        finally:
            for hook in hooks:
                hook.remove()
        return features, captured

    def normalize(self, lightness: torch.Tensor) -> torch.Tensor:
        """L/100 (B,1,H,W) -> gray RGB (B,3,H,W) normalised for the weights: L copied to 3 channels."""
        return (lightness.expand(-1, 3, -1, -1) - self.mean) / self.std

    def train(self, mode: bool = True) -> FrozenEncoder:
        # Lightning calls .train() on the whole module each epoch: keep dropout/BN (if any) in eval,
        # a trained top's too (its batch-norm keeps ImageNet's statistics; its weights still learn).
        return super().train(False)


class VGG16Encoder(FrozenEncoder):
    """torchvision VGG-16 `features` (13 convs, 5 max-pools): L/100 (B,1,H,W) -> (B,512,H/32,W/32)."""

    out_channels = 512
    stride = 32

    def __init__(self, weights: str | None = "IMAGENET1K_V1") -> None:
        super().__init__()
        self.weights = weights
        self.features = vgg16_features()
        if weights is not None:
            self.features.load_state_dict(load_vgg16_features(weights))
        self.set_input_normalization(IMAGENET_MEAN, IMAGENET_STD)  # torchvision's weights expect these
        self.freeze()

    _skip_channels = {1: 64, 2: 128, 4: 256, 8: 512, 16: 512}  # conv1_2 ... conv5_3 (after ReLU)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.features(self.normalize(lightness))  # (B,512,H/32,W/32)

    def skip_modules(self) -> dict[int, nn.Module]:
        """The ReLU before each max-pool: conv1_2 (stride 1) ... conv5_3 (stride 16)."""
        layers = list(self.features)
        relus = [layers[i - 1] for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)]
        return dict(zip(self._skip_channels, relus, strict=True))


def vgg16_features() -> nn.Sequential:
    """VGG-16's `features`, initialised as torchvision does, without building the 100M-parameter classifier."""
    import torchvision  # here: importing torchvision costs seconds, and colorizing with Lite0 never needs it

    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=False)
    for module in features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return features


def load_vgg16_features(weights: str | Path) -> dict[str, torch.Tensor]:
    """State dict of VGG-16 `features` from a torchvision weights name or a local `.pth` file."""
    import torchvision

    names = list(torchvision.models.VGG16_Weights.__members__)
    if str(weights) in names:
        return _strip_features_prefix(_torchvision_state_dict(torchvision.models.VGG16_Weights[str(weights)]))
    path = Path(weights).expanduser()
    if path.suffix in {".pth", ".pt"} or path.exists():
        if not path.is_file():
            raise FileNotFoundError(
                f"model.net.encoder.weights={weights}: no such file. Give a VGG-16 state dict (.pth), "
                f"a torchvision weights name ({', '.join(names)}) or null for random initialisation."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        return _strip_features_prefix(state.get("state_dict", state))
    raise ValueError(
        f"model.net.encoder.weights={weights!r} is neither a torchvision weights name ({', '.join(names)}) "
        "nor a .pth file; use null for random initialisation."
    )


class WeightsUnavailableError(OSError):
    """Pretrained weights that cannot be downloaded or read; the message says where to put them."""


def _torchvision_state_dict(weights) -> dict[str, torch.Tensor]:
    """Load through torchvision's own download and cache; without network, say what to put where."""
    cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        if cache.is_file():  # a cached file that failed to load is corrupt, not missing
            raise WeightsUnavailableError(
                f"cached encoder weights {cache} could not be loaded ({err}); delete it"
            ) from err
        raise WeightsUnavailableError(
            f"cannot load the pretrained encoder weights: {weights.url} could not be downloaded ({err}). "
            f"Put that file at {cache} (or set TORCH_HOME), or set model.net.encoder.weights to a local .pth "
            "path, or to null for a randomly initialised encoder."
        ) from err


def _strip_features_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept a full VGG-16 state dict (`features.0.weight`, `classifier...`) or `features` alone."""
    if any(k.startswith("features.") for k in state):
        return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    return state
