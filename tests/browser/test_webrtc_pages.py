"""The product's WebRTC pages (streamops.media.ingest.player: the player page's WHEP and the publish
page's WHIP) in headless Chromium against streamops-webrtc alone, through the stand-in of
tests/browser/webrtc_standin.py (the worker's WHIP/WHEP face without FFmpeg). Chromium, the component
and the stand-in run in a network namespace whose only interface is `lo`; every ICE candidate of every
offer and answer is checked to be on 127.0.0.0/8. The same pages against the real ingest worker:
test_webrtc_ingest.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from devtools.media.browser import Browser, Page
from devtools.media.clock_source import glass_to_glass
from devtools.media.player_page import PLAYING_WEBRTC, PUBLISHER, start_publishing
from devtools.media.webrtc import WebRtcComponent
from devtools.media.webrtc_browser import candidates, webrtc_browser_options
from devtools.media.webrtc_camera import ClockCamera
from devtools.media.webrtc_stand import namespace_name
from devtools.waits import eventually

from devtools import netns
from tests.browser.webrtc_requirements import webrtc_marks
from tests.browser.webrtc_standin import KEY, ProductPages

pytestmark = webrtc_marks("the component", timeout=150)

PLAYER = "window.streamopsPlayer"


@dataclass
class Stand:
    netns: str
    component: WebRtcComponent
    pages: ProductPages
    browser: Browser

    def open(self, url: str) -> Page:
        """A tab brought to the front (a hidden one presents no video frames)."""
        page = self.browser.open(url)
        page.call("Page.bringToFront")
        return page


@pytest.fixture
def stand(tmp_path: Path) -> Iterator[Stand]:
    name = namespace_name("sopages")
    with (
        netns.loopback_namespace(name) as ns,
        ClockCamera(tmp_path / "camera.y4m") as camera,
        WebRtcComponent(tmp_path, netns=ns) as component,
        ProductPages(component.control_url, netns=ns) as pages,
        Browser(netns=ns, log_path=tmp_path / "chromium.log", **webrtc_browser_options(camera.path)) as browser,
    ):
        yield Stand(ns, component, pages, browser)
        for page in list(browser.pages):  # pagehide DELETEs before the component goes
            with contextlib.suppress(Exception):
                page.close()
    assert not netns.exists(name), "the namespace outlived the test"
    assert not component.running and not browser.running and not camera.running


def assert_loopback_candidates(sdp: str | None, what: str) -> list[str]:
    """At least one UDP candidate, every one a host candidate on 127.0.0.0/8."""
    assert sdp, f"{what}: no SDP"
    found = candidates(sdp)
    assert any(c.transport == "udp" for c in found), f"{what}: no UDP candidate in\n{sdp}"
    assert all(c.on_loopback for c in found), f"{what}: a candidate off loopback: {[str(c) for c in found]}"
    assert {c.type for c in found} == {"host"}, f"{what}: {[str(c) for c in found]}"
    return [str(c) for c in found]


def publish_from_page(stand: Stand, key: str = KEY) -> Page:
    """The publish page, the key typed in, Start pressed (as a person would: the form's submit)."""
    page = stand.open(stand.pages.publish_url)
    page.wait_until(f"{PUBLISHER}.preview", timeout=15)
    page.evaluate(start_publishing(key), await_promise=False)
    return page


def frames_decoded(page: Page) -> int:
    stats = page.evaluate(f"{PLAYER}.webrtc.stats()")
    return int((stats.get("video") or {}).get("framesDecoded") or 0)


def test_publish_page_refuses_a_wrong_key_then_goes_live_and_the_player_plays_it_over_webrtc(stand: Stand):
    publisher = publish_from_page(stand, key="not-the-key")
    publisher.wait_until(f"{PUBLISHER}.state === 'failed'", timeout=20)
    assert publisher.evaluate(f"{PUBLISHER}.status", await_promise=False) == 401
    message = publisher.evaluate("document.getElementById('message').textContent", await_promise=False)
    assert "Wrong stream key" in message, message
    assert not stand.component.status()["live"]
    assert "key" not in publisher.evaluate("location.href", await_promise=False)

    # The right key: live
    publisher.evaluate(start_publishing(KEY), await_promise=False)
    publisher.wait_until(f"{PUBLISHER}.state === 'live'", timeout=20)
    offer = publisher.evaluate(f"{PUBLISHER}.offer", await_promise=False)
    print("publisher offer:", assert_loopback_candidates(offer, "WHIP offer"))
    assert_loopback_candidates(publisher.evaluate(f"{PUBLISHER}.answer", await_promise=False), "WHIP answer")
    assert "H264" in offer and "opus" in offer and "VP8" not in offer and "VP9" not in offer
    location = publisher.evaluate(f"{PUBLISHER}.location", await_promise=False)
    assert location.startswith(stand.pages.url.rstrip("/") + "/live/cam/whip/"), location
    # the key is nowhere but in the Authorization header: not in the URL, not in storage
    assert KEY not in publisher.evaluate("location.href + JSON.stringify(sessionStorage)", await_promise=False)
    # bitrate shows once the stats have run twice
    publisher.wait_until(f"{PUBLISHER}.bitrate > 50", timeout=10)
    print("publisher:", publisher.evaluate("document.getElementById('bitrate').textContent", await_promise=False))

    viewer = stand.open(stand.pages.player_url)
    viewer.wait_until(PLAYING_WEBRTC, timeout=20)
    assert viewer.evaluate(f"{PLAYER}.format", await_promise=False) == "webrtc"
    webrtc = viewer.evaluate(f"{PLAYER}.webrtc", await_promise=False)
    assert webrtc["status"] == 201 and webrtc["location"].startswith(stand.pages.url.rstrip("/") + "/live/cam/whep/")
    print("viewer offer:", assert_loopback_candidates(webrtc["offer"], "WHEP offer"))
    assert_loopback_candidates(webrtc["answer"], "WHEP answer")
    first = viewer.wait_until(f"{PLAYER}.firstFrame", timeout=10)
    print(f"first frame: {first}")
    assert first["mode"] == "webrtc"
    decoded, played_at = frames_decoded(viewer), viewer.evaluate(f"{PLAYER}.video.currentTime", await_promise=False)
    # It plays on: 2 s more of media and 20 more frames decoded (a state, not a rate sampled over 2 s).
    eventually(
        lambda: frames_decoded(viewer) >= decoded + 20
        and viewer.evaluate(f"{PLAYER}.video.currentTime", await_promise=False) >= played_at + 2,
        timeout=20, what="the viewer playing on",
    )  # fmt: skip
    sample = glass_to_glass(viewer, f"{PLAYER}.video", 3)
    print("publish page -> player page (WebRTC) glass-to-glass:", sample.summary())
    assert sample.decoded >= 0.5 * sample.presented > 0, sample.summary()

    status = stand.component.status()
    assert status["source"] == "whip" and status["publisherConnected"] and status["viewers"] == 1, status

    # Stop on the publish page: DELETE, the component is free; the player waits (offline) on its session
    publisher.evaluate("document.getElementById('stop').click()", await_promise=False)
    publisher.wait_until(f"{PUBLISHER}.state === 'stopped'", timeout=10)
    assert ("DELETE", location.removeprefix(stand.pages.url.rstrip("/")), 200) in stand.pages.requests
    viewer.wait_until(f"{PLAYER}.state === 'offline'", timeout=15)
    # the player leaves: pagehide DELETEs its WHEP session
    viewer.navigate("about:blank")
    eventually(  # sent on pagehide (keepalive): it may reach the server just after the navigation
        lambda: any(m == "DELETE" and "/whep/" in p and s == 200 for m, p, s in stand.pages.requests),
        timeout=5,
        what=f"the player's DELETE of its WHEP session in {stand.pages.requests}",
    )
    sockets = stand.browser.sockets()
    assert sockets and all(s.on_loopback for s in sockets)


def test_player_waits_on_whep_404_and_plays_webrtc_once_the_stream_is_live(stand: Stand):
    viewer = stand.open(stand.pages.player_url)
    viewer.wait_until(f"{PLAYER}.webrtc.status === 404", timeout=15)
    assert viewer.evaluate(f"{PLAYER}.state", await_promise=False) == "offline"
    assert viewer.evaluate(f"{PLAYER}.mode", await_promise=False) == "webrtc"
    assert viewer.evaluate(f"{PLAYER}.fallback", await_promise=False) is None
    assert_loopback_candidates(viewer.evaluate(f"{PLAYER}.webrtc.offer", await_promise=False), "WHEP offer")
    # retried every few seconds
    viewer.wait_until(f"{PLAYER}.webrtc.attempts >= 2", timeout=15)

    publisher = publish_from_page(stand)
    publisher.wait_until(f"{PUBLISHER}.state === 'live'", timeout=20)
    viewer.call("Page.bringToFront")
    viewer.wait_until(PLAYING_WEBRTC, timeout=20)
    print("first frame:", viewer.wait_until(f"{PLAYER}.firstFrame", timeout=10))
    assert viewer.evaluate(f"{PLAYER}.fallback", await_promise=False) is None


def test_publish_page_says_what_a_refused_offer_means(stand: Stand):
    """The stand-in answers like the worker for 403, 409 and 406 (the worker's own are in test_webrtc_ingest)."""
    page = stand.open(stand.pages.publish_url)
    page.wait_until(f"{PUBLISHER}.preview", timeout=15)
    messages = {}
    for status in (403, 409, 406, 400):
        messages[status] = page.evaluate(
            f"""(async () => {{
  const original = window.fetch;
  window.fetch = async (url, init) => init && init.method === 'POST'
    ? new Response('refused by the test', {{ status: {status} }}) : original(url, init);
  try {{
    document.getElementById('key').value = 'k';
    await {PUBLISHER}.start();
    return [{PUBLISHER}.state, {PUBLISHER}.message];
  }} finally {{ window.fetch = original; }}
}})()""",
            timeout=20,
        )
    print(messages)
    assert all(state == "failed" for state, _ in messages.values()), messages
    assert "does not take WHIP" in messages[403][1]
    assert "Someone else is publishing" in messages[409][1]
    assert "H.264 video and Opus audio" in messages[406][1] and "H.264 video and Opus audio" in messages[400][1]
