"""Where the configs live, the OmegaConf resolvers they use (registered before any is composed), and
the check of a whole-number setting that commands and stored files share."""

import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

# Inside the package, so an installed wheel has them; the repository's top-level conf/ links here.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
CONFIG_DIR = str(PACKAGE_DIR / "conf")
SAMPLE_DIR = PACKAGE_DIR / "data" / "sample"  # the embedded sample, shipped inside the package
MAX_IMAGE_SIZE = 2048  # a stored training size above this is refused (colorize would allocate for it)


def whole_number(value: Any, key: str, low: int, high: int | None = None) -> int:
    """`value` of setting `key` as an int in [low, high], else a ValueError naming the key."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f"{low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{key}={value!r}: must be a whole number, {bounds}")
    return value


def finite_number(value: Any, key: str, low: float, high: float = math.inf) -> float:
    """`value` of setting `key` as a finite float in [low, high], else a ValueError naming the key
    (NaN compares false with everything, so a plain range check would let it through)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}={value!r}: must be a finite number")
    if not low <= value <= high:
        raise ValueError(f"{key}={value!r}: must lie between {low} and {high}")
    return float(value)


def sync_batchnorm(accelerator: str) -> bool:
    """SyncBatchNorm for GPU runs; torch's DDP refuses it for CPU modules, so CPU runs keep BatchNorm."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def cpu_precision() -> str:
    """The faster training precision on this CPU: bf16 autocast where the CPU has AVX-512 (oneDNN's
    bf16 kernels; measured ~2.5x fp32 there), fp32 elsewhere (on AVX2 PyTorch runs bf16 convolutions
    on a slow fallback: measured 13x slower than fp32 for a Lite0 training step)."""
    return "bf16-mixed" if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else "32-true"


def register_resolvers() -> None:
    """`${colorlab.sample_dir:}` -> the embedded sample folder inside the installed package;
    `${colorlab.sync_batchnorm:<accelerator>}` -> whether DDP can synchronise batch norm;
    `${colorlab.cpu_precision:}` -> bf16-mixed on AVX-512 CPUs, else 32-true."""
    if not OmegaConf.has_resolver("colorlab.sample_dir"):
        OmegaConf.register_new_resolver("colorlab.sample_dir", lambda: str(SAMPLE_DIR))
    if not OmegaConf.has_resolver("colorlab.cpu_precision"):
        OmegaConf.register_new_resolver("colorlab.cpu_precision", cpu_precision)
    if not OmegaConf.has_resolver("colorlab.sync_batchnorm"):
        OmegaConf.register_new_resolver("colorlab.sync_batchnorm", sync_batchnorm)
