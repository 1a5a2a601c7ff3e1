"""A real shared cache in front of a real ingest (docs/design/cdn.md): Debian's nginx with proxy_cache
as the CDN, keyed by path and query, honouring only what the ingest's Cache-Control allows
(contract/cache_policy.py). A public stream: a second viewer's segments are cache HITs, a blocking
LL-HLS reload is cached per query, the live playlist is never served older than its max-age, a 404
is cached briefly. A signed stream, behind a cache keyed without the token (a CDN told to share one
entry among all tokens: the worst case): nothing is stored, so a viewer without a token is refused
(401) and one with a forged token too (403) while a viewer with a valid one plays."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from devtools.http_client import http_request
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.shared_cache import SharedCache
from devtools.waits import wait_for
from streamops.contract.cache_policy import IMMUTABLE_SECONDS
from streamops.contract.playback_token import sign

CMAF = "hls/cmaf/index.m3u8"
TS = "hls/ts/index.m3u8"
SEGMENT = re.compile(r"^(seg-\d+\.(?:m4s|ts))", re.M)
PART = re.compile(r'#EXT-X-PART:DURATION=[\d.]+,URI="part-(\d+)\.m4s"')
MSN = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")
# One-second segments: the live lifetimes are a second (playlists) and three (parts, blocking reloads).
HLS = {"segmentSeconds": 1, "latencyMode": "low", "cmaf": True, "mpegts": True}


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    return http_request("GET", url, timeout=15)


def live_playlist(base: str, path: str = CMAF) -> str:
    def ready() -> str | None:
        code, _, body = get(f"{base}/{path}")
        text = body.decode()
        return text if code == 200 and len(SEGMENT.findall(text)) >= 2 else None

    return wait_for(ready, timeout=30, what=f"{path} with two segments")


def test_viewers_through_a_shared_cache_share_segments_never_a_stale_live_edge(ingest_factory, tmp_path: Path):
    ingest = ingest_factory(hls=HLS)
    with Publisher(ingest.rtmp_url(), size="320x180", rate=25, gop_seconds=1), SharedCache(ingest.http) as cdn:
        ingest.wait_live()
        text = live_playlist(cdn.url)
        segment = "hls/cmaf/" + SEGMENT.findall(text)[-1]

        # Two viewers fetch the same segment and init segment: the second is served from the cache.
        first, second = get(f"{cdn.url}/{segment}"), get(f"{cdn.url}/{segment}")
        assert first[0] == second[0] == 200 and first[2] == second[2]
        assert first[1]["X-Cache-Status"] == "MISS" and second[1]["X-Cache-Status"] == "HIT"
        assert first[1]["Cache-Control"] == f"public, max-age={IMMUTABLE_SECONDS}, immutable"
        init = [get(f"{cdn.url}/hls/cmaf/init.mp4") for _ in range(2)]
        assert [i[1]["X-Cache-Status"] for i in init] == ["MISS", "HIT"] and init[0][2] == init[1][2]
        assert init[0][1]["Cache-Control"] == "public, max-age=1"

        # The LL-HLS playlist is revalidated each time (no-cache): never a HIT, so always the live edge.
        for _ in range(3):
            code, headers, _ = get(f"{cdn.url}/{CMAF}")
            assert code == 200 and headers["Cache-Control"] == "public, no-cache"
            assert headers["X-Cache-Status"] != "HIT", headers

        # A blocking reload is cached per query: the same _HLS_msn/_HLS_part is a HIT, another a MISS.
        found = MSN.search(text)
        assert found is not None
        msn, part = int(found.group(1)), 0
        blocking = f"{cdn.url}/{CMAF}?_HLS_msn={msn + 1}&_HLS_part={part}"
        answers = [get(blocking) for _ in range(2)]
        assert [a[0] for a in answers] == [200, 200] and answers[0][2] == answers[1][2]
        assert [a[1]["X-Cache-Status"] for a in answers] == ["MISS", "HIT"]
        assert answers[0][1]["Cache-Control"] == "public, max-age=3"
        other = get(f"{cdn.url}/{CMAF}?_HLS_msn={msn + 1}&_HLS_part={part + 1}")
        assert other[0] == 200 and other[1]["X-Cache-Status"] == "MISS"
        # A part a viewer fetched is a HIT for the next one.
        number = PART.findall(other[2].decode())[-1]
        parts = [get(f"{cdn.url}/hls/cmaf/part-{number}.m4s") for _ in range(2)]
        assert [p[1]["X-Cache-Status"] for p in parts] == ["MISS", "HIT"] and parts[0][2] == parts[1][2]

        # The standard (TS) playlist is kept max-age=1: a HIT is never older than that. Each answer
        # is compared with the last one the cache fetched from the ingest (MISS/EXPIRED): when it
        # ended against when the HIT was asked for — never more than the max-age plus nginx's clock
        # tick (it counts whole seconds and expires an entry once its second has passed: 2 s).
        live_playlist(cdn.url, TS)
        fetched: tuple[float, bytes] | None = None
        hits = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            asked = time.monotonic()
            code, headers, body = get(f"{cdn.url}/{TS}")
            assert code == 200 and headers["Cache-Control"] == "public, max-age=1", headers
            if headers["X-Cache-Status"] == "HIT" and fetched is None:
                pass  # the entry live_playlist() had fetched: when, this loop did not see
            elif headers["X-Cache-Status"] == "HIT":
                assert body == fetched[1]
                assert asked - fetched[0] <= 2.0, "a live playlist served older than its max-age"
                hits += 1
            else:
                assert headers["X-Cache-Status"] in ("MISS", "EXPIRED"), headers
                fetched = (time.monotonic(), body)
            time.sleep(0.1)
        assert hits > 0, "the live playlist is cached (the ingest is shielded)"
        # ...and the cache follows the live edge: the ingest's newest segment now is soon in its copy.
        newest = SEGMENT.findall(get(f"{ingest.http}/{TS}")[2].decode())[-1]
        wait_for(lambda: newest in get(f"{cdn.url}/{TS}")[2].decode(), timeout=10, what=f"{newest} via the cache")

        # A 404 is cached a second: it shields the ingest, then the object is asked for again.
        gone = [get(f"{cdn.url}/hls/cmaf/seg-000001.m4s") for _ in range(2)]
        assert [g[0] for g in gone] == [404, 404] and gone[0][1]["Cache-Control"] == "public, max-age=1"
        assert [g[1]["X-Cache-Status"] for g in gone] == ["MISS", "HIT"]


def test_a_signed_stream_is_never_stored_by_a_shared_cache(ingest_factory, tmp_path: Path):
    key = os.urandom(32)
    keys = write_playback_keys(tmp_path / "keys" / "playback-keys", key, None)
    playback: dict[str, Any] = {"namespace": "media", "access": "signed", "keysDir": str(keys)}
    ingest = ingest_factory(hls=HLS, playback=playback)
    token = sign(key, "media/cam", int(time.time()) + 600)
    forged = sign(os.urandom(32), "media/cam", int(time.time()) + 600)
    # Keyed without the token: had the ingest let it store anything, every token would share it.
    with Publisher(ingest.rtmp_url(), size="320x180", rate=25, gop_seconds=1), SharedCache(ingest.http) as cdn:
        ingest.wait_live()
        signed = f"{cdn.url}/t/{token}"
        text = live_playlist(signed)
        paths = [CMAF, "hls/cmaf/" + SEGMENT.findall(text)[-1], "hls/cmaf/init.mp4", "player"]
        for path in paths:
            for _ in range(2):  # the same viewer twice: private, so never a HIT
                code, headers, body = get(f"{signed}/{path}")
                assert code == 200 and body, (path, code)
                assert headers["Cache-Control"].startswith("private"), (path, headers)
                assert headers["Surrogate-Control"] == "no-store"
                assert headers["X-Cache-Status"] != "HIT", (path, headers)
            # Right after, through the same cache and the same cache key: no token, a forged token.
            missing = get(f"{cdn.url}/{path}")
            assert missing[0] == 401 and missing[1]["Cache-Control"] == "no-store", (path, missing[:2])
            other = get(f"{cdn.url}/t/{forged}/{path}")
            assert other[0] == 403 and other[1]["Cache-Control"] == "no-store", (path, other[:2])
        assert cdn.stored() == [], "a signed stream's answer was stored by the shared cache"
