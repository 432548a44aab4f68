"""Put a comparison report (from `colorlab.compare`) on the documentation site, as it was written.

    python scripts/publish_report.py outputs/multirun/demo-<stamp>/report --name demo

Writes `docs/<name>_report.md` (the report's provenance line, what it evaluated and its table),
`docs/<name>_curves.png` and `docs/<name>_grid.jpg` (downscaled); a page includes the table with
`--8<-- "docs/<name>_report.md"`, so its numbers are the report's own.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image

DOCS = Path(__file__).resolve().parents[1] / "docs"


def report_body(report: str) -> str:
    """The report without its title and picture lines (the page shows the pictures itself)."""
    lines = [line for line in report.splitlines()[1:] if not line.startswith("![")]
    return "\n".join(lines).strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report folder: report.md, curves.png, grid.png")
    parser.add_argument("--name", required=True, help="the docs files' prefix, e.g. demo")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder (default: the project's)")
    parser.add_argument("--width", type=int, default=900, help="the grid picture's width in pixels")
    args = parser.parse_args()
    needed = [args.report / name for name in ("report.md", "curves.png", "grid.png")]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        parser.error(f"not a comparison report: {', '.join(missing)} missing")
    (args.docs / f"{args.name}_report.md").write_text(report_body(needed[0].read_text()))
    shutil.copyfile(needed[1], args.docs / f"{args.name}_curves.png")
    grid = Image.open(needed[2]).convert("RGB")
    grid.thumbnail((args.width, args.width * 4))
    grid.save(args.docs / f"{args.name}_grid.jpg", quality=88)
    print(f"wrote {args.docs}/{args.name}_report.md, _curves.png, _grid.jpg")


if __name__ == "__main__":
    main()
