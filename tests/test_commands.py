"""Commands apart from the library: every `python -m colorlab.<command>` runs (its --help through
Hydra), each is a thin wrapper in colorlab/cli/, and no library module imports a command."""

from __future__ import annotations

import ast
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "colorlab"
COMMANDS = {  # command -> a setting of its config that --help must show
    "train": "optimized_metric",
    "evaluate": "bootstrap",
    "colorize": "saturation",
    "compare": "runs",
    "export": "format",
    "app": "max_upload_mb",
    "shards": "per_shard",
    "download": "keep_archives",
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_runs_as_python_dash_m(command, monkeypatch, capsys):
    """What `python -m colorlab.<command> --help` does (runpy is how -m runs a module), in this process."""
    monkeypatch.setattr(sys, "argv", [f"colorlab/{command}.py", "--help"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module(f"colorlab.{command}", run_name="__main__", alter_sys=True)
    assert done.value.code in (0, None)
    assert f"{COMMANDS[command]}:" in capsys.readouterr().out


def test_one_command_runs_as_its_own_process():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "colorlab.export", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0 and "format:" in done.stdout, done.stderr[-2000:]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_library_module_imports_a_command():
    commands = {f"colorlab.{name}" for name in COMMANDS} | {f"colorlab.cli.{name}" for name in COMMANDS}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[1] == "cli" or path.stem in COMMANDS and path.parent == PACKAGE:
            continue  # the commands themselves, and the `python -m colorlab.<command>` entry points
        found = imported_modules(path) & commands
        assert not found, f"{relative} imports the command(s) {sorted(found)}"


def test_the_entry_points_only_hand_over_to_their_command():
    for name in COMMANDS:
        assert imported_modules(PACKAGE / f"{name}.py") == {f"colorlab.cli.{name}", f"colorlab.cli.{name}.main"}
