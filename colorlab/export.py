"""The export command: `python -m colorlab.export ckpt=<run, .ckpt or pretrained:name> format=onnx|torchscript`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from colorlab.core.config import CONFIG_DIR
from colorlab.core.errors import hydra_errors_exit, user_errors_exit
from colorlab.inference.model_export import export


@hydra_errors_exit
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    print(export(cfg.ckpt, cfg.format, cfg.output, cfg.size))


if __name__ == "__main__":
    main()
