"""The library's shape, checked on its source: short functions, Lightning's public API only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "colorlab"
MAX_LINES = 60


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_function_is_longer_than_sixty_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in functions(path):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_LINES:
                long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, "\n".join(long)


# A private attribute of a Lightning object: `self._trainer`, `trainer._x`, `super()._x` in a Lightning subclass.
PRIVATE = re.compile(
    r"\b(?:trainer|_trainer|pl_module|super\(\))\._[a-z]\w*|\bself\._(?:trainer|experiment|fs)\b"
    r"|def _(?:save_last_checkpoint|should_save_on_train_epoch_end|monitor_candidates|check_log_dir_exists)\b"
)


def test_no_private_lightning_attribute_is_used():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if PRIVATE.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
