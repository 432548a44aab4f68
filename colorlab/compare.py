"""The compare command: `python -m colorlab.compare runs=[outputs/multirun/<stamp>, <run dir>, ...]`.

Writes the report (colorlab.evaluation.report): `report.md`, a self-contained `report.html`, `curves.png` and
`grid.png`, to `<sweep>/report/` (or `out=`); runs without evaluation results are evaluated first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from colorlab.core.config import register_resolvers
from colorlab.core.errors import command
from colorlab.evaluation.report import compare

register_resolvers()


def run_compare(cfg: DictConfig, command: str = "colorlab.compare.run_compare") -> Path:
    """Check the settings and write the report (its provenance line names `command`); returns its folder."""
    if cfg.split not in ("train", "val", "test"):
        raise ValueError(f"split={cfg.split}: choose train, val or test")
    runs = [cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs)
    if not runs:
        raise ValueError("runs=[]: give at least one sweep or run folder")
    out = compare(
        [Path(r).expanduser() for r in runs],
        Path(cfg.out).expanduser() if cfg.out else None,
        cfg.split,
        int(cfg.bootstrap),
        int(cfg.images),
        Path(cfg.grid_root).expanduser() if cfg.grid_root else None,
        command,
    )
    print(f"report: {out / 'report.md'}  (and report.html, curves.png, grid.png)")
    return out


@command("compare")
def main(cfg: DictConfig) -> None:
    run_compare(cfg, " ".join(["python -m colorlab.compare", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
