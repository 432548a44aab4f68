"""The shards command: `python -m colorlab.shards folder=<photos> out=<folder>` writes WebDataset shards."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from colorlab.core.config import CONFIG_DIR
from colorlab.core.errors import hydra_errors_exit, user_errors_exit
from colorlab.data.shard_io import counts, write_shards


def run_shards(cfg: DictConfig) -> dict:
    """Write the shards `cfg` asks for; returns the index."""
    split = tuple(float(share) for share in cfg.split)
    if len(split) != 3:
        raise ValueError(f"split={list(cfg.split)}: give three shares, train, val and test")
    out = Path(cfg.out).expanduser()
    index = write_shards(Path(cfg.folder).expanduser(), out, int(cfg.per_shard), split)
    print(f"wrote {counts(index)} to {out}; train with: data=shards data.urls={out.resolve()}")
    return index


@hydra_errors_exit
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="shards")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    run_shards(cfg)


if __name__ == "__main__":
    main()
