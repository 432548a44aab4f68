"""The export command: `python -m colorlab.export ckpt=<run, .ckpt or pretrained:name> format=onnx|torchscript`."""

from __future__ import annotations

from omegaconf import DictConfig

from colorlab.core.errors import command
from colorlab.inference.model_export import export


@command("export")
def main(cfg: DictConfig) -> None:
    print(export(cfg.ckpt, cfg.format, cfg.output, cfg.size))


if __name__ == "__main__":
    main()
