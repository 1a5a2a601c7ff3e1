"""dash.js on the player page (?format=dash) in headless Chromium across a publisher's reconnect
(continuity.py, dash_periods.py): the served MPD keeps its availabilityStartTime and gains a Period
for the new session, and dash.js plays into it without an error and without the page restarting its
engine (before, each session's MPD replaced the last with a new availabilityStartTime: a player
restart at best). endListOnStop off, as a 24/7 channel has it: the MPD never goes static between the
sessions. The MPD itself, ffprobe and every URL: tests/media/test_dash_continuity.py."""

from __future__ import annotations

from devtools.media.browser import Browser
from devtools.media.clock_source import ClockPublisher
from devtools.media.player_page import PLAYING, VIDEO

SHORT = {"hls": {"segmentSeconds": 1, "endListOnStop": False}, "dvr": {"enabled": True, "durationSeconds": 30}}
PLAYER = "window.streamopsPlayer"
DASHJS = f"{PLAYER}.engine"
PERIOD = f"(s => s && s.getStreamInfo().id)({DASHJS}.getActiveStream())"


def test_dash_js_plays_on_into_the_next_sessions_period(browser: Browser, ingest_factory):
    ingest = ingest_factory(dash=True, **SHORT)
    with ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher-1.log"):
        ingest.wait_live()
        page = browser.open(f"{ingest.http}/player?format=dash")
        page.wait_until(PLAYING, timeout=40)
        first = page.evaluate(PERIOD, await_promise=False)
        page.wait_until(f"{VIDEO}.currentTime > 2", timeout=20)
    try:
        with ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher-2.log"):
            ingest.wait_live()
            page.wait_until(f"(p => p && p !== {first!r})({PERIOD})", timeout=40)
            played = page.evaluate(f"{VIDEO}.currentTime", await_promise=False)
            page.wait_until(f"{VIDEO}.currentTime > {played} + 2 && !{VIDEO}.paused", timeout=20)
            api = page.evaluate(f"(p => [p.starts, p.error, p.state, p.stalls])({PLAYER})", await_promise=False)
            print(f"dash.js across a reconnect: periods {first} → {page.evaluate(PERIOD, await_promise=False)}, "
                  f"starts, error, state, stalls = {api}")  # fmt: skip
            assert api[0] == 1 and api[1] is None and api[2] == "live", f"{api}\n{page.console_tail()}"
    finally:
        page.close()
