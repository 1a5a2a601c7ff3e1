"""The player page in headless Chromium with the codecs Enhanced RTMP brings (issue 40,
docs/design/enhanced-rtmp.md): AV1 plays (hls.js, fMP4, dav1d inside Chromium); HEVC, which
Chromium on Linux decodes only with a hardware decoder this machine has not, is not shown as live:
the page stays offline and says the browser cannot decode it, instead of flapping."""

from __future__ import annotations

import time
from typing import Any

from devtools.media.browser import Browser
from devtools.media.peers import Publisher
from devtools.media.player_page import PLAYING, assert_decodes


def test_av1_plays_and_hevc_says_this_browser_cannot_decode_it(browser: Browser, ingest_factory: Any) -> None:
    av1 = ingest_factory("av1", dvr={"enabled": False}, hls={"segmentSeconds": 1})  # 3 segments, then the page plays
    with Publisher(av1.rtmp_url(), codec="av1", size="640x360", log_path=av1.workdir / "publisher.log"):
        av1.wait_live()
        page = browser.open(f"{av1.http}/player")
        try:
            page.wait_until(PLAYING, timeout=60)
            assert_decodes(page, width=640)
        finally:
            page.close()

    hevc = ingest_factory("hevc", dvr={"enabled": False}, hls={"segmentSeconds": 1})
    with Publisher(hevc.rtmp_url(), codec="hevc", size="640x360", log_path=hevc.workdir / "publisher.log"):
        hevc.wait_live()
        page = browser.open(f"{hevc.http}/player")
        try:
            said = "(window.streamopsPlayer.error || '').startsWith('this browser cannot decode')"
            page.wait_until(said, timeout=60)
            states = []
            for _ in range(6):  # no flapping to live and back while it waits to try again (it did every 2 s)
                states.append(page.evaluate("window.streamopsPlayer.state", await_promise=False))
                time.sleep(0.5)
            assert set(states) == {"offline"}, states
            overlay = page.evaluate("document.getElementById('overlay').textContent", await_promise=False)
            assert "this browser cannot decode this stream's video" in overlay, overlay
        finally:
            page.close()
