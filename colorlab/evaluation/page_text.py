"""Text from files (run names, variants, reports) made safe to include in a generated Markdown page.

MkDocs passes raw HTML through, and its snippets extension pulls in any file a `--8<--` line names;
so `<` `>` `&` become entities (which also breaks every snippet marker), a table cell's `|` is
escaped, and a link or image opener loses its meaning. What a page includes reads as text, never as
markup, whoever wrote the file.
"""

from __future__ import annotations

import html
import re

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def escape_line(text: str) -> str:
    """One line of Markdown from a file, with its HTML and snippet markers neutralised (Markdown's own
    emphasis, code spans and tables kept)."""
    return html.escape(text, quote=False).replace("](", "]\\(")


def escape_cell(text: object) -> str:
    """A value inside a Markdown table cell: escaped, no `|`, no line break, no emphasis or code."""
    flat = " ".join(str(text).split())
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(flat, quote=False))


def checked_name(name: str, what: str = "--name") -> str:
    """A file-name prefix that stays inside its folder (letters, digits, `_ . -`; no path, no dot first)."""
    if not SAFE_NAME.match(name):
        raise ValueError(f"{what}={name!r}: use letters, digits, '_', '.' and '-' only (no path)")
    return name
