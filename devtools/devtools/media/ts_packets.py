"""MPEG-TS packets built by hand for the unit tests of the parser (media/mpegts.py) and of what runs on
it (media/ingest/feed.py): PAT, PMT, video and audio packets, PES headers with a PTS."""

from __future__ import annotations

import struct

from streamops.media import mpegts

PMT_A, PMT_B, VIDEO, AUDIO = 0x1000, 0x1001, 0x100, 0x101
H264, HEVC, AAC, PRIVATE = 0x1B, 0x24, 0x0F, 0x06


def packet(pid: int, payload: bytes, *, start: bool = True, adaptation: bytes | None = None) -> bytes:
    """One 188-byte packet; `adaptation` is the adaptation field's body (flags first)."""
    control = 0x10 | (0x20 if adaptation is not None else 0)
    head = struct.pack(">BHB", mpegts.SYNC, (0x4000 if start else 0) | pid, control)
    if adaptation is not None:
        head += bytes([len(adaptation)]) + adaptation
    return (head + payload).ljust(mpegts.TS_PACKET, b"\xff")


def psi(pid: int, table_id: int, body: bytes, *, pointer: bytes = b"", adaptation: bytes | None = None) -> bytes:
    section = struct.pack(">BH", table_id, 0xB000 | (len(body) + 4)) + body + b"\x00\x00\x00\x00"  # CRC unread
    return packet(pid, bytes([len(pointer)]) + pointer + section, adaptation=adaptation)


def pat_of(*programs: tuple[int, int]) -> bytes:
    body = struct.pack(">HBBB", 1, 0xC1, 0, 0)
    for number, pid in programs:
        body += struct.pack(">HH", number, 0xE000 | pid)
    return psi(mpegts.PAT_PID, mpegts.PAT_TABLE_ID, body)


def pmt_of(
    pid: int, *streams: tuple[int, int] | tuple[int, int, bytes], program_info: bytes = b"", es_info: bytes = b""
) -> bytes:
    """A PMT packet; a stream's third item is its own descriptor loop (else `es_info`)."""
    body = struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 0xE000 | VIDEO, 0xF000 | len(program_info)) + program_info
    for stream_type, es_pid, *own in streams:
        info = own[0] if own else es_info
        body += struct.pack(">BHH", stream_type, 0xE000 | es_pid, 0xF000 | len(info)) + info
    return psi(pid, mpegts.PMT_TABLE_ID, body)


def video(*, keyframe: bool, start: bool = True, fill: bytes = b"\x00") -> bytes:
    adaptation = b"\x40" if keyframe else None  # random_access_indicator
    return packet(VIDEO, fill * 8, start=start, adaptation=adaptation)


def pes(pts: int | None) -> bytes:
    """A PES header (stream 0xE0) with `pts` (90 kHz), or without one."""
    if pts is None:
        return b"\x00\x00\x01\xe0\x00\x00\x80\x00\x00"
    b = bytes(
        [
            0x21 | ((pts >> 29) & 0x0E),
            (pts >> 22) & 0xFF,
            0x01 | ((pts >> 14) & 0xFE),
            (pts >> 7) & 0xFF,
            0x01 | ((pts << 1) & 0xFE),
        ]
    )
    return b"\x00\x00\x01\xe0\x00\x00\x80\x80\x05" + b


def keyframe_at(pts: int | None) -> bytes:
    return packet(VIDEO, pes(pts), adaptation=b"\x40")
