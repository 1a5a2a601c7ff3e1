"""HLS that continues across the sessions of one ingest (media/ingest/continuity.py), with real
FFmpeg: a publisher that disconnects and comes back leaves the served playlists — FFmpeg's fMP4 and
MPEG-TS variants and the LL-HLS packager's — with every segment of the first session, numbers that
go on one by one, one EXT-X-DISCONTINUITY at the boundary and every URI answering."""

from __future__ import annotations

import re

from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.waits import wait_for

# 1 s segments and a 30 s window: both sessions' segments stay listed.
FAST = {"segmentSeconds": 1, "endListOnStop": True}
DVR = {"enabled": True, "durationSeconds": 30}
SEGMENT = re.compile(r"^(seg-\d+\.(?:ts|m4s))$", re.M)
MAP = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')


def text_of(ingest, path: str) -> str | None:
    code, body = http_get(f"{ingest.http}{path}", timeout=15)
    return body.decode() if code == 200 else None


def numbered(text: str) -> list[tuple[int, str]]:
    """(number, URI) of each segment listed: EXT-X-MEDIA-SEQUENCE plus its index."""
    first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])
    return [(first + i, uri) for i, uri in enumerate(SEGMENT.findall(text))]


def after_discontinuity(text: str) -> int:
    return text.partition("#EXT-X-DISCONTINUITY\n")[2].count("#EXTINF")


def check_continued(ingest, path: str, before: str) -> None:
    def both_sessions() -> str | None:
        text = text_of(ingest, path)
        return text if text and after_discontinuity(text) >= 2 else None

    after = wait_for(both_sessions, timeout=30, what=f"{path}: the second session's segments")
    listed = numbered(after)
    assert [n for n, _ in listed] == list(range(listed[0][0], listed[0][0] + len(listed))), after
    assert set(numbered(before)) <= set(listed), (before, after)  # the same numbers, the same URIs
    assert after.count("#EXT-X-DISCONTINUITY\n") == 1 and "#EXT-X-ENDLIST" not in after, after
    base = path.rsplit("/", 1)[0]
    for uri in [u for _, u in listed] + MAP.findall(after):
        assert http_get(f"{ingest.http}{base}/{uri}", timeout=15)[0] == 200, (path, uri)
    if "cmaf" in path:
        assert len(set(MAP.findall(after))) == 2, after  # each session's init segment, under its own URI


def test_a_reconnecting_publisher_continues_every_served_playlist(ingest_factory):
    low = ingest_factory("low", hls={**FAST, "latencyMode": "low", "cmaf": True, "mpegts": True}, dvr=DVR)
    standard = ingest_factory("standard", hls={**FAST, "cmaf": True, "mpegts": True}, dvr=DVR)
    paths = ("/hls/cmaf/index.m3u8", "/hls/ts/index.m3u8")

    def first_session() -> dict[tuple[str, str], str] | None:
        texts = {(w.workdir.name, p): text_of(w, p) for w in (low, standard) for p in paths}
        return texts if all(t and t.count("#EXTINF") >= 3 for t in texts.values()) else None  # type: ignore[misc]

    with (
        Publisher(low.rtmp_url(), size="640x360", gop_seconds=1),
        Publisher(standard.rtmp_url(), size="640x360", gop_seconds=1),
    ):
        before = wait_for(first_session, timeout=30, what="three segments of the first session")
    # The first session's playlists end (endListOnStop) and stay served with all their segments.
    for worker in (low, standard):
        wait_for(lambda w=worker: "#EXT-X-ENDLIST" in (text_of(w, paths[1]) or ""), timeout=15)
    with (
        Publisher(low.rtmp_url(), size="640x360", gop_seconds=1),
        Publisher(standard.rtmp_url(), size="640x360", gop_seconds=1),
    ):
        for worker in (low, standard):
            for path in paths:
                check_continued(worker, path, before[(worker.workdir.name, path)])
        # A blocking reload for the next segment of the live edge answers (neither 400 nor a hang).
        edge = numbered(text_of(low, paths[0]) or "")[-1][0]
        code, _ = http_get(f"{low.http}{paths[0]}?_HLS_msn={edge + 1}&_HLS_part=0", timeout=15)
        assert code == 200
