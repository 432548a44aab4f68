"""The README's commands, run as a user types them, in a fresh folder with the files they name.

Training commands get `debug=tiny` and a random encoder (the README's run the embedded sample with
ImageNet weights for minutes; here seconds, offline); everything else runs exactly as written.
`make demo` and `make test` are what CI runs itself (.ci/run). The commands take minutes together,
so they are `slow`: `make readme` (and CI) runs them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import SAMPLE, smooth_image

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TINY = ["debug=tiny", "model.net.encoder.weights=null"]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    """Every `python -m colorlab...` line of the README's bash blocks, without its comment."""
    lines = [line.split("  #", 1)[0].strip() for block in code_blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("python -m colorlab")]


def run(line: str, cwd: Path, extra: list[str] = (), timeout: float = 600) -> subprocess.CompletedProcess:
    args = shlex.split(line)
    assert args[:2] == ["python", "-m"], line
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args[1:], *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    """The files the README's commands name: old_photos/, cat.jpg, points.json, blanket.jpg, grandma.jpg."""
    (tmp_path / "old_photos").mkdir()
    for photo in sorted(SAMPLE.glob("*.jpg"))[:2]:
        Image.open(photo).convert("L").save(tmp_path / "old_photos" / photo.name)
    Image.open(sorted(SAMPLE.glob("*.jpg"))[3]).convert("L").save(tmp_path / "cat.jpg")
    Image.open(sorted(SAMPLE.glob("*.jpg"))[4]).save(tmp_path / "blanket.jpg")
    Image.fromarray(smooth_image(96, 1)).convert("L").save(tmp_path / "grandma.jpg")
    (tmp_path / "points.json").write_text(json.dumps([{"x": 0.5, "y": 0.5, "color": "#f2c744"}]))
    return tmp_path


def test_the_readme_names_the_commands_this_test_runs():
    kinds = {shlex.split(line)[2] for line in commands()}
    assert kinds == {"colorlab.colorize", "colorlab.app", "colorlab.train", "colorlab.compare"}, kinds
    assert "make demo" in README and "make test" in README


@pytest.mark.slow
def test_the_readme_colorize_commands_and_python_api(user_folder):
    for line in (c for c in commands() if "colorlab.colorize" in c):
        done = run(line, user_folder)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
        assert " 0 failed" in done.stdout, done.stdout
    assert len(list((user_folder / "color").iterdir())) == 3  # two old photos and the guided cat
    assert len(list((user_folder / "vivid").iterdir())) == 2  # the old photos by the more colourful model
    (api,) = code_blocks("python")
    done = subprocess.run([sys.executable, "-c", api], cwd=user_folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Image.open(user_folder / "grandma_color.png").size == (96, 96)


@pytest.mark.slow
def test_the_readme_training_sweep_and_compare(tmp_path):
    trains = [c for c in commands() if "colorlab.train" in c]
    for line in trains:
        done = run(line, tmp_path, TINY)
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    (sweep,) = (tmp_path / "outputs" / "multirun").iterdir()
    (compare,) = [c for c in commands() if "colorlab.compare" in c]
    done = run(compare.replace("outputs/multirun/<stamp>", str(sweep)), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (sweep / "report" / "report.html").is_file()


@pytest.mark.slow
def test_the_readme_web_page_command_serves(tmp_path):
    pytest.importorskip("gradio", reason="the web page needs Gradio (pip install -e .[app])")
    from tests.test_app import free_port, wait_for

    (line,) = [c for c in commands() if "colorlab.app" in c]
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADIO_ANALYTICS_ENABLED": "False"}
    server = subprocess.Popen(
        [sys.executable, *shlex.split(line)[1:], f"port={port}"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/", 120, server)
    finally:
        server.terminate()
        server.wait(timeout=30)
