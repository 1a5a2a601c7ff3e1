"""Pure: the marked blocks of a Markdown text and their rewriting. A block is an opening marker line
`<!-- generated:NAME -->`, a body, and a closing marker line `<!-- /generated:NAME -->`; the body is
the renderer's output between two blank lines (so that a table or a code fence after an HTML comment
renders as one, whatever the Markdown flavour)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

OPENING = re.compile(r"<!-- generated:([a-z0-9-]+) -->")
CLOSING = re.compile(r"<!-- /generated:([a-z0-9-]+) -->")


class BlockError(ValueError):
    """A marker without its partner, or blocks nested: said with the line number."""


@dataclass(frozen=True)
class Block:
    name: str
    opening: int  # index of the opening marker's line
    closing: int  # index of the closing marker's line


def opening_marker(name: str) -> str:
    return f"<!-- generated:{name} -->"


def closing_marker(name: str) -> str:
    return f"<!-- /generated:{name} -->"


def find_blocks(text: str) -> list[Block]:
    found: list[Block] = []
    open_name: str | None = None
    open_line = 0
    for i, line in enumerate(text.split("\n")):
        if m := OPENING.fullmatch(line.strip()):
            if open_name is not None:
                raise BlockError(
                    f"line {i + 1}: {m.group(0)} inside the block {open_name} opened at line {open_line + 1}"
                )
            open_name, open_line = m.group(1), i
        elif m := CLOSING.fullmatch(line.strip()):
            if open_name is None or m.group(1) != open_name:
                raise BlockError(f"line {i + 1}: {m.group(0)} closes no block opened before it")
            found.append(Block(open_name, open_line, i))
            open_name = None
    if open_name is not None:
        raise BlockError(
            f"line {open_line + 1}: {opening_marker(open_name)} is never closed by {closing_marker(open_name)}"
        )
    return found


def body_lines(rendered: str) -> list[str]:
    return ["", *rendered.strip("\n").split("\n"), ""]


def rewritten(text: str, render: Callable[[str], str]) -> str:
    """`text` with every block's body replaced by `render(name)`; the rest byte for byte."""
    lines = text.split("\n")
    for block in reversed(find_blocks(text)):  # from the end: earlier indexes stay valid
        lines[block.opening + 1 : block.closing] = body_lines(render(block.name))
    return "\n".join(lines)
