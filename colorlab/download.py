"""The download command: `python -m colorlab.download name=cat_dataset [root=<folder>]` fetches a dataset."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from colorlab.core.errors import command
from colorlab.data.archives import DATASETS, ensure_dataset


def run_download(cfg: DictConfig) -> Path:
    """Make sure dataset `cfg.name` is in place; returns its folder."""
    if cfg.name not in DATASETS:
        raise ValueError(f"name={cfg.name}: choose one of {', '.join(sorted(DATASETS))}")
    root = Path(cfg.root).expanduser() if cfg.root else Path(cfg.paths.data_dir) / cfg.name
    root = ensure_dataset(cfg.name, root, bool(cfg.keep_archives))
    print(f"{cfg.name} is ready in {root}")
    return root


@command("download")
def main(cfg: DictConfig) -> None:
    run_download(cfg)


if __name__ == "__main__":
    main()
