"""Reading FFmpeg's fragmented MP4 as it streams out of a pipe: the init segment (ftyp + moov), then
one moof + mdat pair per fragment with its start, duration and whether it starts on a keyframe
(what LL-HLS calls an independent part). Only the boxes on the way to those facts are parsed.
What FFmpeg's mp4 muxer cuts, and when: docs/design/low-latency.md ("LL-HLS packaging").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_NON_SYNC = 0x00010000  # sample_is_non_sync_sample in ISO/IEC 14496-12 sample flags


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, offset of the payload, end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    found = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        if size < header or pos + size > end:
            break
        found.append((bytes(kind), pos + header, pos + size))
        pos += size
    return found


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    return None


@dataclass(frozen=True)
class Track:
    kind: str  # "video", "audio" or another handler type
    timescale: int
    default_duration: int = 0
    default_flags: int = 0


@dataclass(frozen=True)
class InitSegment:
    """ftyp + moov: the tracks (by track ID) the fragments refer to."""

    data: bytes
    tracks: dict[int, Track]

    @classmethod
    def parse(cls, data: bytes) -> InitSegment:
        moov = _child(data, 0, len(data), b"moov")
        if moov is None:
            raise ValueError("no moov box in the init segment")
        trex: dict[int, tuple[int, int]] = {}
        mvex = _child(data, *moov, b"mvex")
        if mvex is not None:
            for kind, s, _ in _boxes(data, *mvex):
                if kind == b"trex":
                    track_id, _, duration, _, flags = struct.unpack_from(">IIIII", data, s + 4)
                    trex[track_id] = (duration, flags)
        tracks: dict[int, Track] = {}
        for kind, s, e in _boxes(data, *moov):
            if kind != b"trak":
                continue
            tkhd = _child(data, s, e, b"tkhd")
            mdia = _child(data, s, e, b"mdia")
            if tkhd is None or mdia is None:
                continue
            version = data[tkhd[0]]
            track_id = struct.unpack_from(">I", data, tkhd[0] + (20 if version == 1 else 12))[0]
            mdhd = _child(data, *mdia, b"mdhd")
            hdlr = _child(data, *mdia, b"hdlr")
            if mdhd is None or hdlr is None:
                continue
            timescale = struct.unpack_from(">I", data, mdhd[0] + (20 if data[mdhd[0]] == 1 else 12))[0]
            handler = data[hdlr[0] + 8 : hdlr[0] + 12]
            name = {b"vide": "video", b"soun": "audio"}.get(handler, handler.decode(errors="replace"))
            duration, flags = trex.get(track_id, (0, 0))
            tracks[track_id] = Track(name, timescale or 1, duration, flags)
        if not tracks:
            raise ValueError("no track in the init segment")
        return cls(data, tracks)


@dataclass(frozen=True)
class Fragment:
    """One moof + mdat: when it starts and how long it lasts (seconds, of its video track when it
    has one), and whether it starts on a keyframe (audio-only fragments always do)."""

    data: bytes
    start: float
    duration: float
    independent: bool

    @classmethod
    def parse(cls, data: bytes, init: InitSegment) -> Fragment:
        moof = _child(data, 0, len(data), b"moof")
        if moof is None:
            raise ValueError("fragment without moof")
        timings: dict[str, _Timing] = {}
        for kind, s, e in _boxes(data, *moof):
            if kind == b"traf":
                track, timing = _traf_timing(data, s, e, init)
                if track is not None:
                    timings.setdefault(track.kind, timing)
        found = timings.get("video") or next(iter(timings.values()), None)
        if found is None:
            raise ValueError("fragment of no known track")
        start, duration, independent = found
        return cls(data, start, duration, independent)


_Timing = tuple[float, float, bool]  # start, duration (s), starts on a keyframe


def _traf_timing(data: bytes, start: int, end: int, init: InitSegment) -> tuple[Track | None, _Timing]:  # noqa: C901 (listed in ruff.toml: split it when next changed)
    tfhd = _child(data, start, end, b"tfhd")
    if tfhd is None:
        return None, (0.0, 0.0, False)
    flags = int.from_bytes(data[tfhd[0] + 1 : tfhd[0] + 4], "big")
    track_id = struct.unpack_from(">I", data, tfhd[0] + 4)[0]
    track = init.tracks.get(track_id)
    if track is None:
        return None, (0.0, 0.0, False)
    pos = tfhd[0] + 8
    if flags & 0x01:
        pos += 8  # base_data_offset
    if flags & 0x02:
        pos += 4  # sample_description_index
    default_duration, default_flags = track.default_duration, track.default_flags
    if flags & 0x08:
        default_duration = struct.unpack_from(">I", data, pos)[0]
        pos += 4
    if flags & 0x10:
        pos += 4  # default_sample_size
    if flags & 0x20:
        default_flags = struct.unpack_from(">I", data, pos)[0]
    decode_time = 0
    if (tfdt := _child(data, start, end, b"tfdt")) is not None:
        version = data[tfdt[0]]
        decode_time = struct.unpack_from(">Q" if version == 1 else ">I", data, tfdt[0] + 4)[0]
    total, first_flags = 0, None
    for kind, s, _ in _boxes(data, start, end):
        if kind != b"trun":
            continue
        run_flags = int.from_bytes(data[s + 1 : s + 4], "big")
        count = struct.unpack_from(">I", data, s + 4)[0]
        pos = s + 8
        if run_flags & 0x001:
            pos += 4  # data_offset
        run_first_flags = None
        if run_flags & 0x004:
            run_first_flags = struct.unpack_from(">I", data, pos)[0]
            pos += 4
        per_sample = [(run_flags & bit) != 0 for bit in (0x100, 0x200, 0x400, 0x800)]
        stride = 4 * sum(per_sample)
        for i in range(count):
            at = pos + i * stride
            duration = struct.unpack_from(">I", data, at)[0] if per_sample[0] else default_duration
            total += duration
            if first_flags is None:
                if run_first_flags is not None:
                    first_flags = run_first_flags
                elif per_sample[2]:
                    first_flags = struct.unpack_from(">I", data, at + 4 * sum(per_sample[:2]))[0]
                else:
                    first_flags = default_flags
    independent = track.kind != "video" or (first_flags is not None and not first_flags & _NON_SYNC)
    return track, (decode_time / track.timescale, total / track.timescale, independent)


@dataclass
class FragmentedStream:
    """Splits bytes as they arrive into the init segment and whole fragments (`feed` returns what
    became complete)."""

    buffer: bytearray = field(default_factory=bytearray)
    init: InitSegment | None = None
    _head: bytes = b""  # ftyp (and anything else) before the moov

    def feed(self, chunk: bytes) -> list[InitSegment | Fragment]:
        self.buffer += chunk
        out: list[InitSegment | Fragment] = []
        pending_moof: int | None = None
        pos = 0
        while True:
            if len(self.buffer) - pos < 8:
                break
            size, kind = struct.unpack_from(">I4s", self.buffer, pos)
            if size == 1:
                if len(self.buffer) - pos < 16:
                    break
                size = struct.unpack_from(">Q", self.buffer, pos + 8)[0]
            if size < 8:
                raise ValueError(f"malformed box {kind!r} of size {size}")
            if len(self.buffer) - pos < size:
                break
            box = bytes(self.buffer[pos : pos + size])
            if kind == b"moov":
                self.init = InitSegment.parse(self._head + box)
                self._head = b""
                out.append(self.init)
            elif kind == b"moof":
                pending_moof = pos
            elif kind == b"mdat" and pending_moof is not None and self.init is not None:
                out.append(Fragment.parse(bytes(self.buffer[pending_moof : pos + size]), self.init))
                pending_moof = None
            elif self.init is None and kind in (b"ftyp", b"styp", b"free"):
                self._head += box
            pos += size
            if pending_moof is None:
                del self.buffer[:pos]
                pos = 0
        return out


def fragments_of(segment: bytes) -> list[bytes]:
    """The moof + mdat pairs of a segment file the packager wrote (its parts' bytes, in order): a
    handover's successor answers a part of a segment it mirrored with these (continuity.py)."""
    found: list[bytes] = []
    moof: int | None = None
    start = 0  # top-level boxes follow one another: each starts where the one before ended
    for kind, _, end in _boxes(segment):
        if kind == b"moof":
            moof = start
        elif kind == b"mdat" and moof is not None:
            found.append(segment[moof:end])
            moof = None
        start = end
    return found
