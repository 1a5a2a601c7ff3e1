"""A non-negative integer written in untrusted text: ASCII digits only. str.isdigit() also takes
"²" (one latin-1 byte on the wire; int() raises on it) and "３" (int() reads it as 3)."""

from __future__ import annotations


def decimal(text: str) -> int | None:
    """The number `text` spells in ASCII digits, else None."""
    return int(text) if text.isascii() and text.isdigit() else None
