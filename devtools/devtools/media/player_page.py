"""What the harness asks of the streamops player page (operator/streamops/media/ingest/player) in a
browser, through the window.streamopsPlayer hook the page exposes for tests and benchmarks."""

from __future__ import annotations

# Truthy once the page plays the live stream: live state, not paused, frames decoded and buffered.
PLAYING = (
    "(() => { const p = window.streamopsPlayer; return !!p && p.state === 'live' && !p.video.paused "
    "&& p.video.currentTime > 0 && p.video.readyState >= 3; })()"
)
# The page's <video> element, for devtools.media.clock_source.glass_to_glass.
VIDEO = "window.streamopsPlayer.video"
