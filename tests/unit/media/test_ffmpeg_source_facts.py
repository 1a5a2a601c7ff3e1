"""Pure parts of the ingest's robustness: the source's profile and pixel format from FFmpeg's dump,
the RTMP gate's relay ending a silent publisher, and the
configuration of the publisher timeout and the SRT latency."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from streamops.api.livestream import PushSource
from streamops.contract.ingest import PUBLISHER_TIMEOUT_SECONDS, IngestConfig
from streamops.media.ffmpeg import SourceFacts, bit_depth

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
