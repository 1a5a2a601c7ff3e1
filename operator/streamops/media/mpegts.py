"""The little of MPEG-TS (ISO 13818-1) the workers read: packet header fields, PSI sections, the
PAT's PMT PIDs, the PMT's elementary streams and the codec of its video, the random_access_indicator
FFmpeg sets on video keyframes and the PTS of a PES. One parser, for the feed's GOP cache (on every
packet of the live feed: the per-packet readers take a packet as it is, a memoryview slice included,
and allocate nothing), the pusher's look at the feed's tracks and the benchmarks' frame clock.

Sections are assumed to fit one packet, as every muxer writes them for a handful of streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, TypeAlias

TS_PACKET = 188
SYNC = 0x47
PAT_PID = 0x0000
PAT_TABLE_ID = 0x00
PMT_TABLE_ID = 0x02

# stream_type values (ISO 13818-1, ATSC A/52).
VIDEO_STREAM_TYPES = frozenset({0x01, 0x02, 0x1B, 0x24, 0x27})  # MPEG-1/2, H.264, HEVC
# 0x06 (PES private data) may be Opus/AC-3 with a descriptor, so it counts as audio (a silent
# track added in its place would drop it).
AUDIO_STREAM_TYPES = frozenset({0x03, 0x04, 0x06, 0x0F, 0x11, 0x1C, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87})

# Video codecs by the names the workers give them (the ingest's status.videoCodec, a Restream's
# targetVideoCodecs).
VIDEO_CODECS = {0x1B: "h264", 0x24: "hevc"}
# AV1 has no stream_type of its own: it is PES private data (0x06) labelled by a registration
# descriptor (tag 0x05), `SAV1` in the workers' own feed (hack/ffmpeg/patches/mpegts-av1-feed.patch)
# or AOM's `AV01` ("Carriage of AV1 in MPEG-2 TS"). Both are AV1; only the first is what FFmpeg writes.
PRIVATE_DATA = 0x06
REGISTRATION_DESCRIPTOR = 0x05
AV1_REGISTRATIONS = frozenset({b"SAV1", b"AV01"})

_MIN_SECTION = 12  # table header up to the PMT's program_info_length

Packet: TypeAlias = bytes | bytearray | memoryview


class ElementaryStream(NamedTuple):
    stream_type: int
    pid: int


# --- packet header (per packet: no allocation) ----------------------------------------------------


def packet_pid(packet: Packet) -> int:
    return ((packet[1] & 0x1F) << 8) | packet[2]


def payload_start(packet: Packet) -> bool:
    """payload_unit_start_indicator: a PES or a PSI section starts in this packet."""
    return bool(packet[1] & 0x40)


def random_access(packet: Packet) -> bool:
    """The adaptation field's random_access_indicator (FFmpeg sets it on video keyframes)."""
    has_adaptation = packet[3] & 0x20
    return bool(has_adaptation and packet[4] > 0 and packet[5] & 0x40)


def payload_offset(packet: Packet) -> int:
    """Where the payload starts: after the header and the adaptation field, if any."""
    return 4 + (1 + packet[4] if packet[3] & 0x20 else 0)


def payload(packet: bytes) -> bytes:
    """The payload (PES or PSI bytes) of one packet; empty when it carries none."""
    return packet[payload_offset(packet) :] if packet[3] & 0x10 else b""


PTS_CLOCK = 90_000  # PES timestamps count 90 kHz ticks
PTS_WRAP = 1 << 33


def pes_pts(packet: Packet) -> int | None:
    """The PTS of the PES that starts in this packet (90 kHz ticks), None when it starts none or
    carries no PTS."""
    if not packet[1] & 0x40 or not packet[3] & 0x10:
        return None
    i = payload_offset(packet)
    if i + 14 > len(packet) or packet[i] != 0 or packet[i + 1] != 0 or packet[i + 2] != 1 or not packet[i + 7] & 0x80:
        return None
    b0, b1, b2, b3, b4 = packet[i + 9 : i + 14]
    return ((b0 & 0x0E) << 29) | (b1 << 22) | ((b2 & 0xFE) << 14) | (b3 << 7) | (b4 >> 1)


# --- PSI ----------------------------------------------------------------------------------------------


def psi_section(packet: Packet, table_id: int) -> memoryview | None:
    """The section of table `table_id` that starts in this packet (after the pointer field), or None
    when the packet starts no such section."""
    if len(packet) < TS_PACKET or packet[0] != SYNC or not packet[1] & 0x40 or not packet[3] & 0x10:
        return None
    offset = payload_offset(packet)
    if offset >= TS_PACKET:
        return None
    start = offset + 1 + packet[offset]  # the pointer field
    if start >= TS_PACKET:
        return None
    section = memoryview(packet)[start:]
    if len(section) < _MIN_SECTION or section[0] != table_id:
        return None
    return section


def _section_end(section: memoryview) -> int:
    """The end of the section's loop: its length minus the CRC, within the packet."""
    return min(3 + (((section[1] & 0x0F) << 8) | section[2]) - 4, len(section))


def pmt_pids(pat_packet: Packet) -> list[int]:
    """The PMT PID of every program in a PAT packet, in order (program 0, the network PID, left out);
    empty when the packet starts no PAT."""
    section = psi_section(pat_packet, PAT_TABLE_ID)
    if section is None:
        return []
    pids = []
    for i in range(8, _section_end(section) - 3, 4):
        if (section[i] << 8) | section[i + 1]:
            pids.append(((section[i + 2] & 0x1F) << 8) | section[i + 3])
    return pids


def _es_entries(section: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(stream_type, PID, ES_info descriptors) of every entry of a PMT section's stream loop."""
    end = _section_end(section)
    i = 12 + (((section[10] & 0x0F) << 8) | section[11])  # after the program descriptors
    while i + 5 <= end:
        info_end = i + 5 + (((section[i + 3] & 0x0F) << 8) | section[i + 4])
        yield section[i], ((section[i + 1] & 0x1F) << 8) | section[i + 2], section[i + 5 : min(info_end, end)]
        i = info_end


def elementary_streams(pmt_packet: Packet) -> list[ElementaryStream] | None:
    """(stream_type, PID) of every elementary stream in a PMT packet, in order; None when the packet
    starts no PMT."""
    section = psi_section(pmt_packet, PMT_TABLE_ID)
    if section is None:
        return None
    return [ElementaryStream(stream_type, pid) for stream_type, pid, _ in _es_entries(section)]


def registrations(descriptors: memoryview) -> Iterator[bytes]:
    """The format_identifier of every whole registration descriptor in a descriptor loop."""
    i = 0
    while i + 2 <= len(descriptors):
        tag, length = descriptors[i], descriptors[i + 1]
        if tag == REGISTRATION_DESCRIPTOR and length >= 4 and i + 2 + length <= len(descriptors):
            yield bytes(descriptors[i + 2 : i + 6])
        i += 2 + length


def stream_video_codec(stream_type: int, descriptors: memoryview) -> str | None:
    """The video codec an elementary stream carries, by its stream_type and, for PES private data,
    its registration descriptor; None for anything else (audio, data, a video codec not named here)."""
    if stream_type == PRIVATE_DATA:
        return "av1" if any(r in AV1_REGISTRATIONS for r in registrations(descriptors)) else None
    return VIDEO_CODECS.get(stream_type)


def video_codec(pmt_packet: Packet) -> str | None:
    """The codec of the first video stream of a PMT packet that names one (h264, hevc, av1); None
    when the packet starts no PMT or its video, if any, is another codec."""
    section = psi_section(pmt_packet, PMT_TABLE_ID)
    for stream_type, _, descriptors in _es_entries(section) if section is not None else ():
        if (codec := stream_video_codec(stream_type, descriptors)) is not None:
            return codec
    return None


def stream_roles(pmt_packet: Packet) -> tuple[int | None, frozenset[int]] | None:
    """(the PID of the first video stream, the PIDs of the streams that may be audio) of a PMT
    packet; None when it starts no PMT. Video is a video stream_type or PES private data whose
    registration names a video codec (AV1 in the workers' feed: `SAV1`); other private data may be
    audio (Opus, AC-3)."""
    section = psi_section(pmt_packet, PMT_TABLE_ID)
    if section is None:
        return None
    video: int | None = None
    audio: set[int] = set()
    for stream_type, pid, descriptors in _es_entries(section):
        is_video = stream_type in VIDEO_STREAM_TYPES or stream_video_codec(stream_type, descriptors) is not None
        if is_video and video is None:
            video = pid
        elif not is_video and stream_type in AUDIO_STREAM_TYPES:
            audio.add(pid)
    return video, frozenset(audio)


def video_pid(pmt_packet: Packet) -> int | None:
    """The PID of the first video stream in a PMT packet (AV1 included: `stream_roles`)."""
    roles = stream_roles(pmt_packet)
    return roles[0] if roles is not None else None


# --- a byte stream ------------------------------------------------------------------------------------


def program_map(data: bytes) -> bytes | None:
    """The PMT packet of the first program of an MPEG-TS byte stream (from the first sync byte on),
    from its PAT and then its PMT; None until both have been seen."""
    pmt_pid: int | None = None
    start = data.find(SYNC)
    for offset in range(max(start, 0), len(data) - TS_PACKET + 1, TS_PACKET):
        packet = data[offset : offset + TS_PACKET]
        pid = packet_pid(packet)
        if pid == PAT_PID:
            if pids := pmt_pids(packet):
                pmt_pid = pids[0]
        elif pid == pmt_pid and psi_section(packet, PMT_TABLE_ID) is not None:
            return packet
    return None


def program_streams(data: bytes) -> list[ElementaryStream] | None:
    """The elementary streams of the first program of an MPEG-TS byte stream (see `program_map`)."""
    pmt = program_map(data)
    return None if pmt is None else elementary_streams(pmt)


def program_stream_types(data: bytes) -> list[int] | None:
    """The stream_type of every elementary stream of the first program (see `program_streams`)."""
    streams = program_streams(data)
    return None if streams is None else [stream.stream_type for stream in streams]
