"""Fragmented MP4 built by hand for the unit tests of what reads FFmpeg's fMP4 output as it streams
(media/ingest/llhls: fragments.py, packager.py): an init segment (ftyp + moov with a video and an
audio track) and moof + mdat fragments with their decode time, sample durations and first sample's
sync flag. Only the fields those readers look at are filled in; the rest is zeros."""

from __future__ import annotations

import struct

VIDEO_TRACK, AUDIO_TRACK = 1, 2
VIDEO_TIMESCALE, AUDIO_TIMESCALE = 90_000, 48_000
NON_SYNC = 0x00010000  # sample_is_non_sync_sample


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, bytes([version]) + flags.to_bytes(3, "big"), *payload)


def trak(track_id: int, handler: bytes, timescale: int) -> bytes:
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">III", 0, 0, track_id), bytes(72))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">III", 0, 0, timescale), bytes(8))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I4s", 0, handler), bytes(13))
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr))


def init_segment(audio: bool = True, trex_duration: int = 0) -> bytes:
    """ftyp + moov: video track 1 (90 kHz) and, with `audio`, audio track 2 (48 kHz); the video's
    trex gives `trex_duration` as its default sample duration."""
    tracks = [trak(VIDEO_TRACK, b"vide", VIDEO_TIMESCALE)]
    trex = [full_box(b"trex", 0, 0, struct.pack(">IIIII", VIDEO_TRACK, 1, trex_duration, 0, 0))]
    if audio:
        tracks.append(trak(AUDIO_TRACK, b"soun", AUDIO_TIMESCALE))
        trex.append(full_box(b"trex", 0, 0, struct.pack(">IIIII", AUDIO_TRACK, 1, 1024, 0, 0)))
    ftyp = box(b"ftyp", b"iso5", bytes(4), b"iso5dash")
    return ftyp + box(b"moov", full_box(b"mvhd", 0, 0, bytes(96)), *tracks, box(b"mvex", *trex))


def traf(track_id: int, decode_time: int, durations: list[int], keyframe: bool) -> bytes:
    """A track fragment: its decode time (tfdt, 64 bits), one sample per duration (trun, durations
    per sample) and the first sample's flags (sync or not)."""
    tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", track_id))
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    first_flags = 0 if keyframe else NON_SYNC
    samples = b"".join(struct.pack(">I", d) for d in durations)
    trun = full_box(b"trun", 0, 0x001 | 0x004 | 0x100, struct.pack(">IiI", len(durations), 0, first_flags), samples)
    return box(b"traf", tfhd, tfdt, trun)


def fragment(decode_time: int, durations: list[int], keyframe: bool = True, audio_time: int | None = None) -> bytes:
    """moof + mdat of the video track (and the audio track's from `audio_time`, listed first, as a
    muxer may)."""
    trafs = [traf(VIDEO_TRACK, decode_time, durations, keyframe)]
    if audio_time is not None:
        trafs.insert(0, traf(AUDIO_TRACK, audio_time, [1024, 1024], keyframe=False))
    moof = box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", 1)), *trafs)
    return moof + box(b"mdat", bytes(16))


def video_seconds(seconds: float, samples: int = 3) -> list[int]:
    """`samples` sample durations lasting `seconds` at the video timescale."""
    each = round(seconds * VIDEO_TIMESCALE / samples)
    return [each] * samples
