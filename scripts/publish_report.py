"""Put a comparison report (from `colorlab.compare`) on the documentation site, as it was written.

    python scripts/publish_report.py outputs/multirun/demo-<stamp>/report --name demo

Writes `docs/<name>_report.md` (the report's provenance line, what it evaluated and its table),
`docs/<name>_curves.png` and `docs/<name>_grid.jpg` (downscaled); a page includes the table with
`--8<-- "docs/<name>_report.md"`, so its numbers are the report's own. The report names the photos'
folder on the machine that wrote it; the published copy names it by `--data-name` instead, or, for a
folder inside the project, by its path in the project. What it copies is escaped (colorlab.evaluation.page_text):
HTML and snippet lines from a report are shown as text, never included.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from PIL import Image

from colorlab.evaluation.page_text import checked_name, escape_line

PROJECT = Path(__file__).resolve().parents[1]
DOCS = PROJECT / "docs"
DATA_ROOT = re.compile(r"^(Evaluated on the \*\*\w+\*\* split of )`([^`]*)`")


def public_data_root(line: str, data_name: str | None) -> str:
    """The report's "Evaluated on ..." line with the photos' folder named for readers of the site."""

    def name(match: re.Match) -> str:
        root = Path(match[2])
        if data_name:
            return f"{match[1]}{data_name}"
        if root.is_absolute() and root.resolve().is_relative_to(PROJECT):
            return f"{match[1]}`{root.resolve().relative_to(PROJECT)}`"
        return f"{match[1]}`{root.name}`"

    return DATA_ROOT.sub(name, line)


def report_body(report: str, data_name: str | None = None) -> str:
    """The report without its title and picture lines (the page shows the pictures itself)."""
    lines = [public_data_root(line, data_name) for line in report.splitlines()[1:] if not line.startswith("![")]
    return "\n".join(escape_line(line) for line in lines).strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report folder: report.md, curves.png, grid.png")
    parser.add_argument("--name", required=True, help="the docs files' prefix, e.g. demo")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder (default: the project's)")
    parser.add_argument("--width", type=int, default=900, help="the grid picture's width in pixels")
    parser.add_argument("--data-name", help="how the page names the evaluated photos, e.g. 'the Kaggle cat photos'")
    args = parser.parse_args()
    needed = [args.report / name for name in ("report.md", "curves.png", "grid.png")]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        parser.error(f"not a comparison report: {', '.join(missing)} missing")
    try:
        checked_name(args.name)
    except ValueError as err:
        parser.error(str(err))
    (args.docs / f"{args.name}_report.md").write_text(report_body(needed[0].read_text(), args.data_name))
    shutil.copyfile(needed[1], args.docs / f"{args.name}_curves.png")
    grid = Image.open(needed[2]).convert("RGB")
    grid.thumbnail((args.width, args.width * 4))
    grid.save(args.docs / f"{args.name}_grid.jpg", quality=88)
    print(f"wrote {args.docs}/{args.name}_report.md, _curves.png, _grid.jpg")


if __name__ == "__main__":
    main()
