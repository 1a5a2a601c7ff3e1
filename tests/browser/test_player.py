"""The player page (status.playback.playerUrl) in headless Chromium against a real ingest and FFmpeg:
standard HLS, LL-HLS (hls.js) and DASH (dash.js) play for 20 s without a stall and seek in the DVR
window; a page embedded in an iframe on another origin, opened before the stream is live, goes
offline → live → ended by itself. Glass-to-glass is printed (measured in bench/results/latency.md,
never asserted as a time here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devtools.media.browser import Browser, Page
from devtools.media.clock_source import ClockPublisher, glass_to_glass
from devtools.media.player_page import PLAYING, VIDEO, request_timeline, watch_requests
from devtools.media.workers import Ingest

DVR = {"dvr": {"enabled": True, "durationSeconds": 30}}


# 20 s: ten 2 s segments (forty LL-HLS parts) fetched and shown on time; it was 30 until issue 41's
# Broadcast and regional tests needed the suite's time (≈25 s of the three pages' 90).
PLAY_SECONDS = 20


def plays_without_stall(page: Page, seconds: float = PLAY_SECONDS, context: Callable[[], str] = str) -> None:
    """`seconds` of play without a stall; a stall names the page's slow requests and its 'waiting'
    events in time (request_timeline) and what `context` adds (where the requests went)."""
    stalls = page.evaluate("window.streamopsPlayer.stalls", await_promise=False)
    watch_requests(page)
    sample = glass_to_glass(page, VIDEO, seconds)
    requests = request_timeline(page)
    print(f"{page.evaluate('window.streamopsPlayer.format', await_promise=False)}: {sample.summary()}\n  {requests}")
    if sample.waiting:
        try:
            where = context()
        except Exception as e:  # what explains the stall must not hide it
            where = f"(the stall's context could not be read: {e!r})"
        raise AssertionError(f"stalled: {sample.summary()}\n  {requests}\n{where}\n{page.console_tail()}")
    assert page.evaluate("window.streamopsPlayer.stalls", await_promise=False) == stalls
    # Playback kept up with the clock (a stall or a freeze would leave it behind).
    assert sample.played_seconds >= 0.8 * sample.elapsed_seconds, sample.summary()
    assert sample.decoded >= 0.5 * sample.presented > 0, "the pictures shown are the publisher's"
    assert page.evaluate("window.streamopsPlayer.state", await_promise=False) == "live"


SEEK_BACK = """(async () => {
  const p = window.streamopsPlayer, v = p.video;
  const start = v.seekable.start(0), end = v.seekable.end(v.seekable.length - 1);
  const target = Math.max(start + 1, end - 15);
  const seeked = new Promise((resolve) => v.addEventListener('seeked', resolve, { once: true }));
  v.currentTime = target;
  await seeked;
  // It plays on from there: until one second past the target (a state; it was a fixed 3 s), or
  // 20 s, after which the assertions say where it stuck.
  const deadline = performance.now() + 20000;
  await new Promise((resolve) => {
    const check = () => (v.currentTime >= target + 1 && !v.paused) || performance.now() > deadline;
    const poll = () => (check() ? resolve() : setTimeout(poll, 100));
    poll();
  });
  return { start, end, target, now: v.currentTime, behind: p.behind, paused: v.paused };
})()"""


def seeks_in_the_dvr_window(page: Page) -> None:
    seek = page.evaluate(SEEK_BACK, timeout=30)
    print(f"DVR seek: {seek}")
    assert seek["end"] - seek["start"] >= 20, f"a DVR window of 30 s, {seek}"
    assert not seek["paused"] and seek["target"] - 1 <= seek["now"] <= seek["target"] + 6, seek
    assert seek["behind"] >= 8, f"the page shows it is behind live: {seek}"
    page.evaluate("window.streamopsPlayer.goLive()", await_promise=False)
    page.wait_until("window.streamopsPlayer.behind < 3 && !window.streamopsPlayer.video.paused", timeout=20)


# A seek is tried once the page's seekable range holds 20 s of the DVR window.
DVR_FILLED = (
    "(v => v.seekable.length > 0 && v.seekable.end(v.seekable.length - 1) - v.seekable.start(0) >= 20)"
    "(window.streamopsPlayer.video)"
)


def plays_and_seeks(
    page: Page,
    settings: dict[str, Any],
    query: str,
    timeout: float = 60,
    seconds: float = PLAY_SECONDS,
    context: Callable[[], str] = str,
) -> None:
    """The page plays the format its query asks for (hls.js in low-latency mode exactly when the
    stream is LL-HLS), `seconds` without a stall, and seeks in the DVR window. `context`: what a
    stall's message adds (plays_without_stall)."""
    page.wait_until(PLAYING, timeout=timeout)
    expected = "dash" if "dash" in query else "hls"
    assert page.evaluate("window.streamopsPlayer.format", await_promise=False) == expected
    low = page.evaluate("window.streamopsPlayer.lowLatency", await_promise=False)
    assert low == ("hls" in settings), "hls.js in low-latency mode exactly when the stream is LL-HLS"
    plays_without_stall(page, seconds, context)
    page.wait_until(DVR_FILLED, timeout=40, interval=0.5)
    seeks_in_the_dvr_window(page)


@pytest.fixture(scope="module")
def standard_stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    """The stream the standard HLS and the DASH page play: DASH is one more output of the ingest's
    FFmpeg, the HLS beside it is the same. Live from the first of the two tests to the module's end,
    so the second opens its page on a stream already live with its DVR window full (≈6 s less: the
    ingest's start, the publisher's, the first segments). LL-HLS is another stream (another FFmpeg
    command), started in its own test before this one, so that no second stream loads the host while
    a page's seconds are measured."""
    workdir = tmp_path_factory.mktemp("player") / "ingest"
    workdir.mkdir()
    ingest = Ingest(workdir, **DVR, dash=True)
    try:
        ingest.start()
        with ClockPublisher(ingest.rtmp_url(), log_path=workdir / "publisher.log"):
            ingest.wait_live()
            yield ingest
    finally:
        ingest.stop()


def opened_and_played(browser: Browser, ingest: Ingest, settings: dict[str, Any], query: str) -> None:
    page = browser.open(f"{ingest.http}/player{query}")
    try:
        plays_and_seeks(page, settings, query)
    finally:
        page.close()


@pytest.mark.parametrize(
    ("settings", "query"),
    [({"hls": {"latencyMode": "low"}}, ""), ({}, ""), ({"dash": True}, "?format=dash")],
    ids=["ll-hls", "hls", "dash"],
)
def test_player_page_plays_live_without_stall_and_seeks_in_the_dvr_window(
    browser: Browser, ingest_factory, request: pytest.FixtureRequest, settings, query
):
    if "hls" not in settings:  # standard HLS and DASH: one stream (standard_stream)
        opened_and_played(browser, request.getfixturevalue("standard_stream"), settings, query)
        return
    ingest = ingest_factory(**DVR, **settings)
    with ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher.log"):
        ingest.wait_live()
        opened_and_played(browser, ingest, settings, query)


EMBED = """<!doctype html><meta charset="utf-8"><title>embed</title>
<script>window.states = []; addEventListener('message', (e) => {
  if (e.data && e.data.source === 'streamops-player') window.states.push([e.origin, e.data.state]);
});</script>
<iframe src="%s" width="640" height="360" allow="autoplay; fullscreen" allowfullscreen></iframe>
"""


def test_embedded_on_another_origin_the_page_goes_offline_live_ended_by_itself(
    browser: Browser, ingest_factory, static_site
):
    ingest = ingest_factory(hls={"latencyMode": "low"})
    (static_site.root / "index.html").write_text(EMBED % f"{ingest.http}/player")
    page = browser.open(static_site.url("index.html"))
    origin = ingest.http
    try:
        assert page.evaluate("location.origin", await_promise=False) != origin, "the embedding page is elsewhere"
        page.wait_until(f"window.states.some(([o, s]) => o === {origin!r} && s === 'offline')", timeout=20)
        with ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher.log"):
            ingest.wait_live()
            page.wait_until(f"window.states.some(([o, s]) => o === {origin!r} && s === 'live')", timeout=60)
        # The publisher left: ENDLIST, and the embedded page says so.
        page.wait_until("window.states.at(-1)[1] === 'ended'", timeout=30)
        states = [s for _, s in page.evaluate("window.states", await_promise=False)]
        assert states[0] == "offline" and states.index("live") < states.index("ended"), states
    finally:
        page.close()
