"""dash.js on the player page (?format=dash) in headless Chromium against a real ingest, FFmpeg and
clock publisher (issue 41): the transcoded ladder's MPD gives dash.js every rendition as a video
Representation, and it switches between them on request; low-latency DASH (chunked CMAF) of the ladder
plays live in dash.js's low-latency mode without a stall, near its target latency. Small frames, 1 s
segments: the suite's time. The MPD itself read back by ffprobe: tests/media/test_dash_ladder.py."""

from __future__ import annotations

from devtools.media.browser import Browser, Page
from devtools.media.clock_source import ClockPublisher, glass_to_glass
from devtools.media.dash_timeline import timeline_holes
from devtools.media.player_page import PLAYING, VIDEO

LADDER = {
    "renditions": [
        {"name": "360p", "height": 360, "videoBitrateKbps": 600},
        {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
    ]
}
SHORT = {"hls": {"segmentSeconds": 1}, "dvr": {"enabled": True, "durationSeconds": 30}, "transcoding": LADDER}
DASHJS = "window.streamopsPlayer.engine"
LL_SECONDS = 10  # played and sampled without a stall
SETTLED_LATENCY = 1.3  # seconds: dash.js has caught up to its 1 s target
# The page's catch-up (player.js): ±20 % playback rate, a seek back to the target past 3 s of drift.
# What it promises is that bound; how near the target dash.js stays on a given machine is a figure
# (bench/results/latency.md's LL-DASH row: 1.20 s median over 30 s, target ≤ 2 s), not this test's.
TARGET_LATENCY, MAX_DRIFT = 1.0, 3.0
# What a failure is read by: each 'waiting' with the playhead and what is buffered past it (a next
# range past a hole, or only the end of the buffer: starved), each seek, and dash.js's rendition
# switches. A source's frames skipped under load leave no hole in the ingest's files (checked below);
# ci72 (load 13-14) had one wait at a 265 ms buffer hole dash.js's gap controller jumped.
RECORD_WAITS = (
    "window.waits = [];"
    "window.bufferAt = (v) => { const b = v.buffered, t = v.currentTime;"
    " for (let i = 0; i < b.length; i++) if (b.end(i) >= t && b.start(i) <= t + 0.05)"
    " return { end: +b.end(i).toFixed(3), next: i + 1 < b.length ? +b.start(i + 1).toFixed(3) : null };"
    " return { end: null, next: null }; };"
    f"for (const kind of ['waiting', 'seeking']) {VIDEO}.addEventListener(kind, () => waits.push("
    f"[kind, Math.round(performance.now()), +{VIDEO}.currentTime.toFixed(3), bufferAt({VIDEO})]))"
)
VIDEO_REPRESENTATIONS = (
    f"{DASHJS}.getRepresentationsByType('video').map((r) => [r.id, r.height, r.bandwidth, r.codecs])"
)


def switched_to(page: Page, representation: str, height: int) -> None:
    """dash.js asked for one Representation (its ABR off), until the picture is that rendition's. As its
    ABR switches: from the next segment on, what is buffered plays out (a forced switch, which flushes
    the buffer, stalled once in two CI runs at load ≈7 while dash.js fetched the new rendition)."""
    page.evaluate(
        f"{DASHJS}.updateSettings({{ streaming: {{ abr: {{ autoSwitchBitrate: {{ video: false }} }} }} }}),"
        f"{DASHJS}.setRepresentationForTypeById('video', {representation!r}, false)",
        await_promise=False,
    )
    page.wait_until(f"{VIDEO}.videoHeight === {height} && !{VIDEO}.paused", timeout=30)


def test_dash_js_lists_every_rendition_of_the_ladder_and_switches_between_them(browser: Browser, ingest_factory):
    ingest = ingest_factory(dash=True, **SHORT)
    with ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher.log"):
        ingest.wait_live()
        page = browser.open(f"{ingest.http}/player?format=dash")
        try:
            page.wait_until(PLAYING, timeout=40)
            assert page.evaluate("window.streamopsPlayer.format", await_promise=False) == "dash"
            assert page.evaluate("window.streamopsPlayer.lowLatency", await_promise=False) is False
            representations = page.evaluate(VIDEO_REPRESENTATIONS, await_promise=False)
            print(f"dash.js's video Representations: {representations}")
            heights = sorted(height for _, height, _, _ in representations)
            assert heights == [180, 360], f"one per rendition: {representations}"
            assert all(codecs.startswith("avc1.") for *_, codecs in representations), representations
            by_height = {height: rid for rid, height, _, _ in representations}
            stalls = page.evaluate("window.streamopsPlayer.stalls", await_promise=False)
            switched_to(page, by_height[180], 180)
            switched_to(page, by_height[360], 360)
            switched = page.evaluate("window.streamopsPlayer.stalls", await_promise=False)
            print(f"waits while switching: {switched - stalls}")
            # A requested switch may wait once, while the new rendition's first 1 s segment is fetched
            # and appended behind a thin live buffer: seen in 2 of 2 fresh-clone runs at the suite's end,
            # a port flood and two Chromiums beside it. Playing on after it is what the ladder promises.
            assert switched - stalls <= 2, f"{switched - stalls} waits for two switches"
            sample = glass_to_glass(page, VIDEO, 5)
            print(f"after two switches: {sample.summary()}")
            assert sample.waiting == 0 and sample.decoded > 0, f"{sample.summary()}\n{page.console_tail()}"
            assert page.evaluate("window.streamopsPlayer.stalls", await_promise=False) == switched
        finally:
            page.close()


def test_low_latency_dash_of_the_ladder_plays_live_without_a_stall(browser: Browser, ingest_factory):
    ingest = ingest_factory(dash=True, dashLatencyMode="low", **SHORT)
    with ClockPublisher(ingest.rtmp_url(), log_path=ingest.workdir / "publisher.log"):
        ingest.wait_live()
        page = browser.open(f"{ingest.http}/player?format=dash")
        try:
            # When each 'waiting' came, against the sample's window: what a failure here is read by.
            page.evaluate(RECORD_WAITS, await_promise=False)
            page.wait_until(PLAYING, timeout=40)
            assert page.evaluate("window.streamopsPlayer.lowLatency", await_promise=False) is True
            page.evaluate(
                f"{DASHJS}.on('qualityChangeRendered', (e) => waits.push(['rendition', Math.round(performance.now()),"
                " e.mediaType, e.newRepresentation && e.newRepresentation.id]))",
                await_promise=False,
            )
            # dash.js settles on its live delay (the MPD's 1 s target) within a few seconds of the start,
            # catching up at up to 1.2× speed from where it began; the sample starts once it has caught up
            # (its thin buffer while catching up is the start, not the live playback measured here).
            assert page.evaluate(f"{DASHJS}.getTargetLiveDelay()", await_promise=False) == TARGET_LATENCY
            page.wait_until(f"{DASHJS}.getCurrentLiveLatency() < {SETTLED_LATENCY}", timeout=20)
            stalls = page.evaluate(
                "waits.push(['sample', Math.round(performance.now())]), window.streamopsPlayer.stalls",
                await_promise=False,
            )
            sample = glass_to_glass(page, VIDEO, LL_SECONDS)
            # Held by the catch-up, never long past its seek-back bound: waited for, not one sample of a
            # live figure (a fresh-clone CI run read 2.20 s once, without a stall; 5 runs at load 8-17:
            # 0.99-1.08 s); the figure is bench-latency's, over 30 s.
            latency = page.wait_until(
                f"(l => l < {TARGET_LATENCY + MAX_DRIFT} && l)({DASHJS}.getCurrentLiveLatency())", timeout=20
            )
            waits = page.evaluate("waits.push(['sampled', Math.round(performance.now())]), waits", await_promise=False)
            print(f"LL-DASH: {sample.summary()}; dash.js's live latency {latency:.2f} s")
            # The ingest's part: every rendition's timeline without a hole, in each session that has
            # it (the next session's directory may be there already, without a segment).
            representations = page.evaluate(VIDEO_REPRESENTATIONS, await_promise=False)
            holes = {
                f"{dash_dir.parent.name}/{rid}": [str(h) for h in timeline_holes(dash_dir, rid)]
                for dash_dir in (ingest.workdir / "media" / "sessions").glob("*/dash")
                for rid, *_ in representations
                if (dash_dir / f"init-{rid}.m4s").exists()
            }
            assert holes, "no DASH segments in the ingest's sessions"
            assert not any(holes.values()), f"holes in the ingest's DASH timeline: {holes}; {waits}"
            assert sample.waiting == 0, f"stalled: {sample.summary()}; {waits}\n{page.console_tail()}"
            assert page.evaluate("window.streamopsPlayer.stalls", await_promise=False) == stalls, waits
            assert sample.played_seconds >= 0.8 * sample.elapsed_seconds, sample.summary()
            assert sample.decoded >= 0.5 * sample.presented > 0, "the pictures shown are the publisher's"
            assert page.evaluate("window.streamopsPlayer.state", await_promise=False) == "live"
        finally:
            page.close()
