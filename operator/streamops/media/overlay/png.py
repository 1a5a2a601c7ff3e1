"""Writing an overlay's PNG where the ingest's FFmpeg reads it: atomically (a temporary file renamed
over the old one), so FFmpeg's image2 input, which opens the file again for every frame, reads
either the old picture or the new one, never half of one."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path


def transparent_png(width: int, height: int) -> bytes:
    """A fully transparent RGBA PNG (what an overlay shows while its page is not rendered)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    rows = (b"\x00" + b"\x00" * 4 * width) * height  # filter byte 0 per row
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` by renaming a temporary file of the same directory over it."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as f:
        f.write(data)
    os.replace(temporary, path)
