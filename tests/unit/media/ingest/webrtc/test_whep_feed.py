"""The WHEP feeder's pure parts (media/ingest/webrtc/whep_feed.py): the feed's facts from ffprobe, and
what they decide: B-frames encoded again at about the source's video bitrate, or refused with why."""

from __future__ import annotations

from streamops.media.ingest.webrtc.commands import WhepTranscode
from streamops.media.ingest.webrtc.whep_feed import B_FRAMES_REFUSED, FeedFacts, playability_problem, transcode_for

X264_DEFAULT = {
    "streams": [
        {"codec_type": "video", "codec_name": "h264", "has_b_frames": 2},
        {"codec_type": "audio", "codec_name": "aac", "bit_rate": "128000"},
    ]
}
ZEROLATENCY = {"streams": [{"codec_type": "video", "codec_name": "h264", "has_b_frames": 0}]}


def test_feed_facts_from_ffprobe():
    assert FeedFacts.parse(X264_DEFAULT) == FeedFacts("h264", b_frames=True, audio=True, audio_bps=128000)
    assert FeedFacts.parse(ZEROLATENCY) == FeedFacts("h264", b_frames=False, audio=False)


def test_b_frames_are_encoded_again_at_about_the_sources_video_bitrate():
    facts = FeedFacts.parse(X264_DEFAULT)
    assert playability_problem(facts, "transcode") is None
    assert transcode_for(facts, feed_bps=2_628_000) == WhepTranscode(2500)
    assert transcode_for(facts, feed_bps=None) == WhepTranscode(2500)
    assert transcode_for(FeedFacts.parse(ZEROLATENCY), feed_bps=2_500_000) is None


def test_b_frames_refused_say_why():
    assert playability_problem(FeedFacts.parse(X264_DEFAULT), "refuse") == B_FRAMES_REFUSED
    assert playability_problem(FeedFacts.parse(ZEROLATENCY), "refuse") is None
    assert "hevc" in (playability_problem(FeedFacts("hevc"), "refuse") or "")
    assert transcode_for(FeedFacts("hevc"), 3_000_000) is not None
