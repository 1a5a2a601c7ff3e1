"""The little of ISO BMFF (fragmented MP4) the workers touch: the recorder cuts a part that ends
inside a box back to what reads. (HEVC is written as `hvc1` by the workers' FFmpeg itself:
hack/ffmpeg/patches/hevc-hvc1.patch.)"""

from __future__ import annotations

import struct
from pathlib import Path


def readable_length(path: Path) -> int:
    """How much of a fragmented MP4 cut short (a full disk, a kill) FFmpeg can read: through its last
    complete fragment, or through a trailing partial `mdat` (its samples read back up to the cut).
    FFmpeg 5.1's mov demuxer rejects the whole file ("error reading header: Invalid data found") when
    it ends inside a `moof` (measured here: a 1 s-fragment part cut 40–500 bytes into its third moof
    read as nothing; cut inside an mdat it read back to the cut). A `moof` whose `mdat` never came
    goes too: it describes samples that are not there."""
    with path.open("rb") as f:
        end = f.seek(0, 2)
        pos, fragment_at = 0, None  # fragment_at: where a moof still waiting for its mdat starts
        while pos < end:
            f.seek(pos)
            header = f.read(16)
            size, kind = struct.unpack_from(">I4s", header) if len(header) >= 8 else (8, b"")
            if size == 1 and len(header) == 16:  # a 64-bit size follows the type
                size = struct.unpack_from(">Q", header, 8)[0]
            elif size == 0:  # the box runs to the end of the file
                size = end - pos
            if len(header) < 8 or size < 8 or (pos + size > end and kind != b"mdat"):
                break  # cut (or malformed) here: nothing from here on reads
            if pos + size > end:
                return end  # a partial mdat: its samples read back up to the cut
            fragment_at = pos if kind == b"moof" else None
            pos += size
        return pos if fragment_at is None else fragment_at
