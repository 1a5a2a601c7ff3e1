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


# From now on, every request the page makes (Resource Timing, through a PerformanceObserver: the
# page's own buffer keeps 250 entries, ≈25 s of LL-HLS) and each 'waiting' of its video, for what a
# stall is explained by (request_timeline). Idempotent: a second call restarts the record.
WATCH_REQUESTS = """(() => {
  if (window.streamopsRequestObserver) window.streamopsRequestObserver.disconnect();
  window.streamopsRequests = [];
  window.streamopsWaiting = [];
  window.streamopsWatchedFrom = performance.now();
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      window.streamopsRequests.push({
        name: e.name, start: e.startTime, duration: e.duration, connect: e.connectEnd - e.connectStart,
        firstByte: e.responseStart - e.requestStart, body: e.responseEnd - e.responseStart,
        protocol: e.nextHopProtocol, reused: e.connectStart === e.fetchStart && e.connectEnd === e.fetchStart,
      });
    }
  });
  observer.observe({ type: 'resource' });
  window.streamopsRequestObserver = observer;
  if (!window.streamopsWaitingListener) {
    window.streamopsWaitingListener = () => window.streamopsWaiting.push(performance.now());
    window.streamopsPlayer.video.addEventListener('waiting', window.streamopsWaitingListener);
  }
})()"""

REQUEST_RECORD = (
    "({requests: window.streamopsRequests || [], waiting: window.streamopsWaiting || [], "
    "from: window.streamopsWatchedFrom || 0})"
)


def watch_requests(page: Any) -> None:
    """Record the page's requests and its video's 'waiting' events from now on (WATCH_REQUESTS)."""
    page.evaluate(WATCH_REQUESTS, await_promise=False)


def request_timeline(page: Any, slow_ms: float = 1000.0, limit: int = 30) -> str:
    """Since watch_requests: how many requests, by protocol, the slowest ones (over `slow_ms`: when,
    how long, and where the time went: connecting, the server's first byte, the body) and each
    'waiting' of the video, in time order (seconds since watch_requests). A connect of ≈1 s or 3 s
    is a SYN sent again (nothing answered the first); a first byte late is the path or the server
    holding the answer."""
    record = page.evaluate(REQUEST_RECORD, await_promise=False)
    origin = float(record["from"])
    requests = list(record["requests"])
    protocols: dict[str, int] = {}
    for r in requests:
        protocols[r["protocol"] or "?"] = protocols.get(r["protocol"] or "?", 0) + 1
    slow = sorted((r for r in requests if r["duration"] > slow_ms), key=lambda r: -r["duration"])[:limit]
    events = [
        (
            (r["start"] - origin) / 1000,
            f"{r['name'].rsplit('/', 1)[-1][:80]} {r['duration']:.0f} ms (connect {r['connect']:.0f}, first byte "
            f"{r['firstByte']:.0f}, body {r['body']:.0f}{', reused connection' if r['reused'] else ''})",
        )
        for r in slow
    ]
    events += [((t - origin) / 1000, "video 'waiting'") for t in record["waiting"]]
    lines = [f"{len(requests)} requests ({protocols}); over {slow_ms:.0f} ms: {len(slow)}"]
    lines += [f"t+{t:.2f}s {what}" for t, what in sorted(events)]
    return "\n  ".join(lines)
