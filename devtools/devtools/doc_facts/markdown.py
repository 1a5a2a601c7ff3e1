"""Pure: a Markdown (GFM) table, each cell on one line with its pipes escaped."""

from __future__ import annotations

from collections.abc import Sequence


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def code(text: str) -> str:
    """`text` as a code span (placeholders such as <name> are not read as HTML), backticks inside kept."""
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under {len(header)} columns: {row}")
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)


SPECIAL = str.maketrans({"<": "&lt;", ">": "&gt;", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]"})


def text(plain: str) -> str:
    """A terminal's help line as Markdown: its `code spans` kept, elsewhere <, >, *, _ and brackets
    shown as written (not read as HTML, emphasis or links)."""
    parts = plain.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code span at all
        return plain.translate(SPECIAL)
    return "`".join(p if i % 2 else p.translate(SPECIAL) for i, p in enumerate(parts))
