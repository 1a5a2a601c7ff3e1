"""Pure parts of the ingest's robustness: the source's profile and pixel format from FFmpeg's dump,
HEVC init segments rewritten as hvc1, the RTMP gate's relay ending a silent publisher, and the
configuration of the publisher timeout and the SRT latency."""

from __future__ import annotations

import struct

import pytest
from pydantic import ValidationError
from streamops.api.livestream import PushSource
from streamops.contract.ingest import PUBLISHER_TIMEOUT_SECONDS, IngestConfig
from streamops.media.ffmpeg import SourceFacts, bit_depth
from streamops.media.fmp4 import hvc1_init_segment

# --- what the encoder sends ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "codec", "profile", "pixel_format", "depth"),
    [
        (
            "  Stream #0:0[0x100]: Video: h264 (High 10) ([27][0][0][0] / 0x001B), yuv420p10le(progressive), "
            "1280x720 [SAR 1:1 DAR 16:9], 30 fps, 30 tbr, 90k tbn",
            "h264",
            "High 10",
            "yuv420p10le",
            10,
        ),
        (
            "  Stream #0:0[0x100]: Video: h264 (High 4:2:2) ([27][0][0][0] / 0x001B), yuv422p(progressive), "
            "320x240 [SAR 1:1 DAR 4:3], 30 fps, 30 tbr, 90k tbn",
            "h264",
            "High 4:2:2",
            "yuv422p",
            8,
        ),
        (
            "  Stream #0:0[0x100]: Video: hevc (Main) (HEVC / 0x43564548), yuv420p(tv), 320x240 [SAR 1:1 DAR 4:3]",
            "hevc",
            "Main",
            "yuv420p",
            8,
        ),
        (
            "  Stream #0:0: Video: h264 (High 10), yuv420p10le(progressive), 320x240, 30 fps",  # FLV: no codec tag
            "h264",
            "High 10",
            "yuv420p10le",
            10,
        ),
        ("  Stream #0:0[0x100]: Video: h264 ([27][0][0][0] / 0x001B), yuv420p, 320x240", "h264", None, "yuv420p", 8),
        ("  Stream #0:0: Video: vp8, yuv420p, 320x240", "vp8", None, "yuv420p", 8),
        ("  Stream #0:0: Video: h264, none, 320x240", "h264", None, None, None),
    ],
)
def test_source_facts_read_profile_and_pixel_format(line, codec, profile, pixel_format, depth):
    facts = SourceFacts()
    facts.read(line)
    facts.read("  Stream #0:1: Video: h264 (Baseline), yuv444p, 64x64")  # only the first video stream counts
    assert (facts.video_codec, facts.video_profile, facts.pixel_format, facts.bit_depth) == (
        codec,
        profile,
        pixel_format,
        depth,
    )


@pytest.mark.parametrize(
    ("name", "depth"),
    [("yuv420p", 8), ("yuvj420p", 8), ("nv12", 8), ("gray", 8), ("yuv420p10le", 10), ("yuv422p10be", 10),
     ("p010le", 10), ("gray12le", 12), ("yuv444p16le", 16), ("gbrp10le", 10), ("rgb48le", None), ("rgb24", None)],
)  # fmt: skip
def test_bit_depth_of_pixel_format_names(name, depth):
    assert bit_depth(name) == depth


# --- HEVC init segments as hvc1 --------------------------------------------------------------------


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def hvcc(*arrays: tuple[int, list[bytes]]) -> bytes:
    body = b"\x01" + b"\x00" * 21 + bytes([len(arrays)])
    for nal_type, units in arrays:
        body += bytes([nal_type]) + struct.pack(">H", len(units))
        for unit in units:
            body += struct.pack(">H", len(unit)) + unit
    return box(b"hvcC", body)


def init_segment(entry: bytes, config: bytes) -> bytes:
    sample_entry = box(entry, b"\x00" * 78 + config + box(b"btrt", b"\x00" * 12))
    stsd = box(b"stsd", struct.pack(">II", 0, 1) + sample_entry)
    trak = box(b"trak", box(b"tkhd", b"\x00" * 84) + box(b"mdia", box(b"minf", box(b"stbl", stsd))))
    return box(b"ftyp", b"iso5\x00\x00\x02\x00") + box(b"moov", box(b"mvhd", b"\x00" * 100) + trak)


def test_hevc_init_segment_is_served_as_hvc1_with_complete_parameter_set_arrays():
    sei = 39
    original = init_segment(b"hev1", hvcc((32, [b"vps"]), (33, [b"sps", b"sps2"]), (34, [b"pps"]), (sei, [b"x"])))
    expected = init_segment(
        b"hvc1", hvcc((0x80 | 32, [b"vps"]), (0x80 | 33, [b"sps", b"sps2"]), (0x80 | 34, [b"pps"]), (sei, [b"x"]))
    )
    assert hvc1_init_segment(original) == expected


def test_other_init_segments_are_served_as_they_are():
    avc = init_segment(b"avc1", box(b"avcC", b"\x01\x64\x00\x1f\xff\xe1"))
    assert hvc1_init_segment(avc) is avc
    # "hev1" in a box that is no sample entry (here: inside mvhd) is left alone.
    odd = box(b"moov", box(b"mvhd", b"hev1" + b"\x00" * 96))
    assert hvc1_init_segment(odd) == odd
    truncated = init_segment(b"hev1", hvcc((32, [b"vps"])))[:-20]
    assert hvc1_init_segment(truncated)[: len(truncated)].count(b"hev1") <= 1  # never raises on a torn file


# --- configuration -----------------------------------------------------------------------------------


def test_publisher_timeout_defaults_without_being_written_into_the_config():
    config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}})
    assert config.publisher_timeout == PUBLISHER_TIMEOUT_SECONDS
    assert "publisherTimeoutSeconds" not in config.to_json(), "a new default would roll every live ingest"
    custom = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "publisherTimeoutSeconds": 2.5})
    assert custom.publisher_timeout == 2.5
    with pytest.raises(ValidationError):
        IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "publisherTimeoutSeconds": 0.1})


def test_srt_latency_is_optional_and_bounded():
    assert PushSource.model_validate({}).srt is None
    assert PushSource.model_validate({"srt": {"latencyMs": 1500}}).srt.latency_ms == 1500
    assert PushSource.model_validate({"srt": {}}).wire() == {"protocols": ["rtmp", "srt"], "srt": {}, "backup": False}
    for bad in (0, 19, 8001):
        with pytest.raises(ValidationError):
            PushSource.model_validate({"srt": {"latencyMs": bad}})
