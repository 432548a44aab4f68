"""Commands apart from the library: every `python -m colorlab.<command>` runs (its --help through
Hydra), the package's root holds the commands and nothing else, and no library module imports one."""

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
    commands = {f"colorlab.{name}" for name in COMMANDS}
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE:
            continue  # the commands themselves
        found = imported_modules(path) & commands
        assert not found, f"{path.relative_to(ROOT)} imports the command(s) {sorted(found)}"


def test_the_root_holds_the_commands_and_nothing_else():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == {*COMMANDS, "__init__"}, sorted(modules - {*COMMANDS, "__init__"})
    rooms = {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert rooms == {"conf", "core", "data", "evaluation", "inference", "models", "pretrained", "training"}


def test_no_two_modules_share_a_name():
    stems: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.stem != "__init__":
            stems.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    assert not {stem: where for stem, where in stems.items() if len(where) > 1}


# Each room imports only rooms on a lower floor (and itself): no circles, nothing imports upward.
FLOORS = {"core": 0, "pretrained": 0, "models": 1, "data": 2, "training": 3, "inference": 3, "evaluation": 4}


def test_rooms_import_only_rooms_below_them():
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE:
            continue  # the commands: above every room
        room = path.relative_to(PACKAGE).parts[0]
        for name in imported_modules(path):
            parts = name.split(".")
            if parts[0] != "colorlab" or len(parts) < 2 or parts[1] == room:
                continue
            other = parts[1]
            assert other in FLOORS, f"{path.relative_to(ROOT)} imports {name}, which is not in a room"
            assert FLOORS[other] < FLOORS[room], f"{path.relative_to(ROOT)} ({room}) imports upward: {name}"
