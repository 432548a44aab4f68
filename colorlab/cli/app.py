"""The app command: `python -m colorlab.app ckpt=<run, .ckpt or pretrained:cats> [port=7860]` serves the web page."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from colorlab.checkpoints import open_model
from colorlab.cli import hydra_errors_exit, user_errors_exit, whole_number
from colorlab.config import CONFIG_DIR, register_resolvers
from colorlab.webapp import build_app

log = logging.getLogger(__name__)
register_resolvers()


@hydra_errors_exit
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="app")
@user_errors_exit
def main(cfg: DictConfig) -> None:
    whole_number(cfg.port, "port", 1, 65535)
    whole_number(cfg.max_pixels, "max_pixels", 1)
    whole_number(cfg.max_upload_mb, "max_upload_mb", 1)
    try:
        import gradio  # noqa: F401
    except ImportError as err:
        raise ValueError("the web page needs Gradio: pip install 'colorlab[app]'") from err
    opened = open_model(cfg.ckpt, cfg.device)
    model, ckpt = opened.net, opened.path
    name = str(cfg.ckpt) if str(cfg.ckpt).startswith("pretrained:") else ckpt.name
    page = build_app(model, name, cfg.max_pixels)
    log.info("serving %s on http://%s:%d", ckpt, cfg.host, cfg.port)
    page.launch(
        server_name=cfg.host,
        server_port=cfg.port,
        max_file_size=cfg.max_upload_mb * 1024 * 1024,
        share=False,
        show_error=True,
    )
