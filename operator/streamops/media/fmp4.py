"""The little of ISO BMFF (fragmented MP4) the workers touch: the ingest rewrites an HEVC init
segment's `hev1` sample entry as `hvc1` as it is served (same length in and out, media segments
untouched); the recorder cuts a part that ends inside a box back to what reads. Why `hvc1` (Apple's
players) and why at serving time: docs/design/ingest-robustness.md."""

from __future__ import annotations

import struct
from pathlib import Path

# Boxes on the way from the file to the sample entries, and where their children start (after the
# 8-byte header, plus the fields a full box or a sample description carries first).
_CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"stsd": 8}
_VISUAL_SAMPLE_ENTRY_FIELDS = 78  # SampleEntry (8) + VisualSampleEntry (70): then its boxes (hvcC)
_HVCC_ARRAYS_AT = 22  # hvcC: the fixed fields, then numOfArrays
_PARAMETER_SET_TYPES = {32, 33, 34}  # VPS, SPS, PPS


def _boxes(data: bytearray, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes in data[start:end]; stops at anything malformed."""
    found = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > end:
            break  # 0 (to the end) and 1 (64-bit sizes) never occur in an init segment's moov
        found.append((bytes(kind), pos, size))
        pos += size
    return found


def _complete_arrays(data: bytearray, hvcc: int, size: int) -> None:
    """Set array_completeness on the parameter set arrays of the hvcC box at `hvcc`."""
    pos, end = hvcc + 8 + _HVCC_ARRAYS_AT, hvcc + size
    if pos >= end:
        return
    arrays, pos = data[pos], pos + 1
    for _ in range(arrays):
        if pos + 3 > end:
            return
        if data[pos] & 0x3F in _PARAMETER_SET_TYPES:
            data[pos] |= 0x80
        count = struct.unpack_from(">H", data, pos + 1)[0]
        pos += 3
        for _ in range(count):
            if pos + 2 > end:
                return
            pos += 2 + struct.unpack_from(">H", data, pos)[0]


def _rewrite(data: bytearray, start: int, end: int) -> bool:
    changed = False
    for kind, offset, size in _boxes(data, start, end):
        if kind in _CONTAINERS:
            changed |= _rewrite(data, offset + 8 + _CONTAINERS[kind], offset + size)
        elif kind == b"hev1":
            data[offset + 4 : offset + 8] = b"hvc1"
            changed = True
            for child, at, child_size in _boxes(data, offset + 8 + _VISUAL_SAMPLE_ENTRY_FIELDS, offset + size):
                if child == b"hvcC":
                    _complete_arrays(data, at, child_size)
    return changed


def hvc1_init_segment(init: bytes) -> bytes:
    """The init segment with every `hev1` sample entry made `hvc1`; anything else as it is."""
    if b"hev1" not in init:
        return init  # H.264 and the rest: nothing to do, no copy
    data = bytearray(init)
    return bytes(data) if _rewrite(data, 0, len(data)) else init


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
