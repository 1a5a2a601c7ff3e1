"""DASH of the transcoding ladder and low-latency DASH from the ingest with real FFmpeg, read back by
an independent reader (Debian's ffprobe): one video AdaptationSet listing every rendition with its own
codecs string and bandwidth, the audio beside it, each Representation's init + segment decodable at
its size; low latency: the MPD announces segments early (availabilityTimeOffset, a target latency,
the ingest's clock) and the ingest sends a segment while FFmpeg writes it, the body the segment's
bytes as completed. Playing both in dash.js: tests/browser/test_dash_player.py."""

from __future__ import annotations

import http.client
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from devtools.http_client import http_get
from devtools.media.peers import Publisher, ffprobe_streams
from devtools.waits import wait_for

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
LADDER = {
    "renditions": [
        {"name": "360p", "height": 360, "videoBitrateKbps": 600},
        {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
    ]
}
CODECS = re.compile(r"^avc1\.[0-9a-f]{6}$")


def manifest(ingest, ready: str) -> ET.Element:
    """The live MPD, once `ready` (an XPath) finds something in it."""

    def read() -> ET.Element | None:
        code, body = http_get(f"{ingest.http}/dash/manifest.mpd")
        root = ET.fromstring(body) if code == 200 else None
        return root if root is not None and root.findall(ready, NS) else None

    return wait_for(read, timeout=30)


def newest_listed(ingest, rid: str) -> int:
    """The number of the representation's newest segment in the MPD as it is now: the window slides
    while the representations before it are fetched and probed (at load 25 startNumber's segment
    of the last one had gone: a 404 in ci31)."""
    root = manifest(ingest, f".//d:Representation[@id='{rid}']")
    template = root.find(f".//d:Representation[@id='{rid}']/d:SegmentTemplate", NS)
    listed = sum(1 + int(s.get("r", "0")) for s in template.findall("d:SegmentTimeline/d:S", NS))
    return int(template.get("startNumber")) + listed - 1


def fetch(ingest, name: str) -> bytes:
    code, body = http_get(f"{ingest.http}/dash/{name}", timeout=15)
    assert code == 200, (name, code, body[:200])
    return body


def test_the_ladders_dash_lists_every_rendition_with_its_codecs_and_decodable_segments(ingest_factory, tmp_path):
    ingest = ingest_factory(dash=True, hls={"segmentSeconds": 1}, transcoding=LADDER)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        root = manifest(ingest, ".//d:AdaptationSet[@contentType='video']//d:S[@r]")  # ≥ 2 segments listed
        sets = {s.get("contentType"): s for s in root.findall(".//d:AdaptationSet", NS)}
        assert sorted(sets) == ["audio", "video"], "one video AdaptationSet for the whole ladder, one audio"
        video = sets["video"].findall("d:Representation", NS)
        audio = sets["audio"].findall("d:Representation", NS)
        assert [(int(r.get("height")), int(r.get("bandwidth"))) for r in video] == [(360, 600_000), (180, 200_000)]
        assert all(CODECS.match(r.get("codecs")) for r in video), [r.get("codecs") for r in video]
        assert len({r.get("codecs") for r in video}) == 2, "each rendition's own profile and level"
        assert [(r.get("codecs"), int(r.get("bandwidth"))) for r in audio] == [
            ("mp4a.40.2", 128_000),
            ("mp4a.40.2", 64_000),
        ], "one AAC encode per audio bitrate of the ladder"
        for representation in [*video, *audio]:
            template = representation.find("d:SegmentTemplate", NS)
            timescale = int(template.get("timescale"))
            timeline = template.findall("d:SegmentTimeline/d:S", NS)
            assert 0.9 <= int(timeline[0].get("d")) / timescale <= 1.1, "1 s segments"
            rid = representation.get("id")
            number = newest_listed(ingest, rid)
            init = fetch(ingest, template.get("initialization").replace("$RepresentationID$", rid))
            media = template.get("media").replace("$RepresentationID$", rid).replace("$Number%06d$", f"{number:06d}")
            sample = tmp_path / f"rep-{rid}.mp4"
            sample.write_bytes(init + fetch(ingest, media))
            (stream,) = ffprobe_streams(sample)
            if representation in video:
                assert (stream["codec_name"], stream["height"]) == ("h264", int(representation.get("height")))
            else:
                assert stream["codec_name"] == "aac"


def test_low_latency_dash_sends_a_segment_while_ffmpeg_writes_it(ingest_factory, tmp_path):
    ingest = ingest_factory(dash=True, dashLatencyMode="low", hls={"segmentSeconds": 2})
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=2):
        ingest.wait_live()
        root = manifest(ingest, ".//d:SegmentTemplate[@availabilityTimeOffset]")
        template = root.find(".//d:AdaptationSet[@contentType='video']//d:SegmentTemplate", NS)
        assert template.get("availabilityTimeOffset") == "1.800", "announced one 200 ms chunk into a 2 s segment"
        assert template.get("availabilityTimeComplete") == "false" and template.find("d:SegmentTimeline", NS) is None
        assert root.find("d:ServiceDescription/d:Latency", NS).get("target") == "1000"
        timing = root.find("d:UTCTiming", NS)
        assert (timing.get("schemeIdUri"), timing.get("value")) == ("urn:mpeg:dash:utc:http-xsdate:2014", "time")
        assert http_get(f"{ingest.http}/dash/time")[0] == 200, "the clock beside the MPD"

        # The session FFmpeg writes now (an earlier session of this ingest may have left its directory).
        sessions = ingest.workdir / "media" / "sessions"
        listing = lambda: sorted(str(p.relative_to(sessions)) for p in sessions.glob("*/dash/*"))  # noqa: E731
        writing = wait_for(lambda: newest(sessions.glob("*/dash/chunk-0-*.m4s.tmp")), timeout=20,
                           what=f"a video segment FFmpeg is writing (at the start: {listing()[-8:]})")  # fmt: skip
        dash_dir = writing.parent
        number = int(re.search(r"-(\d+)\.m4s", writing.name)[1]) + 1  # the next one: asked before it begins
        name = f"chunk-0-{number:06d}.m4s"
        reads = read_timed(f"{ingest.http}/dash/{name}")
        body = b"".join(chunk for _, chunk in reads)
        assert body == (dash_dir / name).read_bytes(), "the whole segment, as FFmpeg completed it"
        spread = reads[-1][0] - reads[0][0]
        assert len(reads) >= 4 and spread >= 1.0, (
            f"sent as written over the segment: {len(reads)} reads in {spread:.2f} s"
        )
        sample = tmp_path / "segment.mp4"
        sample.write_bytes(fetch(ingest, "init-0.m4s") + body)
        assert ffprobe_streams(sample)[0]["codec_name"] == "h264"
        started = time.monotonic()
        assert http_get(f"{ingest.http}/dash/chunk-0-{number + 100:06d}.m4s", timeout=10)[0] == 404
        assert time.monotonic() - started < 4, "a segment far ahead waits one segment at most"


def newest(paths: Iterable[Path]) -> Path | None:
    """The most recently modified of `paths` that still exists (FFmpeg renames a segment when done)."""
    found = []
    for path in paths:
        try:
            found.append((path.stat().st_mtime, path))
        except FileNotFoundError:
            continue
    return max(found)[1] if found else None


def read_timed(url: str) -> list[tuple[float, bytes]]:
    """(monotonic time, bytes) of each read of a chunked body as it arrives."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
        reads = []
        while chunk := response.read1(1 << 16):
            reads.append((time.monotonic(), chunk))
        return reads
    finally:
        connection.close()
