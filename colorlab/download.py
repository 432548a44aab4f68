"""The download command: `python -m colorlab.download name=cat_dataset [root=<folder>]` fetches a dataset."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from colorlab.core.config import CONFIG_DIR
from colorlab.core.errors import hydra_errors_exit, user_errors_exit
from colorlab.data.archives import DATASETS, ensure_dataset


def run_download(cfg: DictConfig) -> Path:
    """Make sure dataset `cfg.name` is in place; returns its folder."""
    if cfg.name not in DATASETS:
        raise ValueError(f"name={cfg.name}: choose one of {', '.join(sorted(DATASETS))}")
    root = Path(cfg.root).expanduser() if cfg.root else Path(cfg.paths.data_dir) / cfg.name
    root = ensure_dataset(cfg.name, root, bool(cfg.keep_archives))
    print(f"{cfg.name} is ready in {root}")
    return root


@hydra_errors_exit
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="download")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    run_download(cfg)


if __name__ == "__main__":
    main()
