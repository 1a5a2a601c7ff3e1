"""The LiveStream's spec model (api/livestream.py), its cross-field rules as Python sees them: one
source, an HLS format (CMAF for low latency, parts shorter than a segment), a ladder inline or named,
what needs a ladder, a DVR window of three segments. That each rule says what its CEL twin says at
admission: test_crd_cel_parity.py; the quality sets: test_quality_set.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError
from streamops.api.livestream import (
    DASH_LOW_LATENCY_NEEDS_DASH,
    DEFAULT_PART_MILLISECONDS,
    DVR_HOLDS_THREE_SEGMENTS,
    ENCRYPTION_WITHOUT_DASH,
    HLS,
    HLS_NEEDS_A_FORMAT,
    LADDER_OR_SET,
    LOW_LATENCY_NEEDS_CMAF,
    PART_BELOW_SEGMENT,
    PUSH_XOR_PULL,
    TRANSCODED_NEEDS_RENDITIONS,
    LiveStreamSpec,
    PlaybackEncryption,
    Source,
    Transcoding,
)

PUSH: dict[str, Any] = {"source": {"push": {}}}
LADDER = {
    "renditions": [
        {"name": n, "height": h, "videoBitrateKbps": h * 4} for n, h in (("360p", 360), ("1080p", 1080), ("720p", 720))
    ]
}


def spec(**fields: Any) -> LiveStreamSpec:
    return LiveStreamSpec.model_validate({**PUSH, **fields})


def test_a_bare_push_stream_is_passthrough_hls_of_both_formats():
    bare = spec()
    assert not bare.has_ladder and bare.transcoding is None and not bare.dash
    assert (bare.hls.cmaf, bare.hls.mpegts, bare.hls.low_latency) == (True, True, False)
    assert bare.hls.part_seconds == DEFAULT_PART_MILLISECONDS / 1000
    assert not bare.dvr.enabled and bare.recording.type == "origin"


@pytest.mark.parametrize("source", [{}, {"push": {}, "pull": {"urls": ["rtmp://origin.example/live/a"]}}])
def test_a_source_is_push_or_pull(source):
    with pytest.raises(ValidationError, match=re.escape(PUSH_XOR_PULL)):
        Source.model_validate(source)


@pytest.mark.parametrize(
    ("hls", "says"),
    [
        ({"cmaf": False, "mpegts": False}, HLS_NEEDS_A_FORMAT),
        ({"cmaf": False, "latencyMode": "low"}, LOW_LATENCY_NEEDS_CMAF),
        ({"segmentSeconds": 1, "partMilliseconds": 1000}, PART_BELOW_SEGMENT),
    ],
)
def test_hls_refused(hls, says):
    with pytest.raises(ValidationError, match=re.escape(says)):
        HLS.model_validate(hls)


def test_low_latency_hls_parts():
    hls = HLS.model_validate({"latencyMode": "low", "partMilliseconds": 500})
    assert hls.low_latency and hls.part_seconds == 0.5


def test_a_ladder_is_inline_or_named_and_its_tallest_rendition_comes_first():
    ladder = Transcoding.model_validate(LADDER)
    assert ladder.has_ladder and [r.name for r in ladder.tallest_first()] == ["1080p", "720p", "360p"]
    assert Transcoding.model_validate({"qualitySetRef": {"name": "hd"}}).has_ladder
    assert not Transcoding.model_validate({}).has_ladder
    with pytest.raises(ValidationError, match=re.escape(LADDER_OR_SET)):
        Transcoding.model_validate({**LADDER, "qualitySetRef": {"name": "hd"}})


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"recording": {"type": "transcoded"}}, TRANSCODED_NEEDS_RENDITIONS),
        ({"hls": {"segmentSeconds": 12}, "dvr": {"enabled": True, "durationSeconds": 30}}, DVR_HOLDS_THREE_SEGMENTS),
        ({"dashLatencyMode": "low"}, DASH_LOW_LATENCY_NEEDS_DASH),
    ],
)
def test_stream_refused(fields, says):
    with pytest.raises(ValidationError, match=re.escape(says)):
        spec(**fields)


def test_what_needs_a_ladder_takes_a_named_one():
    named = spec(transcoding={"qualitySetRef": {"name": "hd"}}, recording={"type": "transcoded"})
    assert named.has_ladder and named.recording.type == "transcoded"
    assert spec(hls={"segmentSeconds": 10}, dvr={"enabled": True, "durationSeconds": 30}).dvr.enabled


def test_playback_encryption_is_off_by_default_aes_128_rotated_within_bounds():
    push = {"push": {"protocols": ["rtmp"]}}
    assert LiveStreamSpec.model_validate({"source": push}).playback.encryption is None
    assert PlaybackEncryption.model_validate({}).rotate_seconds == 60
    for bad in ({"method": "SAMPLE-AES"}, {"rotateSeconds": 9}, {"rotateSeconds": 86401}):
        with pytest.raises(ValidationError):
            PlaybackEncryption.model_validate(bad)
    with pytest.raises(ValidationError, match=re.escape(ENCRYPTION_WITHOUT_DASH)):
        LiveStreamSpec.model_validate({"source": push, "dash": True, "playback": {"encryption": {}}})
