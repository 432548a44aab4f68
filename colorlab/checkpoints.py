"""Rebuilding a trained model from a run folder or a checkpoint, safely (no pickled code is run)."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf

from colorlab.module import ColorizationModule


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and why."""


def find_checkpoint(run: str | Path) -> Path:
    """A checkpoint file as given, or a run folder's best checkpoint (else its last)."""
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


def read_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load with weights_only=True: tensors and plain containers only, never code."""
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
    _check_targets(path, config["model"])
    model_cfg = OmegaConf.create(config["model"])
    model_cfg.encoder.weights = None
    try:
        model: ColorizationModule = hydra.utils.instantiate(model_cfg)
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes ({err})") from err
    model.config = config
    if temperature is not None:
        if not hasattr(model.head, "temperature"):
            raise CheckpointError(
                f"temperature={temperature}: {path} is a {type(model.head).__name__} model, "
                "which has no colour classes to anneal"
            )
        if temperature <= 0:
            raise ValueError(f"temperature={temperature}: must be > 0")
        model.head.temperature = float(temperature)
    return model.to(device).eval(), config, path


SAFE_TARGET_PREFIXES = ("colorlab.", "torch.optim.", "torch.nn.")


def _check_targets(path: Path, node: Any) -> None:
    """A checkpoint's config may only build colorlab and torch classes: `_target_` is code to run."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(SAFE_TARGET_PREFIXES):
            raise CheckpointError(f"{path}: its config asks to build {target!r}, which colorlab does not trust")
        for value in node.values():
            _check_targets(path, value)
    elif isinstance(node, list):
        for value in node:
            _check_targets(path, value)
