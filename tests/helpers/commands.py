"""Running commands as a user types them, and checkpoints edited as a hostile user would."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from colorlab.models.checkpoints import find_checkpoint

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "HYDRA_FULL_ERROR": "0"}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=ENV, cwd=cwd or ROOT, timeout=300
    )


def clis(*commands: tuple[str, ...], cwd: Path | None = None) -> list[subprocess.CompletedProcess]:
    """Independent commands at once (most of a command's time is its start-up on one core)."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda command: cli(*command, cwd=cwd), commands))


def assert_one_error_line(done: subprocess.CompletedProcess, *needles: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    for needle in needles:
        assert needle in errors[0], errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evil_checkpoint(cli_sweep: Path, tmp_path: Path, section: str, node: dict, name: str = "evil.ckpt") -> Path:
    """A real checkpoint of the sweep whose stored run config has `node` in `section` (loads with
    weights_only=True: plain data only)."""
    checkpoint = torch.load(find_checkpoint(cli_sweep / "0_baseline"), weights_only=True)
    config = checkpoint["colorlab_config"]
    if section == "optimizer.lr":
        config["model"]["optimizer"]["lr"] = node
    elif node is not None:
        config[section] = node
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path


def evil_model_file(cli_sweep: Path, tmp_path: Path, edit, name: str = "evil_model.ckpt") -> Path:
    """A real checkpoint whose model entry (colorlab_model) `edit` changes in place."""
    checkpoint = torch.load(find_checkpoint(cli_sweep / "0_baseline"), weights_only=True)
    edit(checkpoint["colorlab_model"])
    path = tmp_path / name
    torch.save(checkpoint, path)
    return path
