"""The app command: `python -m colorlab.app ckpt=<run, .ckpt or pretrained:cats> [port=7860]` serves the web page."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys

from omegaconf import DictConfig

from colorlab.core.config import register_resolvers, whole_number
from colorlab.core.errors import command
from colorlab.inference.webpage import ResultFolders, build_app
from colorlab.models.checkpoints import open_model

log = logging.getLogger(__name__)
register_resolvers()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each request thread a malloc arena of its own and rarely returns their memory: the
    server's memory then grows with every burst of requests (measured: +257 MB over 120 uploads with
    the default, +131 MB with two arenas; benchmarks/app_load.py). Elsewhere than glibc: nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX


@command("app")
def main(cfg: DictConfig) -> None:
    whole_number(cfg.port, "port", 1, 65535)
    whole_number(cfg.max_pixels, "max_pixels", 1)
    whole_number(cfg.max_upload_mb, "max_upload_mb", 1)
    opened = open_model(cfg.ckpt, cfg.device)
    model, ckpt = opened.net, opened.path
    store = ResultFolders(whole_number(cfg.max_results_mb, "max_results_mb", 1) * 1024 * 1024)
    # Gradio's uploads and copies of the results go into the same folder, removed when the server exits
    # (SIGTERM included: it becomes a normal exit, which runs the clean-up).
    os.environ.setdefault("GRADIO_TEMP_DIR", str(store.root / "gradio"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    limit_malloc_arenas()
    try:
        import gradio  # noqa: F401
    except ImportError as err:
        raise ValueError("the web page needs Gradio: pip install 'colorlab[app]'") from err
    name = str(cfg.ckpt) if str(cfg.ckpt).startswith("pretrained:") else ckpt.name
    page = build_app(model, name, cfg.max_pixels, store)
    log.info("serving %s on http://%s:%d", ckpt, cfg.host, cfg.port)
    page.launch(
        server_name=cfg.host,
        server_port=cfg.port,
        max_file_size=cfg.max_upload_mb * 1024 * 1024,
        share=False,
        show_error=True,
    )


if __name__ == "__main__":
    main()
