"""A WHIP publisher that lowers its resolution mid-session, as browsers do under load, on a stream
without a transcoding ladder (issue 41, item 8; docs/design/webrtc.md, "Resolution changes of a
WHIP publisher"). The hosted platform's "constant transcoding with an initial given resolution" is
a rule of its transcoder, and streamops keeps it where it transcodes (the ladder's renditions keep
their sizes: tests/media/test_whip.py). Without a ladder the source is served as sent: the player
page (hls.js in Chromium) plays on through the change, at the new size, without an error or a
stall."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devtools.media.browser import Browser
from devtools.media.player_page import PLAYING_HLS
from devtools.media.whip_publisher import FileRtpSender, WhipPublisher, resolution_switch
from devtools.media.workers import Ingest
from devtools.waits import wait_for

WHIP_STREAM = {"source": {"push": {"protocols": ["whip"]}}, "publisherTimeoutSeconds": 30}
FRAMES = "window.streamopsPlayer.video.getVideoPlaybackQuality().totalVideoFrames"
WIDTH = "window.streamopsPlayer.video.videoWidth"


def test_the_player_plays_on_when_a_whip_publisher_without_a_ladder_lowers_its_resolution(
    browser: Browser, ingest_factory: Callable[..., Ingest], tmp_path: Path
) -> None:
    ingest = ingest_factory(
        webrtc={"whep": False}, dvr={"enabled": False}, hls={"segmentSeconds": 1}, screenshots={"enabled": False},
        **WHIP_STREAM,
    )  # fmt: skip
    wait_for(lambda: (ingest.status().get("webrtc") or {}).get("running"), timeout=15, what="the WebRTC component")
    media = resolution_switch(tmp_path, seconds=(8, 8))
    publisher = WhipPublisher(ingest.whip_url, tmp_path / "whip", token=Ingest.KEY)
    publisher.source = FileRtpSender(publisher, media)
    with publisher:
        publisher.wait_connected(timeout=15)
        ingest.wait_live(timeout=10)
        page = browser.open(f"{ingest.http}/player?format=hls")
        try:
            page.wait_until(PLAYING_HLS, timeout=30)
            assert page.evaluate(WIDTH, await_promise=False) == 1280
            wait_for(lambda: page.evaluate(WIDTH, await_promise=False) == 640, timeout=20, what="the 640x360 part")
            before = page.evaluate(FRAMES, await_promise=False)
            # The picture moves on (a count reached within a deadline, not a 2 s sample of the frame
            # rate, which a loaded machine's browser misses now and then).
            wait_for(lambda: page.evaluate(FRAMES, await_promise=False) >= before + 40, 20, 0.2, "40 more frames")
            state = page.evaluate(
                "({state: window.streamopsPlayer.state, error: window.streamopsPlayer.error || null, "
                "height: window.streamopsPlayer.video.videoHeight})",
                await_promise=False,
            )
            assert state == {"state": "live", "error": None, "height": 360}, state
        finally:
            page.close()
