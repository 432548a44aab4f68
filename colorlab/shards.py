"""The shards command: `python -m colorlab.shards folder=<photos> out=<folder>` writes WebDataset shards."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from colorlab.core.errors import command
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


@command("shards")
def main(cfg: DictConfig) -> None:
    run_shards(cfg)


if __name__ == "__main__":
    main()
