"""The encoder-decoder family's allow-list: the encoders, decoders and heads a model file may name,
by the name each is stored under, and the checks on their constructor arguments.

A renamed or moved class keeps its stored name here, so old files still load (the names are
identifiers, not import paths: nothing is imported from a file).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from colorlab.models.decoder import Decoder
from colorlab.models.efficientnet import EfficientNetLite0Encoder, EfficientNetLite1Encoder, EfficientNetLite2Encoder
from colorlab.models.encoder import VGG16Encoder
from colorlab.models.heads import ClassificationHead, RegressionHead
from colorlab.models.unet import UNetDecoder

PARTS: dict[str, dict[str, type]] = {
    "encoder": {
        "colorlab.nets.VGG16Encoder": VGG16Encoder,
        "colorlab.nets.EfficientNetLite0Encoder": EfficientNetLite0Encoder,
        "colorlab.nets.EfficientNetLite1Encoder": EfficientNetLite1Encoder,
        "colorlab.nets.EfficientNetLite2Encoder": EfficientNetLite2Encoder,
    },
    "decoder": {"colorlab.nets.Decoder": Decoder, "colorlab.nets.UNetDecoder": UNetDecoder},
    "head": {"colorlab.heads.RegressionHead": RegressionHead, "colorlab.heads.ClassificationHead": ClassificationHead},
}
# Encoders whose weights ship in an installed package (no download), with the `weights` that loads them.
PACKAGED_WEIGHTS = {f"colorlab.nets.EfficientNetLite{n}Encoder": "imagenet" for n in (0, 1, 2)}


def allow(part: str, cls: type, name: str | None = None) -> None:
    """Let model files name an extension's own encoder, decoder or head (stored as `module.Class`).
    Called by trusted code, never from a file."""
    if part not in PARTS:
        raise ValueError(f"part={part!r}: one of {', '.join(PARTS)}")
    PARTS[part][name or qualified_name(cls)] = cls


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def stored_name(part: str, cls: type) -> str:
    """The name a part's class is written under: its allow-list name, else `module.Class`."""
    for name, known in PARTS[part].items():
        if known is cls:
            return name
    return qualified_name(cls)


def factory_spec(factory: Any) -> tuple[type, dict[str, Any]]:
    """(class, keyword arguments) of a decoder factory: a class or a `functools.partial` of one."""
    if isinstance(factory, functools.partial) and isinstance(factory.func, type) and not factory.args:
        return factory.func, plain_tree(dict(factory.keywords))
    if isinstance(factory, type):
        return factory, {}
    raise TypeError("the decoder factory must be a class or a functools.partial of one (keywords only)")


def plain_tree(value: Any) -> Any:
    """Hydra's list and dict nodes as plain Python, for a file anyone can read."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return {k: plain_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_tree(v) for v in value]
    return value


def checked_part(network: Mapping[str, Any], part: str) -> tuple[str, type, dict[str, Any]]:
    """(stored name, class, keyword arguments) of one part, checked against its allow-list; the
    values themselves were checked as plain by the model file."""
    spec = network.get(part)
    where = f"network.{part}"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}: missing or not a mapping")
    name = spec.get("_target_")
    if not isinstance(name, str) or name not in PARTS[part]:
        raise ValueError(f"{where}._target_={name!r} is not one of the {part}s colorlab builds")
    args = {}
    for key, value in spec.items():
        if key == "_target_":
            continue
        if not isinstance(key, str) or key.startswith("_") or key == "weights":
            raise ValueError(f"{where}.{key}: not a constructor argument colorlab writes")
        args[key] = value
    return name, PARTS[part][name], args
