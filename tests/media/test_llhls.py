"""LL-HLS and DASH from the ingest with real FFmpeg: parts that add up to their segments and carry
the segment's bytes, INDEPENDENT on keyframes, blocking playlist reload and the preload hint as a
player uses them, ENDLIST and the numbers going on after a reconnect, the transcoding ladder, SRT
input, and the live MPD with its segments."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime

from devtools.http_client import http_get
from devtools.media.peers import Publisher, ffprobe_streams
from devtools.waits import wait_for

LOW = {"hls": {"latencyMode": "low"}}
PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="([^"]+)"(,INDEPENDENT=YES)?')


def playlist(ingest, path: str = "/hls/cmaf/index.m3u8", query: str = "") -> str:
    code, body = http_get(f"{ingest.http}{path}{query}", timeout=15)
    assert code == 200, (code, body[:300])
    return body.decode()


def segments_with_parts(text: str) -> list[tuple[str, float, list[tuple[float, str, bool]]]]:
    """(segment URI, EXTINF, its listed parts) of the complete segments listed with all their parts."""
    out, parts = [], []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if m := PART.match(line):
            parts.append((float(m[1]), m[2], bool(m[3])))
        elif line.startswith("#EXTINF:"):
            out.append((lines[i + 1], float(line[8:].rstrip(",")), parts))
            parts = []
    return out


def media_sequence(text: str) -> int:
    return int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])


def wait_segments(ingest, count: int, path: str = "/hls/cmaf/index.m3u8") -> str:
    def enough() -> str | None:
        code, body = http_get(f"{ingest.http}{path}")
        return body.decode() if code == 200 and body.decode().count("#EXTINF") >= count else None

    return wait_for(enough, timeout=30)


def test_low_latency_playlist_parts_add_up_to_segments_and_block_like_a_player_needs(ingest_factory):
    ingest = ingest_factory(**LOW)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        text = wait_segments(ingest, 3)
        assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES" in text and "PART-HOLD-BACK=" in text, text
        target = float(re.search(r"#EXT-X-PART-INF:PART-TARGET=([\d.]+)", text)[1])
        assert 0.2 <= target < 0.25, text  # 200 ms by default: 6 frames at 30 fps
        assert re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-\d+\.m4s"', text), text
        assert "#EXT-X-ENDLIST" not in text

        full = [s for s in segments_with_parts(text) if s[2]]
        assert full, text
        for uri, extinf, parts in full:
            assert abs(sum(d for d, _, _ in parts) - extinf) < 0.002, (uri, extinf, parts)
            assert all(d <= target + 1e-6 for d, _, _ in parts), (target, parts)
            assert parts[0][2], f"{uri} does not start with an independent part"
            # A 1 s GOP in 2 s segments: a keyframe mid-segment is an independent part too.
            assert sum(independent for _, _, independent in parts) == 2, parts
            # A segment is its parts' bytes, in order.
            joined = b"".join(http_get(f"{ingest.http}/hls/cmaf/{p}")[1] for _, p, _ in parts)
            assert http_get(f"{ingest.http}/hls/cmaf/{uri}")[1] == joined

        uri = full[-1][0]
        media = ingest.workdir / "segment.mp4"
        media.write_bytes(
            http_get(f"{ingest.http}/hls/cmaf/init.mp4")[1] + http_get(f"{ingest.http}/hls/cmaf/{uri}")[1]
        )
        streams = {s["codec_type"]: s for s in ffprobe_streams(str(media))}
        assert (streams["video"]["codec_name"], streams["video"]["width"]) == ("h264", 640)
        assert streams["audio"]["codec_name"] == "aac"

        # Blocking reload, as hls.js asks for it: the next segment's part 1 is not there yet.
        text = playlist(ingest)
        next_msn = media_sequence(text) + text.count("#EXTINF") + 1
        began = time.monotonic()
        blocked = playlist(ingest, query=f"?_HLS_msn={next_msn}&_HLS_part=1")
        waited = time.monotonic() - began
        listed = segments_with_parts(blocked)
        in_progress = blocked.rsplit("#EXTINF", 1)[-1]
        assert media_sequence(blocked) + len(listed) >= next_msn, blocked
        assert len(PART.findall(in_progress)) >= 2 or media_sequence(blocked) + len(listed) > next_msn, blocked
        print(f"blocking reload answered after {waited:.2f} s")

        code, body = http_get(f"{ingest.http}/hls/cmaf/index.m3u8?_HLS_msn={next_msn + 10}")
        assert code == 400 and b"more than two segments ahead" in body

        # The preload hint: asked for before it exists, answered once FFmpeg wrote it.
        hint = re.search(r'PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', playlist(ingest))[1]
        code, part = http_get(f"{ingest.http}/hls/cmaf/{hint}", timeout=15)
        assert code == 200 and part[4:8] == b"moof"
        assert f'URI="{hint}"' in playlist(ingest)


def test_low_latency_playlist_ends_and_a_new_session_goes_on_with_the_next_numbers(ingest_factory):
    ingest = ingest_factory(**LOW)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        first = wait_segments(ingest, 1)
    ended = wait_for(lambda: "#EXT-X-ENDLIST" in (t := playlist(ingest)) and t, timeout=15)
    assert "PRELOAD-HINT" not in ended
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()

        # The first session's segments stay listed; the new one's go on after a discontinuity with the
        # next numbers (docs/design/handover.md, the data plane).
        def new_session() -> str | None:
            code, body = http_get(f"{ingest.http}/hls/cmaf/index.m3u8")
            text = body.decode() if code == 200 else ""
            return text if "#EXTINF" in text.partition("#EXT-X-DISCONTINUITY")[2] else None

        second = wait_for(new_session, timeout=20)
    assert media_sequence(second) == media_sequence(first) and "#EXT-X-ENDLIST" not in second, (first, second)
    listed = re.findall(r"^seg-(\d+)\.m4s$", second, re.M)
    assert [int(n) for n in listed] == list(range(int(listed[0]), int(listed[0]) + len(listed))), second


def test_low_latency_from_srt_and_with_a_dvr_window(ingest_factory):
    # SRT carries MPEG-TS (ADTS AAC): the packager's fMP4 gets raw AAC all the same.
    ingest = ingest_factory(
        hls={"latencyMode": "low", "partMilliseconds": 500}, dvr={"enabled": True, "durationSeconds": 30}
    )
    with Publisher(ingest.srt_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        text = wait_segments(ingest, 5)
    target = float(re.search(r"PART-TARGET=([\d.]+)", text)[1])
    assert 0.5 <= target < 0.55, text
    # Parts only for the last three target durations; older segments are listed whole.
    first_part = text.index("#EXT-X-PART:")
    assert "#EXTINF" in text[:first_part], text
    media = ingest.workdir / "segment.mp4"
    uri = re.findall(r"^(seg-\d+\.m4s)$", text, re.M)[0]
    media.write_bytes(http_get(f"{ingest.http}/hls/cmaf/init.mp4")[1] + http_get(f"{ingest.http}/hls/cmaf/{uri}")[1])
    assert {s["codec_type"] for s in ffprobe_streams(str(media))} == {"video", "audio"}
    skipped = playlist(ingest, query="?_HLS_skip=YES")
    assert "#EXT-X-SKIP" not in skipped or "SKIPPED-SEGMENTS=" in skipped  # a 30 s window has little to skip


def test_low_latency_transcoding_ladder(ingest_factory):
    ladder = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 600}]}
    ingest = ingest_factory(**LOW, transcoding=ladder)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()
        text = wait_segments(ingest, 2, "/hls/cmaf/360p/index.m3u8")
        master = playlist(ingest)
    assert "#EXT-X-STREAM-INF:" in master and "360p/index.m3u8" in master, master
    assert "#EXT-X-PART-INF" in text and all(p[2][0][2] for p in segments_with_parts(text) if p[2]), text


def test_dash_serves_a_live_mpd_with_segments(ingest_factory):
    ingest = ingest_factory(dash=True)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1):
        ingest.wait_live()

        def manifest() -> ET.Element | None:
            code, body = http_get(f"{ingest.http}/dash/manifest.mpd")
            root = ET.fromstring(body) if code == 200 else None
            ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
            ready = root is not None and len(root.findall(".//d:S", ns)) >= 2
            return root if ready else None

        root = wait_for(manifest, timeout=20)
        assert root.get("type") == "dynamic"
        code, init = http_get(f"{ingest.http}/dash/init-0.m4s")
        assert code == 200
        chunks = sorted(p.name for p in (ingest.workdir / "media" / "sessions").glob("*/dash/chunk-0-*.m4s"))
        assert chunks
        code, chunk = http_get(f"{ingest.http}/dash/{chunks[0]}")
        assert code == 200
        media = ingest.workdir / "dash.mp4"
        media.write_bytes(init + chunk)
        assert ffprobe_streams(str(media))[0]["codec_name"] == "h264"
        code, now = http_get(f"{ingest.http}/time")
        assert code == 200  # dash.js's time source: the server's clock, ISO 8601 with ms
        assert abs(datetime.fromisoformat(now.decode()).timestamp() - time.time()) < 5
