"""Where a results file came from: the command, the commit, the date and the machine that wrote it.

Every generated results page (model cards, the frontier, benchmarks) carries this line, so a number
can be traced to what measured it.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path


def machine_description() -> str:
    """The CPU's model, its usable cores, torch's CPU capability and version, and the GPU if any."""
    import torch

    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", CPU only"
    return (
        f"{model or platform.processor() or platform.machine()}, {cores} CPUs "
        f"({torch.backends.cpu.get_cpu_capability()}){gpu}, torch {torch.__version__}"
    )


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def commit() -> str:
    """The checkout's short commit, with `+changes` when the work tree differs from it."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True)  # fmt: skip
    except OSError:
        return "unknown"
    if head.returncode:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def provenance(command: str) -> str:
    """One Markdown line: written by `command` at which commit, when, on which machine."""
    where = measured()
    return f"*Written by `{command}` at commit {where['commit']} on {where['date']}, on {where['machine']}.*"


def measured() -> dict[str, str]:
    """The commit, date and machine of a measurement, for the results file that stores it."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {"commit": commit(), "date": date, "machine": machine_description()}
