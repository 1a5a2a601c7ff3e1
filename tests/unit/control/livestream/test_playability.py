"""BrowserPlayable: whether the stream's HLS plays in common browsers, from what the encoder sends
(the ingest's codec, profile, pixel format and bit depth), with a Warning when it will not; and
WebRtcPlayable, from what the ingest's WebRTC component says of its WHEP feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from devtools.catalog import stored_livestream
from streamops.contract.ingest import IngestStatus, WebRtcStatus
from streamops.control.livestream import playability as p
from streamops.control.livestream.playability import webrtc_playability
from streamops.control.livestream.status import (
    IngestObservation,
    PodObservation,
    livestream_events,
    livestream_status,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def source(codec: str | None, profile: str | None = None, pix: str | None = None, depth: int | None = None):
    return IngestStatus(
        live=True, video_codec=codec, video_profile=profile, pixel_format=pix, bit_depth=depth, audio_codec="aac"
    )


@pytest.mark.parametrize(
    ("facts", "status", "reason"),
    [
        # What OBS, ffmpeg and hardware encoders send by default: plays everywhere.
        (source("h264", "High", "yuv420p", 8), "True", p.PLAYABLE),
        (source("h264", "Main", "yuvj420p", 8), "True", p.PLAYABLE),
        (source("h264", "Constrained Baseline", "nv12", 8), "True", p.PLAYABLE),
        (source("h264"), "True", p.PLAYABLE),  # nothing more known: H.264 is the browsers' codec
        # 10-bit, 4:2:2, 4:4:4 H.264: no common browser decodes them.
        (source("h264", "High 10", "yuv420p10le", 10), "False", p.HIGH10_PROFILE),
        (source("h264", None, "yuv420p10le", 10), "False", p.HIGH10_PROFILE),
        (source("h264", "High 10 Intra", None, None), "False", p.HIGH10_PROFILE),
        (source("h264", "High 4:2:2", "yuv422p10le", 10), "False", p.CHROMA_422),
        (source("h264", "High 4:2:2", "yuv422p", 8), "False", p.CHROMA_422),
        (source("h264", None, "nv16", 8), "False", p.CHROMA_422),
        (source("h264", "High 4:2:2 Intra", None, None), "False", p.CHROMA_422),
        (source("h264", "High 4:4:4 Predictive", "yuv444p", 8), "False", p.CHROMA_444),
        (source("h264", None, "gbrp", 8), "False", p.CHROMA_444),
        # x264 lossless: High 4:4:4 Predictive even for 4:2:0 pictures; the profile alone is refused.
        (source("h264", "High 4:4:4 Predictive", "yuv420p", 8), "False", p.UNSUPPORTED_PROFILE),
        (source("h264", "Extended", "yuv420p", 8), "False", p.UNSUPPORTED_PROFILE),
        # HEVC: Safari and Apple devices only.
        (source("hevc", "Main", "yuv420p", 8), "False", p.HEVC),
        (source("hevc", "Main 10", "yuv420p10le", 10), "False", p.HEVC),
        (source("av1", "Main", "yuv420p", 8), "True", p.PLAYABLE),
        (source("mpeg2video", "Main", "yuv420p", 8), "False", p.UNSUPPORTED_CODEC),
        # Audio only: browsers play it; nothing known at all: Unknown, never a false alarm.
        (source(None), "True", p.PLAYABLE),
        (IngestStatus(live=True), "Unknown", p.CODEC_UNKNOWN),
    ],
)
def test_playability_of_what_encoders_send(facts, status, reason):
    observed = p.browser_playability(facts, transcoded=False)
    assert (observed.type, observed.status, observed.reason) == ("BrowserPlayable", status, reason), observed.message


def test_hevc_message_says_where_it_plays():
    message = p.browser_playability(source("hevc", "Main 10", "yuv420p10le", 10), transcoded=False).message
    assert "only in Safari and on Apple devices" in message and "Chrome, Firefox or Edge" in message
    assert "spec.transcoding.renditions" in message


def test_a_false_message_names_what_arrives_and_how_to_fix_it():
    message = p.browser_playability(source("h264", "High 10", "yuv420p10le", 10), transcoded=False).message
    assert "h264 (High 10) yuv420p10le" in message
    assert "yuv420p" in message and "spec.transcoding.renditions" in message


def test_renditions_are_what_players_get():
    observed = p.browser_playability(source("hevc", "Main 10", "yuv420p10le", 10), transcoded=True)
    assert (observed.status, observed.reason) == ("True", p.TRANSCODED)


def test_nothing_to_judge_while_not_live():
    observed = p.browser_playability(None, transcoded=False)
    assert (observed.status, observed.reason) == ("Unknown", p.NO_MEDIA)


@pytest.mark.parametrize(
    ("pix", "profile", "expected"),
    [
        ("yuv420p", None, "4:2:0"),
        ("p010le", None, "4:2:0"),
        ("yuv422p10le", None, "4:2:2"),
        ("yuyv422", None, "4:2:2"),
        ("yuv444p12le", None, "4:4:4"),
        ("bgr0", None, "4:4:4"),
        (None, "High 4:2:2", "4:2:2"),
        (None, "High 4:4:4 Intra", "4:4:4"),
        (None, "High", None),
    ],
)
def test_chroma_from_pixel_format_else_profile(pix, profile, expected):
    assert p.chroma(pix, profile) == expected


# --- in the LiveStream's status, and its Events ------------------------------------------------------


stream = partial(stored_livestream, uid="u", generation=1)


def observed(telemetry: IngestStatus | None) -> IngestObservation:
    pod = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}}
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    return IngestObservation(
        {"primary": PodObservation.of("cam-ingest", pod)},
        telemetry={"primary": telemetry} if telemetry else {},
    )


def test_status_shows_profile_pixel_format_and_bit_depth_while_live():
    status = livestream_status(stream(), observed(source("h264", "High 10", "yuv420p10le", 10)), T0)
    assert (status.video_codec, status.video_profile, status.pixel_format, status.bit_depth) == (
        "h264",
        "High 10",
        "yuv420p10le",
        10,
    )
    wire = status.wire()
    assert (wire["videoProfile"], wire["pixelFormat"], wire["bitDepth"]) == ("High 10", "yuv420p10le", 10)
    condition = status.condition("BrowserPlayable")
    assert condition is not None and (condition.status, condition.reason) == ("False", p.HIGH10_PROFILE)
    # Not live: the source's facts go with the live metrics, and there is nothing to judge.
    offline = livestream_status(stream(), observed(IngestStatus(live=False, video_profile="High 10")), T0)
    assert offline.video_profile is None and offline.pixel_format is None and offline.bit_depth is None
    assert offline.condition("BrowserPlayable").status == "Unknown"


def test_transcoded_stream_is_playable_whatever_the_source():
    renditions = {"renditions": [{"name": "720p", "height": 720, "videoBitrateKbps": 3000}]}
    status = livestream_status(stream(transcoding=renditions), observed(source("hevc", "Main 10")), T0)
    assert status.condition("BrowserPlayable").reason == p.TRANSCODED
    assert status.video_codec == "hevc", "the source's facts are still shown"


def warnings(previous, current) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for e in livestream_events(previous, current) if e.type == "Warning"]


def test_a_warning_when_the_stream_will_not_play_once_per_session_and_cause():
    offline = livestream_status(stream(), observed(None), T0)
    assert warnings(None, offline) == []
    high10 = livestream_status(stream(offline), observed(source("h264", "High 10", "yuv420p10le", 10)), T0)
    [(reason, message)] = warnings(offline, high10)
    assert reason == p.NOT_BROWSER_PLAYABLE and message.startswith(f"{p.HIGH10_PROFILE}: ")
    # Still High 10 on the next tick: nothing new to say.
    again = livestream_status(stream(high10), observed(source("h264", "High 10", "yuv420p10le", 10)), T0)
    assert warnings(high10, again) == []
    # The encoder switched to 4:2:2 in the same session: another cause, another Warning.
    chroma = livestream_status(stream(again), observed(source("h264", "High 4:2:2", "yuv422p10le", 10)), T0)
    assert [r for r, m in warnings(again, chroma)] == [p.NOT_BROWSER_PLAYABLE] and "4:2:2" in warnings(again, chroma)[
        0
    ][1]
    # Fixed: no Warning, and the condition's transition time moves.
    later = T0 + timedelta(seconds=30)
    fixed = livestream_status(stream(chroma), observed(source("h264", "High", "yuv420p", 8)), later)
    assert warnings(chroma, fixed) == []
    condition = fixed.condition("BrowserPlayable")
    assert condition is not None and condition.status == "True" and condition.last_transition_time == later


def test_a_restarted_operator_does_not_warn_again():
    high10 = livestream_status(stream(), observed(source("h264", "High 10", "yuv420p10le", 10)), T0)
    # The status loop starts from the status on the server: the condition is False already.
    assert warnings(high10, livestream_status(stream(high10), observed(source("h264", "High 10")), T0)) == []


def test_a_bit_depth_outside_the_api_bounds_is_left_out_not_a_failed_status():
    status = livestream_status(stream(), observed(source("h264", "High", "yuv420p", 99)), T0)
    assert status.bit_depth is None and status.video_profile == "High"


# --- WebRtcPlayable ----------------------------------------------------------------------------------


def test_webrtc_playable_follows_the_components_word():
    def live(**webrtc: Any) -> IngestStatus:
        return IngestStatus(live=True, webrtc=WebRtcStatus(running=True, **webrtc))

    cases = [
        (None, "Unknown", "NoMedia"),
        (IngestStatus(live=True), "Unknown", "NotReported"),
        (IngestStatus(live=True, webrtc=WebRtcStatus(running=False)), "False", "ComponentUnavailable"),
        (live(whep_live=True), "True", "Served"),
        (live(whep_live=True, whep_transcoded=True), "True", "BFramesTranscoded"),
        (live(whep_problem="the source has B-frames"), "False", "BFramesRefused"),
        (live(), "Unknown", "Waiting"),
    ]
    for telemetry, status_, reason in cases:
        condition = webrtc_playability(telemetry)
        assert (condition.status, condition.reason) == (status_, reason), telemetry
    status = livestream_status(stream(), observed(live(whep_live=True)), T0)
    playable = status.condition("WebRtcPlayable")
    assert playable is not None and playable.status == "True"
