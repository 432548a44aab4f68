"""Rebuilding a trained model from a run folder or a checkpoint, safely (no pickled code is run)."""

from __future__ import annotations

import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from colorlab import pretrained
from colorlab.module import ColorizationModule
from colorlab.trust import UntrustedConfigError, check_config

log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and why."""


def find_checkpoint(run: str | Path) -> Path:
    """A checkpoint file as given, `pretrained:<name>` (shipped in the package), or a run folder's best
    checkpoint (else its last)."""
    if pretrained.is_pretrained(run):
        try:
            return pretrained.pretrained_path(run)
        except FileNotFoundError as err:
            raise CheckpointError(str(err)) from err
    path = Path(run).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(f"run={path}: no such run folder or checkpoint file")
    folder = path / "checkpoints"
    best = sorted(folder.glob("best-*.ckpt"))
    if best:
        return best[-1]
    if (folder / "last.ckpt").is_file():
        return folder / "last.ckpt"
    raise CheckpointError(f"run={path}: no checkpoints/best-*.ckpt or checkpoints/last.ckpt in it")


# The sections of a stored config that loading, evaluating or exporting a model builds.
BUILT_SECTIONS = ("model", "data")
PACKAGED_ENCODER_KEY = "colorlab_packaged_encoder"
# Encoders whose weights ship in an installed package (no download), by (target, weights).
PACKAGED_ENCODERS = {("colorlab.nets.EfficientNetLite0Encoder", "imagenet")}
# torch.save writes a zip archive (PK..) or, in its legacy format, a pickle (protocol 2+: 0x80).
CHECKPOINT_MAGICS = (b"PK\x03\x04", b"\x80")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load with weights_only=True: tensors and plain containers only, never code. The stored
    config is checked against the allow-list (colorlab.trust) before anything is built from it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read it ({err.strerror})") from err
    if not head.startswith(CHECKPOINT_MAGICS):
        raise CheckpointError(f"{path}: not a checkpoint (a torch checkpoint is a zip or pickle file)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused to load, it holds objects other than tensors and plain data "
            f"(possibly code); colorlab loads checkpoints with weights_only=True ({str(err).splitlines()[0]})"
        ) from err
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint, corrupt or truncated ({err})") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "colorlab_config" not in checkpoint:
        raise CheckpointError(
            f"{path}: not a colorlab checkpoint (no state_dict and colorlab_config); "
            "was it written by another program or an older colorlab?"
        )
    config = checkpoint["colorlab_config"]
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: its colorlab_config is not a mapping")
    for section in list(config):
        try:
            check_config(config[section], f"colorlab_config.{section}")
        except UntrustedConfigError as err:
            if section in BUILT_SECTIONS:
                raise CheckpointError(f"{path}: refused, {err}") from err
            # A section colorlab never builds from a checkpoint (a user's own callback, say): dropped, so
            # nothing downstream can build it either.
            log.warning("%s: ignoring its %s config (%s)", path, section, err)
            del config[section]
    return checkpoint


def load_model(
    run: str | Path, device: str | torch.device = "cpu", temperature: float | None = None
) -> tuple[ColorizationModule, dict, Path]:
    """(model in eval mode, the run's resolved config, checkpoint path) from a run folder or checkpoint.

    The encoder is built without weights and then takes the checkpoint's copy, so no download is needed.
    `device="auto"` picks CUDA when present. `temperature` overrides a classification head's annealed-mean temperature.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    path = find_checkpoint(run)
    checkpoint = read_checkpoint(path)
    config = checkpoint["colorlab_config"]
    if not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{path}: its config has no model section")
    model_cfg = OmegaConf.create(config["model"])
    if "image_size" not in model_cfg:  # written before the module took its training size as an argument
        model_cfg.image_size = (config.get("data") or {}).get("image_size")
    packaged = bool(checkpoint.get(PACKAGED_ENCODER_KEY, False))
    if packaged:  # a shipped model: the encoder's weights come from an installed package, not the file
        encoder = model_cfg.get("encoder", {})
        if (encoder.get("_target_"), encoder.get("weights")) not in PACKAGED_ENCODERS:
            raise CheckpointError(f"{path}: its encoder {dict(encoder)} has no packaged (offline) weights")
    else:
        model_cfg.encoder.weights = None  # the checkpoint holds the encoder's weights
    try:
        model: ColorizationModule = hydra.utils.instantiate(model_cfg)
        missing, unexpected = model.load_state_dict(checkpoint["state_dict"], strict=not packaged)
    except (RuntimeError, KeyError, TypeError, ValueError, FileNotFoundError) as err:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes ({err})") from err
    if packaged and (unexpected or any(not key.startswith("encoder.") for key in missing)):
        raise CheckpointError(f"{path}: its weights do not fit its model (missing {missing}, unexpected {unexpected})")
    if temperature is not None:
        if not hasattr(model.head, "temperature"):
            raise CheckpointError(
                f"temperature={temperature}: {path} is a {type(model.head).__name__} model, "
                "which has no color classes to anneal"
            )
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be > 0")
        model.head.temperature = float(temperature)
    return model.to(device).eval(), config, path
