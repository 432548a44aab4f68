"""What a stored config (in a checkpoint from anyone) may build: an exact allow-list of callables.

Hydra's `_target_` is an import path, and Hydra follows module attributes, so any prefix rule
("starts with colorlab.") also admits `colorlab.data.download.shutil.copyfile` and
`colorlab.data.files.os.system`. A stored config is therefore checked, everywhere in it, against the
exact names of the data sources conf/data writes (a test keeps the two equal), before anything in
it is instantiated. Interpolations (`${...}`) are refused too: a saved config is
resolved when written, and a resolver is code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The one part of a stored config colorlab ever builds is a run's data source (evaluation's default
# data settings, colorlab.checkpoints.stored_data_config); networks are built by colorlab.model_file.
ALLOWED_TARGETS: set[str] = {
    "colorlab.data.ColorDataModule",
    "colorlab.data.shard_datamodule.ShardDataModule",
}
MAX_DEPTH = 16  # colorlab writes nothing deeper; a hostile file nested far deeper is refused, not recursed


def allow(*targets: str) -> None:
    """Let stored data settings build these exact classes too (an extension's own data source).
    Called by trusted code, never from a checkpoint."""
    ALLOWED_TARGETS.update(targets)


# Hydra's other reserved keys: harmless flags, but only with plain values.
RESERVED_FLAGS = frozenset({"_partial_", "_recursive_", "_convert_"})


class UntrustedConfigError(ValueError):
    """A stored config asks for something colorlab does not build; the message says what and where."""


def check_config(node: Any, where: str = "config", depth: int = 0) -> None:
    """Raise UntrustedConfigError unless every `_target_` under `node` is on the allow-list, every
    reserved key holds a plain value and no string is an interpolation. Checks the whole tree."""
    if depth > MAX_DEPTH:
        raise UntrustedConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels")
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
            check_config(value, path, depth + 1)
    elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
        for index, value in enumerate(node):
            check_config(value, f"{where}[{index}]", depth + 1)
    elif isinstance(node, str) and "${" in node:
        raise UntrustedConfigError(f"{where}={node!r}: interpolations are not allowed in a stored config")
