"""Shared fixtures: tiny real image files on disk, and composed configs with tiny overrides."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from PIL import Image

from colorlab.core.config import CONFIG_DIR, register_resolvers

# A random-init VGG on tiny inputs produces denormals that make CPU steps ~10x slower.
torch.set_flush_denormal(True)
register_resolvers()

# Under pytest-xdist (`make test`), the workers share the cores: each takes its share of threads, and
# so do the commands the tests start (OMP_NUM_THREADS is inherited), instead of all of them each.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _share = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    torch.set_num_threads(int(_share))
    os.environ.setdefault("OMP_NUM_THREADS", _share)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "colorlab" / "data" / "sample"


def tiny_overrides(tmp_path: Path) -> list[str]:
    """Overrides that make any config run in seconds on a CPU, offline, writing only under tmp_path:
    `debug=tiny` (conf/debug/tiny.yaml) and paths inside tmp_path."""
    return ["debug=tiny", f"paths.cache_dir={tmp_path / 'cache'}", f"paths.log_dir={tmp_path / 'outputs'}"]


def compose_config(overrides: list[str], output_dir: Path, keep_hydra: bool = False) -> DictConfig:
    """Compose conf/train.yaml like `python -m colorlab.train` would, with a fixed output folder.

    As in a real run, the `hydra` node is taken out of the task's config (unless `keep_hydra`).
    """
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        if not keep_hydra:
            del cfg["hydra"]
    return cfg


def smooth_image(size: int, seed: int) -> np.ndarray:
    """(size,size,3) uint8: a smooth two-color field (learnable from L, unlike noise)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, 1.0, size)[None, :, None]
    a, b = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    img = a * (1 - ramp) + b * ramp
    return np.broadcast_to(img, (size, size, 3)).clip(0, 255).astype(np.uint8)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """24 colorful photos in nested folders with mixed formats and extension case, plus a gray one."""
    root = tmp_path / "photos"
    for i in range(24):
        folder = root / f"set{i % 3}" / ("deep" if i % 4 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        ext = [".jpg", ".PNG", ".jpeg", ".webp", ".bmp", ".tif"][i % 6]
        Image.fromarray(smooth_image(48 + 4 * (i % 5), seed=i)).save(folder / f"img{i}{ext}")
    gray = np.full((48, 48, 3), 128, np.uint8)
    Image.fromarray(gray).save(root / "gray.png")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="session")
def cli_sweep(tmp_path_factory) -> Path:
    """One real `python -m colorlab.train -m model=baseline,batchnorm,dropout` sweep on tiny photos."""
    import os
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("sweep")
    photos = tmp / "photos"
    for i in range(24):
        (photos / f"set{i % 3}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(48, seed=i)).save(photos / f"set{i % 3}" / f"img{i}.jpg")
    command = [
        sys.executable,
        "-m",
        "colorlab.train",
        "-m",
        "model=baseline,batchnorm,dropout",
        "test=true",
        "data=folder",
        f"data.root={photos}",
        *tiny_overrides(tmp),
    ]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (tmp / "outputs" / "multirun").iterdir()
    return sweep


def compose_app(name: str, overrides: list[str]) -> DictConfig:
    """Compose conf/<name>.yaml (evaluate, colorize, export) as `python -m colorlab.<name>` would."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=overrides)


def compose_evaluate(overrides: list[str]) -> DictConfig:
    return compose_app("evaluate", overrides)
