"""Who is watching (media/ingest/viewers.py): a request's kind and protocol, viewer sessions per sid
else per address and User-Agent within the window, the bounded lists, at most SESSIONS_PER_SOURCE
sessions per address (a /64 for IPv6)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from streamops.contract.ingest import VIEWER_SESSIONS_LISTED
from streamops.contract.playback_token import session_hash, session_id
from streamops.media.ingest.routes import dash_kind, hls_kind
from streamops.media.ingest.viewers import (
    SESSIONS_PER_SOURCE,
    RequestKind,
    ViewerWindow,
    viewer_protocol,
    viewer_source,
)

# publishOverHttp: these tests are about the gate; HTTPS-only publishing is test_key_bearing.py's.
BASE: dict[str, Any] = {"stream": "cam", "source": {"push": {}}, "publishOverHttp": True}
log = logging.getLogger("test.playback")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("index.m3u8", RequestKind.PLAYLIST),
        ("part-000012.m4s", RequestKind.PART),
        ("seg-000003.m4s", RequestKind.SEGMENT),
        ("seg-000003.ts", RequestKind.SEGMENT),
        ("init.mp4", RequestKind.INIT),
    ],
)
def test_hls_request_kinds(name, kind):
    assert hls_kind(name) is kind


def test_ll_hls_is_told_by_its_blocking_arguments_or_a_part():
    assert viewer_protocol(RequestKind.PLAYLIST, {}) == "hls"
    assert viewer_protocol(RequestKind.PLAYLIST, {"_HLS_msn": "4"}) == "llhls"
    assert viewer_protocol(RequestKind.PLAYLIST, {"_HLS_part": "1", "_HLS_msn": "4"}) == "llhls"
    assert viewer_protocol(RequestKind.PART, {}) == "llhls"
    assert viewer_protocol(RequestKind.SEGMENT, {"_HLS_skip": "YES"}) == "hls"
    assert viewer_protocol(RequestKind.DASH, {}) == viewer_protocol(RequestKind.MANIFEST, {}) == "dash"
    assert viewer_protocol(RequestKind.OTHER, {"_HLS_msn": "1"}) is None


def test_sessions_are_per_sid_else_per_address_and_user_agent_and_expire_after_the_window():
    clock = Clock()
    window = ViewerWindow(30, clock)
    window.saw("llhls", "page-1", "10.0.0.1", "Chrome")
    window.saw("hls", "page-1", "10.0.0.1", "Chrome")  # the same page's segment: still one LL-HLS viewer
    window.saw("hls", "page-2", "10.0.0.1", "Chrome")
    window.saw("hls", None, "10.0.0.2", "VLC")
    window.saw("hls", None, "10.0.0.2", "VLC")
    window.saw("hls", None, "10.0.0.2", "ffplay")
    window.saw("dash", None, "10.0.0.3", "VLC")
    report = window.report(webrtc=2)
    assert report.counts.model_dump() == {"hls": 3, "llhls": 1, "dash": 1, "webrtc": 2, "srt": 0, "rtsp": 0}
    assert report.sessions.llhls == [session_hash("page-1")]
    assert session_hash(session_id(None, "10.0.0.2", "VLC")) in report.sessions.hls
    assert not report.truncated

    clock.now += 20
    window.saw("hls", "page-2", "10.0.0.1", "Chrome")
    clock.now += 10.5  # the others' last request was 30.5 s ago
    assert window.sessions() == {"hls": [session_hash("page-2")], "llhls": [], "dash": []}
    clock.now += 20
    assert window.report(0).counts.model_dump() == {"hls": 0, "llhls": 0, "dash": 0, "webrtc": 0, "srt": 0, "rtsp": 0}


def test_the_lists_are_bounded_the_counts_are_not():
    clock = Clock()
    window = ViewerWindow(30, clock)
    for i in range(VIEWER_SESSIONS_LISTED + 10):
        window.saw("hls", f"s{i}", f"10.0.{i // 200}.{i % 200}", None)
    report = window.report(0)
    assert report.counts.hls == VIEWER_SESSIONS_LISTED + 10
    assert len(report.sessions.hls) == VIEWER_SESSIONS_LISTED and report.truncated
    assert report.sessions.hls[0] == session_hash(f"s{VIEWER_SESSIONS_LISTED + 9}"), "the newest first"


def test_one_address_counts_as_at_most_sessions_per_source_viewers_per_protocol():
    """Issue 52, finding 10: a client inventing a `_sid` (or a User-Agent) per request was a viewer
    each time. Its sessions past the bound are not counted until some leave; a /64 is one address."""
    clock = Clock()
    window = ViewerWindow(30, clock)
    for i in range(1000):
        window.saw("hls", f"invented-{i}", "192.0.2.7", None)
        window.saw("hls", None, "192.0.2.7", f"agent-{i}")
        window.saw("llhls", f"ll-{i}", f"2001:db8:1:2::{i:x}", None)
    window.saw("hls", "a-real-viewer", "192.0.2.8", None)
    assert window.report(0).counts.model_dump() == {
        "hls": SESSIONS_PER_SOURCE + 1,
        "llhls": SESSIONS_PER_SOURCE,
        "dash": 0,
        "webrtc": 0,
        "srt": 0,
        "rtsp": 0,
    }
    assert viewer_source("::ffff:192.0.2.7") == "192.0.2.7" and viewer_source("2001:db8:1:2::9") == "2001:db8:1:2::/64"
    window.saw("hls", "invented-0", "192.0.2.7", None)  # a counted session goes on being counted
    assert session_hash("invented-0") in window.sessions()["hls"]
    clock.now += 20
    window.saw("hls", "invented-1", "192.0.2.7", None)
    clock.now += 11  # every other session of the address left: room for new ones
    window.saw("hls", "late-viewer", "192.0.2.7", None)
    assert set(window.sessions()["hls"]) == {session_hash("invented-1"), session_hash("late-viewer")}


@pytest.mark.parametrize(
    ("kind", "metric_kind"),
    [
        (RequestKind.PLAYLIST, "playlist"),
        (RequestKind.MANIFEST, "playlist"),
        (RequestKind.PART, "media"),
        (RequestKind.SEGMENT, "media"),
        (RequestKind.INIT, "media"),
        (RequestKind.DASH, "media"),
        (RequestKind.OTHER, "other"),
    ],
)
def test_request_kinds_count_as_playlist_media_or_other(kind, metric_kind):
    assert kind.metric_kind == metric_kind
    assert dash_kind("manifest.mpd") is RequestKind.MANIFEST and dash_kind("chunk-0-00001.m4s") is RequestKind.DASH
