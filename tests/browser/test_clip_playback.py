"""A clip plays in Chromium: the clipper cuts the last seconds of a real ingest's DVR (keyframe
copy and exact re-encode), a static site serves each MP4 in a <video> element, and the browser
decodes it (readyState ≥ 2: HAVE_CURRENT_DATA) and plays it (currentTime advances, no error)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.media.browser import Browser
from devtools.media.clipper import ClipperWorker, dvr_seconds
from devtools.media.peers import Publisher
from devtools.waits import wait_for

PAGE = """<!doctype html><meta charset="utf-8">
<video id="v" src="%s" muted playsinline autoplay></video>
<script>
  const v = document.getElementById('v');
  window.played = { error: null };
  v.addEventListener('error', () => {
    window.played.error = v.error ? v.error.code + ' ' + v.error.message : 'error';
  });
</script>
"""


def test_clips_play_in_chromium(browser: Browser, ingest_factory: Any, static_site: Any, tmp_path: Any) -> None:
    ingest = ingest_factory(dvr={"enabled": True, "durationSeconds": 30}, hls={"segmentSeconds": 1})
    playlist = f"{ingest.http}/hls/ts/index.m3u8"
    with Publisher(ingest.rtmp_url(), size="426x240", rate=25, gop_seconds=1, video_bitrate="400k"):
        ingest.wait_live()
        wait_for(lambda: dvr_seconds(playlist) >= 5, timeout=30, interval=0.5)
        now = datetime.now(UTC)
        workers = [
            ClipperWorker(tmp_path / mode, mode, playlist, now - timedelta(seconds=4), now, mode=mode).start()
            for mode in ("keyframe", "exact")
        ]
        try:
            results = [w.finished() for w in workers]
        finally:
            for w in workers:
                w.stop()
    for worker, result in zip(workers, results, strict=True):
        assert result["state"] == "succeeded", (result, worker.logs()[-2000:])
        name = f"{worker.config['mode']}.mp4"
        (static_site.root / name).write_bytes(worker.video_file(result).read_bytes())
        (static_site.root / f"{name}.html").write_text(PAGE % name)
        page = browser.open(static_site.url(f"{name}.html"))
        try:
            page.wait_until("document.getElementById('v').readyState >= 2", timeout=20)
            page.wait_until("document.getElementById('v').currentTime > 1.0", timeout=20)
            state = page.evaluate("({error: window.played.error, duration: document.getElementById('v').duration})")
            assert state["error"] is None, (state, page.console_tail())
            assert abs(state["duration"] - result["video"]["durationSeconds"]) < 0.2, state
        finally:
            page.close()
