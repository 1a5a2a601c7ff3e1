"""An encrypted signed LL-HLS stream (spec.playback.encryption, docs/design/protection.md) played by
the player page's hls.js in headless Chromium through the edge (Debian's nginx + its Lua module) in
front of a real ingest with real FFmpeg: the page plays across a key rotation, its key requests go
through the edge to the ingest's gate with the page's token (the key URI is relative: inside
/t/<token>/), a key request without the token is refused, and the segments the page fetched are
served from the edge's cache while no key ever is."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_request
from devtools.media.browser import Browser
from devtools.media.edge import Edge, missing_packages
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.player_page import PLAYING
from streamops.contract.playback_token import Refusal, sign

pytestmark = pytest.mark.skipif(bool(missing_packages()), reason=f"needs {' '.join(missing_packages())}")

NAMESPACE, NAME = "media", "cam"
PREFIX = f"/streams/{NAMESPACE}/{NAME}"
CACHE = "X-Streamops-Edge-Cache"
# The keys and segments the page's hls.js fetched (Resource Timing: every request of the page).
FETCHED = "performance.getEntriesByType('resource').map((e) => e.name)"
KEY_ID = re.compile(r"/key/([0-9a-f]+-\d+)(?:\?|$)")  # the page's requests carry its _sid
KEY_JS = r"/\/key\/[0-9a-f]+-\d+(\?|$)/"
SEGMENT = re.compile(r"/hls/cmaf/(seg-\d+\.m4s)(?:\?|$)")
PART = re.compile(r"/hls/cmaf/(part-\d+\.m4s)(?:\?|$)")


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    return http_request("GET", url, timeout=15)


def test_hls_js_plays_an_encrypted_ll_hls_stream_through_the_edge(
    browser: Browser, ingest_factory: Any, tmp_path: Path
):
    signing = os.urandom(32)
    keys = write_playback_keys(tmp_path / "playback-keys", signing)
    playback = {"namespace": NAMESPACE, "access": "signed", "keysDir": str(keys)}
    # One-second segments and the shortest rotation: a new key every 10 s, crossed while the page plays.
    ingest = ingest_factory(
        playback=playback,
        pathPrefix=PREFIX,
        hls={"latencyMode": "low", "segmentSeconds": 1},
        encryption={"rotateSeconds": 10},
    )
    edge = Edge(tmp_path / "edge", NAMESPACE, ingest.http, keys_dir=keys, routes={PREFIX: NAME})
    token = sign(signing, f"{NAMESPACE}/{NAME}", int(time.time()) + 600)
    signed = f"{edge.http}{PREFIX}/t/{token}"
    edge.start()
    try:
        with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1, log_path=ingest.workdir / "publisher.log"):
            ingest.wait_live()
            page = browser.open(f"{signed}/player")
            try:
                page.wait_until(PLAYING, timeout=60)
                assert page.evaluate("window.streamopsPlayer.lowLatency", await_promise=False) is True

                # Two keys fetched: the page went on across a rotation.
                fetched = page.wait_until(
                    f"(() => {{ const f = {FETCHED}; const k = new Set(f.filter((u) => {KEY_JS}.test(u))); "
                    "return k.size >= 2 ? f : null; })()",
                    timeout=40,
                )
                start = page.evaluate("window.streamopsPlayer.video.currentTime", await_promise=False)
                page.wait_until(f"window.streamopsPlayer.video.currentTime > {start + 2}", timeout=20)
                assert page.evaluate("window.streamopsPlayer.state", await_promise=False) == "live"
            finally:
                page.close()

            kids = [m.group(1) for url in fetched if (m := KEY_ID.search(url))]
            segments = [m.group(1) for url in fetched if (m := SEGMENT.search(url))]
            assert kids and all(f"{PREFIX}/t/{token}/key/" in url for url in fetched if "/key/" in url)

            # The key without the token: refused (the ingest's gate, through the edge); with it: served, never kept.
            code, headers, body = get(f"{edge.http}{PREFIX}/key/{kids[-1]}")
            assert code == 401 and body.decode().strip() == Refusal.MISSING.body, (code, body)
            answers = [get(f"{signed}/key/{kids[-1]}") for _ in range(2)]
            assert [a[0] for a in answers] == [200, 200] and len(answers[0][2]) == 16
            assert answers[0][1]["Cache-Control"] == "private, no-store"
            assert all(a[1].get(CACHE) != "hit" for a in answers), [a[1] for a in answers]

            # A segment the page fetched: from the edge's cache, encrypted as the page got it.
            if segments:
                code, headers, _ = get(f"{signed}/hls/cmaf/{segments[-1]}")
                assert code == 200 and headers.get(CACHE) == "hit", headers
            part = next(m.group(1) for url in reversed(fetched) if (m := PART.search(url)))
            code, headers, _ = get(f"{signed}/hls/cmaf/{part}")
            assert code == 200 and headers.get(CACHE) == "hit", headers
    finally:
        edge.stop()
