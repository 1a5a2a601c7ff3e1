"""What the relay is asked (media/pusher/relay_command.py): which runs it carries, the `open` of a
run as FFmpeg's rtmp protocol would have split `<uri>/<key>`, and a run's end as an Outcome."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest
from streamops.egress.media_destinations import pinned_to
from streamops.media.pusher.commands import StreamKeyError
from streamops.media.pusher.plan import Outcome
from streamops.media.pusher.relay_command import ended_outcome, relay_carries, relay_open

H264, AAC, MP3, HEVC = 0x1B, 0x0F, 0x03, 0x24


@pytest.mark.parametrize(
    ("uri", "silence", "types", "carried"),
    [
        ("rtmp://x/live", False, [H264, AAC], True),
        ("rtmps://x/live", False, [H264], True),
        ("srt://x:9000", False, [H264, AAC], False),  # SRT keeps FFmpeg
        ("rtmp://x/live", True, [H264], False),  # a silent track is encoded: FFmpeg
        ("rtmp://x/live", False, [HEVC, AAC], False),
        ("rtmp://x/live", False, [H264, MP3], False),
        ("rtmp://x/live", False, None, False),  # no PMT seen: unknown tracks
    ],
)
def test_the_relay_carries_rtmp_targets_of_h264_and_aac_feeds(
    uri: str, silence: bool, types: list[int] | None, carried: bool
) -> None:
    assert relay_carries(uri, silence, types) is carried


def test_open_dials_the_pinned_address_and_names_the_host_as_ffmpeg_would() -> None:
    uri = "rtmps://live.example.com/app/inst?x=1"
    pinned = pinned_to(uri, ip_address("203.0.113.7"))
    command = relay_open("a#1", "http://ingest:8081/feed", "Bearer c", uri, pinned, "sk-1", "PEM", False)
    assert (command.address, command.host, command.sni) == (
        "203.0.113.7:443",
        "live.example.com:443",
        "live.example.com",
    )
    assert (command.app, command.stream) == ("app/inst", "sk-1?x=1")
    body = json.loads(command.line())
    assert body["op"] == "open" and body["stream"] == "sk-1?x=1" and body["feedAuth"] == "Bearer c"
    assert "sk-1" not in repr(command), "the key is never in a repr"


def test_open_of_an_address_literal_and_a_bad_key() -> None:
    uri = "rtmp://[::1]:1936/live"
    pinned = pinned_to(uri, ip_address("::1"))
    command = relay_open("a#2", "http://i/feed", None, uri, pinned, "k", None, False)
    assert (command.address, command.host, command.sni, command.app, command.stream) == (
        "[::1]:1936",
        "[::1]:1936",
        "",
        "live",
        "k",
    )
    with pytest.raises(StreamKeyError):
        relay_open("a#3", "http://i/feed", None, uri, pinned, "bad key", None, False)


def test_a_runs_end_reads_as_an_outcome() -> None:
    assert ended_outcome("feed-ended") is Outcome.SOURCE_ENDED
    assert ended_outcome("feed-failed") is Outcome.SOURCE_UNAVAILABLE
    assert ended_outcome("closed") is Outcome.STOPPED
    assert ended_outcome("target-failed") is Outcome.TARGET_FAILED
    assert ended_outcome("anything else") is Outcome.TARGET_FAILED
