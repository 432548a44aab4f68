"""Finding and opening a trained model: a run folder, a checkpoint, a model file or `pretrained:<name>`.

Files are read with `weights_only=True` (no pickled code runs) and only the network is built from
them (colorlab.models.model_file). A checkpoint's stored run config is a record, never a recipe: the one
use of it, evaluation's default data settings, is rebuilt from colorlab.core.stored_data's typed allow-list.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from colorlab import pretrained
from colorlab.core.stored_data import StoredDataError, checked_data_settings
from colorlab.models.contract import ColorModel
from colorlab.models.model_file import ModelFileError, build, to_current

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
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


def file_sha256(path: Path) -> str:
    """The checkpoint's content hash: results record it, so results of another checkpoint are never reused."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# torch.save writes a zip archive (PK..) or, in its legacy format, a pickle (protocol 2+: 0x80).
CHECKPOINT_MAGICS = (b"PK\x03\x04", b"\x80")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """torch.load with weights_only=True: tensors and plain containers only, never code."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot read it ({err.strerror})") from err
    if not head.startswith(CHECKPOINT_MAGICS):
        raise CheckpointError(f"{path}: not a checkpoint (a torch checkpoint is a zip or pickle file)")
    if head.startswith(b"PK"):
        check_archive_index(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused to load, it holds objects other than tensors and plain data "
            f"(possibly code); colorlab loads checkpoints with weights_only=True ({str(err).splitlines()[0]})"
        ) from err
    except (RuntimeError, EOFError, OSError, RecursionError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint, corrupt or truncated ({err})") from err
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: not a colorlab checkpoint (not a mapping)")
    return checkpoint


def check_archive_index(path: Path) -> None:
    """Before anything is loaded: torch writes its archives uncompressed, so each entry's size on disk
    is its size in memory. A compressed entry is how a small file claims gigabytes: refused."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"{path}: not a readable checkpoint, corrupt or truncated ({err})") from err
    packed = [entry for entry in entries if entry.compress_type != zipfile.ZIP_STORED]
    if packed:
        claimed = sum(entry.file_size for entry in entries)
        raise CheckpointError(
            f"{path}: refused before loading: {len(packed)} of its entries are compressed (torch never writes "
            f"them so) and would unpack to {claimed:,} bytes from a {path.stat().st_size:,}-byte file"
        )


@dataclass
class LoadedModel:
    """A network opened from a file, with where it came from."""

    net: ColorModel
    path: Path
    variant: str
    checkpoint: dict[str, Any]  # the file's other entries (a run's stored config among them): records only


def open_model(run: str | Path, device: str | torch.device = "cpu", temperature: float | None = None) -> LoadedModel:
    """The network of a run folder (its best checkpoint, else its last), a checkpoint or model file, or
    `pretrained:<name>`, in eval mode on `device` ("auto": CUDA when present). `temperature` sets a
    class head's annealed-mean temperature."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    path = find_checkpoint(run)
    checkpoint = read_checkpoint(path)
    try:
        meta, state = to_current(checkpoint)
        net = build(meta, state)
    except ModelFileError as err:
        raise CheckpointError(f"{path}: {err}") from err
    if temperature is not None:
        try:
            net.check_temperature(temperature)
        except ValueError as err:
            raise CheckpointError(f"{path}: {err}") from err
        net.head.temperature = float(temperature)
    return LoadedModel(net.to(device).eval(), path, str(meta.get("variant") or "model"), checkpoint)


def load_model(run: str | Path, device: str | torch.device = "cpu", temperature: float | None = None) -> ColorModel:
    """The trained network of `run` (see `open_model`): `colorlab.colorize_image(photo, load_model(run))`."""
    return open_model(run, device, temperature).net


def stored_data_config(loaded: LoadedModel) -> dict[str, Any]:
    """The data settings of the run that trained `loaded`, for evaluating on its own split, rebuilt from
    colorlab.core.stored_data's typed allow-list: no URL, command or scheme, no cache or download, bounded
    numbers. What it refuses, the user gives on the command line (`data=...`)."""
    config = loaded.checkpoint.get("colorlab_config")
    data = config.get("data") if isinstance(config, dict) else None
    if not isinstance(data, dict):
        raise CheckpointError(f"{loaded.path}: holds no data settings of its run; give data=... on the command line")
    try:
        return checked_data_settings(data)
    except StoredDataError as err:
        raise CheckpointError(f"{loaded.path}: its stored data settings are refused: {err}") from err


def stored_precision(loaded: LoadedModel) -> str:
    """The trainer precision the run used ("32" when unknown): evaluation computes in the same."""
    config = loaded.checkpoint.get("colorlab_config")
    trainer = config.get("trainer") if isinstance(config, dict) else None
    precision = trainer.get("precision") if isinstance(trainer, dict) else None
    return precision if isinstance(precision, str | int) and not isinstance(precision, bool) else "32"
