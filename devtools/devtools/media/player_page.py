"""What the harness asks of the streamops player page (operator/streamops/media/ingest/player) in a
browser, through the window.streamopsPlayer hook the page exposes for tests and benchmarks, and of
its publish page, through window.streamopsPublisher."""

from __future__ import annotations

import json
import time
from typing import Any

# Truthy once the page plays the live stream: live state, not paused, frames decoded and buffered.
PLAYING = (
    "(() => { const p = window.streamopsPlayer; return !!p && p.state === 'live' && !p.video.paused "
    "&& p.video.currentTime > 0 && p.video.readyState >= 3; })()"
)
# Truthy once the page plays the stream over WebRTC (WHEP): a picture with a size, time moving.
PLAYING_WEBRTC = (
    "(() => { const p = window.streamopsPlayer; return !!p && p.mode === 'webrtc' && p.state === 'live' "
    "&& !p.video.paused && p.video.videoWidth > 0 && p.video.currentTime > 0 && p.video.readyState >= 2; })()"
)
# ... over HLS (hls.js), whatever it tried first.
PLAYING_HLS = f"({PLAYING}) && window.streamopsPlayer.mode === 'hls'"
# The page's <video> element, for devtools.media.clock_source.glass_to_glass.
VIDEO = "window.streamopsPlayer.video"

# The publish page: its hook, and an expression that types a key and presses Start (as a person
# would: the form's submit; the key never goes into a URL).
PUBLISHER = "window.streamopsPublisher"


def start_publishing(key: str) -> str:
    """JavaScript for the publish page: the key typed in, Start pressed."""
    typed = f"document.getElementById('key').value = {json.dumps(key)}"
    return f"(() => {{ {typed}; document.getElementById('start').click(); }})()"


FRAMES = "window.streamopsPlayer.video.getVideoPlaybackQuality().totalVideoFrames"


def assert_decodes(page: Any, width: int, seconds: float = 3.0, min_fps: float = 15.0) -> None:
    """The page (playing) decodes and shows at least `min_fps` frames a second over `seconds`, at
    `width` pixels wide: the browser has a decoder for the stream's codec."""
    before = page.evaluate(FRAMES, await_promise=False)
    time.sleep(seconds)
    shown = page.evaluate(FRAMES, await_promise=False) - before
    assert shown >= min_fps * seconds, f"{shown} frames decoded and shown in {seconds} s"
    assert page.evaluate("window.streamopsPlayer.video.videoWidth", await_promise=False) == width
