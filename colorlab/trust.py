"""What a stored config (in a checkpoint from anyone) may build: an exact allow-list of callables.

Hydra's `_target_` is an import path, and Hydra follows module attributes, so any prefix rule
("starts with colorlab.") also admits `colorlab.data.download.shutil.copyfile` and
`colorlab.data.files.os.system`. A stored config is therefore checked, everywhere in it, against the
exact names colorlab's own configs write (a test keeps this list equal to what conf/ uses), before
anything in it is instantiated. Interpolations (`${...}`) are refused too: a saved config is
resolved when written, and a resolver is code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Every `_target_` in conf/, plus two optimisers users select on the command line and what earlier
# versions wrote (tests/test_safety.py checks both directions).
ALLOWED_TARGETS: set[str] = {
    "colorlab.module.ColorizationModule",
    "colorlab.nets.Decoder",
    "colorlab.nets.UNetDecoder",
    "colorlab.nets.VGG16Encoder",
    "colorlab.nets.EfficientNetLite0Encoder",
    "colorlab.heads.RegressionHead",
    "colorlab.heads.ClassificationHead",
    "colorlab.data.ColorDataModule",
    "colorlab.data.shard_datamodule.ShardDataModule",
    "colorlab.callbacks.AtomicCheckpointIO",
    "colorlab.callbacks.BestCheckpoint",
    "colorlab.callbacks.CheckpointOnException",
    "colorlab.callbacks.FlushLogsOnCheckpoint",
    "colorlab.callbacks.TrainThroughput",
    "colorlab.callbacks.ValidationImages",
    "colorlab.cli.CheckOutputFolder",
    "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",  # conf/hparams_search (never stored)
    "optuna.samplers.TPESampler",
    "colorlab.loggers.CSVLogger",
    "pytorch_lightning.Trainer",
    "pytorch_lightning.callbacks.EarlyStopping",
    "pytorch_lightning.callbacks.LearningRateMonitor",
    "pytorch_lightning.callbacks.ModelCheckpoint",  # written by earlier versions (now BestCheckpoint)
    "pytorch_lightning.loggers.TensorBoardLogger",
    "pytorch_lightning.loggers.MLFlowLogger",
    "pytorch_lightning.loggers.WandbLogger",
    "torch.optim.Adam",
    "torch.optim.AdamW",
    "torch.optim.SGD",
    "torch.optim.lr_scheduler.ReduceLROnPlateau",
    "torch.optim.lr_scheduler.CosineAnnealingLR",
}


def allow(*targets: str) -> None:
    """Let checkpoints build these exact classes too (an extension's own decoder, head, encoder...).
    Called by trusted code, never from a checkpoint."""
    ALLOWED_TARGETS.update(targets)


# Hydra's other reserved keys: harmless flags, but only with plain values.
RESERVED_FLAGS = frozenset({"_partial_", "_recursive_", "_convert_"})


class UntrustedConfigError(ValueError):
    """A stored config asks for something colorlab does not build; the message says what and where."""


def check_config(node: Any, where: str = "config") -> None:
    """Raise UntrustedConfigError unless every `_target_` under `node` is on the allow-list, every
    reserved key holds a plain value and no string is an interpolation. Checks the whole tree."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            path = f"{where}.{key}"
            if not isinstance(key, str):
                raise UntrustedConfigError(f"{path}: keys must be strings")
            if key == "_target_":
                if not isinstance(value, str) or value not in ALLOWED_TARGETS:
                    raise UntrustedConfigError(f"{path}={value!r} is not one of the classes colorlab builds")
            elif key == "_args_":
                raise UntrustedConfigError(f"{path}: positional arguments are never written by colorlab")
            elif key.startswith("_") and key.endswith("_") and key not in RESERVED_FLAGS:
                raise UntrustedConfigError(f"{path}: unknown reserved key")
            elif key in RESERVED_FLAGS and not isinstance(value, bool | str):
                raise UntrustedConfigError(f"{path}={value!r}: must be a plain flag")
            check_config(value, path)
    elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
        for index, value in enumerate(node):
            check_config(value, f"{where}[{index}]")
    elif isinstance(node, str) and "${" in node:
        raise UntrustedConfigError(f"{where}={node!r}: interpolations are not allowed in a stored config")
