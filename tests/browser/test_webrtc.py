"""streamops-webrtc (components/webrtc) with headless Chromium on both ends: a page publishes its
camera (Chromium's fake device reading the clock Y4M of devtools.media.webrtc_camera) and its fake
microphone over WHIP, a second page plays the stream over WHEP. Everything runs in a network
namespace whose only interface is `lo` (devtools.media.webrtc_stand), and every ICE candidate of
every offer and answer is checked to be on 127.0.0.0/8. Glass-to-glass is printed, never asserted
as a time (bench/results/latency.md has the numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.media.browser import Page
from devtools.media.clock_source import glass_to_glass
from devtools.media.webrtc_browser import candidates, media_codecs
from devtools.media.webrtc_pages import (
    CONNECTED,
    PLAYING,
    VIDEO,
    exchange_summary,
    play_expression,
    publish_expression,
)
from devtools.media.webrtc_stand import WebRtcStand, webrtc_stand
from devtools.waits import eventually

from devtools import netns
from tests.browser.webrtc_requirements import webrtc_marks

pytestmark = webrtc_marks("the component", timeout=120)


@pytest.fixture
def stand(tmp_path: Path) -> Iterator[WebRtcStand]:
    with webrtc_stand(tmp_path / "webrtc") as started:
        yield started
    assert not netns.exists(started.netns), "the namespace outlived the test"
    for process in (started.browser, started.component, started.camera):
        assert not process.running, f"{type(process).__name__} still runs"


def assert_loopback_candidates(sdp: str, what: str) -> list[str]:
    """Every candidate on 127.0.0.0/8 (and at least one, or the check proves nothing); no server
    reflexive or relay candidate (no STUN, no TURN). Returns them as text, for the log."""
    found = candidates(sdp)
    assert any(c.transport == "udp" for c in found), f"{what}: no UDP candidate in\n{sdp}"
    assert all(c.on_loopback for c in found), f"{what}: a candidate off loopback: {[str(c) for c in found]}"
    assert {c.type for c in found} == {"host"}, f"{what}: {[str(c) for c in found]}"
    return [str(c) for c in found]


def publish(stand: WebRtcStand) -> tuple[Page, dict[str, Any]]:
    page = stand.open_page()
    result = page.evaluate(publish_expression(stand.pages.whip_url), timeout=20)
    assert result["status"] == 201, f"WHIP: {exchange_summary(result)}\n{page.console_tail()}"
    assert result["location"].startswith("/whip/"), exchange_summary(result)
    return page, result


def frames_decoded(page: Page) -> int:
    stats = page.evaluate("streamopsWebRtc.stats()")
    return int((stats.get("inbound-rtp-video") or {}).get("framesDecoded") or 0)


def test_chromium_publishes_over_whip_and_another_page_plays_over_whep(stand: WebRtcStand):
    publisher, published = publish(stand)

    # H.264 and Opus only, as setCodecPreferences asked (the component needs packetization-mode=1)
    codecs = media_codecs(published["offer"])
    assert set(codecs) == {"video", "audio"}, codecs
    assert codecs["video"] and set(codecs["video"]) == {"H264"}, codecs
    assert codecs["audio"] == ["opus"], codecs
    assert "packetization-mode=1" in published["offer"]
    print("publisher offer:", assert_loopback_candidates(published["offer"], "WHIP offer"))
    print("WHIP answer:", assert_loopback_candidates(published["answer"], "WHIP answer"))
    publisher.wait_until(CONNECTED, timeout=15)
    eventually(lambda: stand.status()["publisherConnected"], 10, 0.1, "the component sees the publisher")

    viewer = stand.open_page()
    played = viewer.evaluate(play_expression(stand.pages.whep_url), timeout=20)
    assert played["status"] == 201, f"WHEP: {exchange_summary(played)}\n{viewer.console_tail()}"
    assert played["location"].startswith("/whep/"), exchange_summary(played)
    print("viewer offer:", assert_loopback_candidates(played["offer"], "WHEP offer"))
    assert_loopback_candidates(played["answer"], "WHEP answer")
    viewer.wait_until(PLAYING, timeout=15)
    first = viewer.evaluate("streamopsWebRtc.firstFrame", timeout=5)
    print(f"first frame {first['sincePostMs']:.0f} ms after the WHEP POST")

    # The viewer's <video> advances: frames decoded, time moving, a picture
    decoded, played_at = frames_decoded(viewer), viewer.evaluate(f"{VIDEO}.currentTime")
    # 2 s more of media and 20 more frames decoded (a state, not a rate sampled over 2 s).
    eventually(
        lambda: frames_decoded(viewer) >= decoded + 20 and viewer.evaluate(f"{VIDEO}.currentTime") >= played_at + 2,
        timeout=20, what="the viewer's <video> advancing",
    )  # fmt: skip
    # the camera's 640x360, or less: Chromium's encoder scales down while its bandwidth estimate
    # ramps up or the CPU is busy (seen: 320x180 at load average 3.5), its steps rounded to whole
    # pixels (3/16 of 360 is 67.5)
    width, height = viewer.evaluate(f"[{VIDEO}.videoWidth, {VIDEO}.videoHeight]")
    assert 0 < width <= 640 and abs(width * 9 - height * 16) <= 16, (width, height)
    # ... and its pictures are the publisher's: the clock burned into the camera's frames reads back
    sample = glass_to_glass(viewer, VIDEO, 3)
    print("WHIP -> WHEP glass-to-glass:", sample.summary())
    assert sample.decoded >= 0.5 * sample.presented > 0, sample.summary()
    stats = viewer.evaluate("streamopsWebRtc.stats()")
    assert stats["inbound-rtp-audio"]["packets"] > 0, f"no Opus from the fake microphone: {stats}"
    assert "H264" in stats["inbound-rtp-video"]["codec"], stats

    status = stand.status()
    assert status["live"] and status["source"] == "whip", status
    assert status["publisherConnected"] and status["publisherSession"] in published["location"], status
    assert status["viewers"] == 1 and status["viewerSessions"] == 1, status
    assert status["packetsOut"] > 0 and status["viewerPacketsDropped"] == 0, status

    # DELETE of each session resource ends it
    assert viewer.evaluate("streamopsWebRtc.stop()") == 200
    eventually(lambda: stand.status()["viewerSessions"] == 0, 10, 0.1, "the viewer session ended")
    assert publisher.evaluate("streamopsWebRtc.stop()") == 200
    eventually(lambda: not stand.status()["live"], 10, 0.1, "the component is not live once WHIP ended")

    # Nothing of Chromium's left loopback (in a namespace with only lo, nothing could)
    sockets = stand.browser.sockets()
    assert sockets and all(s.on_loopback for s in sockets), [s for s in sockets if not s.on_loopback]


def test_a_whep_viewer_without_a_publisher_gets_the_components_404(stand: WebRtcStand):
    viewer = stand.open_page()
    played = viewer.evaluate(play_expression(stand.pages.whep_url), timeout=20)
    assert played["status"] == 404, exchange_summary(played)
    assert played["body"].strip() == "the stream is not live", exchange_summary(played)
    assert played["location"] is None
    assert viewer.evaluate("streamopsWebRtc.connectionState") == "closed"
    assert_loopback_candidates(played["offer"], "WHEP offer")
    status = stand.status()
    assert not status["live"] and status["viewerSessions"] == 0, status
