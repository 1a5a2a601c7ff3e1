"""The one MPEG-TS parser (streamops.media.mpegts); the feed's GOP cache that runs on it is
tests/unit/media/ingest/test_feed.py."""

from __future__ import annotations

import struct

from devtools.media.ts_packets import (
    AAC,
    AUDIO,
    H264,
    HEVC,
    PMT_A,
    PMT_B,
    PRIVATE,
    VIDEO,
    keyframe_at,
    packet,
    pat_of,
    pes,
    pmt_of,
    psi,
)
from streamops.media import mpegts


def test_packet_header_fields():
    p = packet(0x1ABC, b"data", adaptation=b"\x40\x00")
    assert mpegts.packet_pid(p) == 0x1ABC and mpegts.payload_start(p) and mpegts.random_access(p)
    assert mpegts.payload_offset(p) == 4 + 1 + 2 and mpegts.payload(p).startswith(b"data")
    plain = packet(VIDEO, b"data", start=False)
    assert not mpegts.payload_start(plain) and not mpegts.random_access(plain)
    assert mpegts.payload_offset(plain) == 4 and mpegts.payload(plain).startswith(b"data")
    assert not mpegts.random_access(packet(VIDEO, b"", adaptation=b""))  # an empty adaptation field
    assert not mpegts.random_access(packet(VIDEO, b"", adaptation=b"\x00"))
    no_payload = bytearray(p)
    no_payload[3] &= ~0x10
    assert mpegts.payload(bytes(no_payload)) == b""
    view = memoryview(p * 2)[mpegts.TS_PACKET :]  # what the feed hands over: a slice, not a copy
    assert mpegts.packet_pid(view) == 0x1ABC and mpegts.random_access(view)


def test_psi_section_after_pointer_field_and_adaptation_field():
    pat = psi(0, mpegts.PAT_TABLE_ID, struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 1, 0xE000 | PMT_A), pointer=b"\xaa" * 3)
    assert mpegts.pmt_pids(pat) == [PMT_A]
    stuffed = psi(0, 0, struct.pack(">HBBBHH", 1, 0xC1, 0, 0, 1, 0xE000 | PMT_B), adaptation=b"\x00" + b"\xff" * 20)
    assert mpegts.pmt_pids(stuffed) == [PMT_B]
    section = mpegts.psi_section(pat, mpegts.PAT_TABLE_ID)
    assert section is not None and section[0] == mpegts.PAT_TABLE_ID
    assert mpegts.psi_section(pat, mpegts.PMT_TABLE_ID) is None  # another table
    assert mpegts.psi_section(pat[:100], mpegts.PAT_TABLE_ID) is None  # not a whole packet
    assert mpegts.psi_section(b"\x00" + pat[1:], mpegts.PAT_TABLE_ID) is None  # no sync byte
    continuation = packet(0, pat[4:], start=False)
    assert mpegts.psi_section(continuation, mpegts.PAT_TABLE_ID) is None and mpegts.pmt_pids(continuation) == []
    past_the_end = packet(0, b"\xff" * 184)  # a pointer field that points out of the packet
    assert mpegts.psi_section(past_the_end, mpegts.PAT_TABLE_ID) is None


def test_pat_lists_every_program_but_the_network_pid():
    assert mpegts.pmt_pids(pat_of((0, 0x10), (1, PMT_A), (2, PMT_B))) == [PMT_A, PMT_B]
    assert mpegts.pmt_pids(pat_of((0, 0x10))) == []
    assert mpegts.pmt_pids(pmt_of(0, (H264, VIDEO))) == [], "a PMT on PID 0 is not a PAT"


def test_pmt_elementary_streams_skip_descriptors():
    descriptor = b"\x0a\x04eng\x00"  # ISO 639 language
    pmt = pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO), program_info=b"\x05\x04CUEI", es_info=descriptor)
    assert mpegts.elementary_streams(pmt) == [(AAC, AUDIO), (H264, VIDEO)]
    assert mpegts.elementary_streams(pmt)[1].pid == VIDEO
    assert mpegts.video_pid(pmt) == VIDEO, "the first video stream, wherever it stands"
    assert mpegts.video_pid(pmt_of(PMT_A, (HEVC, 0x200), (H264, VIDEO))) == 0x200
    assert mpegts.video_pid(pmt_of(PMT_A, (AAC, AUDIO), (PRIVATE, 0x102))) is None
    assert mpegts.elementary_streams(pat_of((1, PMT_A))) is None and mpegts.video_pid(pat_of((1, PMT_A))) is None
    assert mpegts.elementary_streams(pmt_of(PMT_A)) == []


def test_program_streams_of_a_byte_stream_are_the_first_programs():
    two = pat_of((1, PMT_A), (2, PMT_B)) + pmt_of(PMT_B, (AAC, AUDIO)) + pmt_of(PMT_A, (H264, VIDEO))
    assert mpegts.program_streams(two) == [(H264, VIDEO)]
    assert mpegts.program_stream_types(b"\x00" * 5 + two) == [H264]
    assert mpegts.program_streams(two[: 2 * mpegts.TS_PACKET]) is None
    assert {AAC, PRIVATE} <= mpegts.AUDIO_STREAM_TYPES and {H264, HEVC} <= mpegts.VIDEO_STREAM_TYPES


# The PMT packets the workers' FFmpeg 7.1 (hack/build-ffmpeg.sh, its patches) writes into the feed for
# the media tier's AV1 and HEVC publisher clips (`-c copy -f mpegts`), PAT and CRC included as written.
FFMPEG_PMT_AV1 = "47500010 00 02b01d0001c10000e100f00006e100f0060504534156310fe101f000043de213"
FFMPEG_PMT_HEVC = "47500010 00 02b01d0001c10000e100f00024e100f0060504484556430fe101f0006c37cf8a"


def ffmpeg_pmt(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text).ljust(mpegts.TS_PACKET, b"\xff")


def test_the_video_codec_of_what_the_workers_ffmpeg_writes():
    av1, hevc = ffmpeg_pmt(FFMPEG_PMT_AV1), ffmpeg_pmt(FFMPEG_PMT_HEVC)
    assert mpegts.elementary_streams(av1) == [(PRIVATE, 0x100), (AAC, 0x101)]  # AV1: private data, `SAV1`
    assert (mpegts.video_codec(av1), mpegts.video_codec(hevc)) == ("av1", "hevc")
    assert mpegts.video_codec(pmt_of(PMT_A, (AAC, AUDIO), (H264, VIDEO))) == "h264"


LANGUAGE = b"\x0a\x04und\x00"  # ISO 639 language: a descriptor before the one that counts


def test_av1_is_private_data_registered_as_sav1_or_av01_anywhere_in_its_descriptor_loop():
    def codec(*streams: tuple[int, int] | tuple[int, int, bytes], **kw: bytes) -> str | None:
        return mpegts.video_codec(pmt_of(PMT_A, *streams, **kw))

    assert codec((PRIVATE, VIDEO, LANGUAGE + b"\x05\x04SAV1")) == "av1"
    # AOM's carriage: `AV01` then its own AV1 video descriptor (tag 0x80).
    assert codec((PRIVATE, VIDEO, b"\x05\x04AV01\x80\x04\x81\x00\x0c\x00")) == "av1"
    assert codec((PRIVATE, AUDIO, b"\x05\x04Opus"), (PRIVATE, VIDEO, b"\x05\x04SAV1")) == "av1", "Opus is audio"
    assert codec((AAC, AUDIO), (PRIVATE, 0x102)) is None, "private data without a registration: not video"
    assert codec((PRIVATE, VIDEO), program_info=b"\x05\x04SAV1") is None, "a program's descriptor names no stream"
    assert codec((PRIVATE, VIDEO, b"\x05\x02SA")) is None, "a registration too short to hold an identifier"
    assert codec((PRIVATE, VIDEO, LANGUAGE + b"\x05\x08SAV1")) is None, "one that runs past its loop"
    assert codec((0x02, VIDEO), (HEVC, 0x200)) == "hevc", "the first video that names a codec (MPEG-2 does not)"
    assert codec((0x02, VIDEO)) is None and codec((AAC, AUDIO)) is None and codec() is None
    assert mpegts.video_codec(pat_of((1, PMT_A))) is None, "not a PMT"


def test_an_es_info_length_past_the_section_ends_the_loop():
    pmt = bytearray(pmt_of(PMT_A, (HEVC, VIDEO, LANGUAGE), (H264, 0x200)))
    offset = mpegts.payload_offset(pmt) + 1 + 12 + 3  # the first stream's ES_info_length
    pmt[offset : offset + 2] = b"\xf0\xff"
    assert mpegts.elementary_streams(bytes(pmt)) == [(HEVC, VIDEO)] and mpegts.video_codec(bytes(pmt)) == "hevc"


def test_program_map_is_the_first_programs_pmt_packet():
    pmt = pmt_of(PMT_A, (HEVC, VIDEO), (AAC, AUDIO))
    stream = pat_of((1, PMT_A), (2, PMT_B)) + pmt_of(PMT_B, (H264, 0x200)) + pmt
    assert mpegts.program_map(b"\x00" * 3 + stream) == pmt
    assert mpegts.program_map(pmt + pat_of((1, PMT_A))) is None, "a PMT before its PAT"
    assert mpegts.program_map(stream[: 2 * mpegts.TS_PACKET]) is None


def test_pes_pts_reads_the_33_bit_timestamp_of_a_pes_start():
    for pts in (0, 1, 90_000, 2**32 + 12345, 2**33 - 1):
        assert mpegts.pes_pts(keyframe_at(pts)) == pts
    assert mpegts.pes_pts(keyframe_at(None)) is None, "no PTS"
    assert mpegts.pes_pts(packet(VIDEO, pes(90_000), start=False)) is None, "no PES starts here"
    assert mpegts.pes_pts(packet(VIDEO, b"\x47" * 20)) is None, "not a PES"
