"""The product's pages against the real ingest worker with WebRTC (`streamops worker ingest` with
`webrtc`, devtools.media.workers.Ingest): the publish page publishes Chromium's camera over WHIP
with a pasted key (a wrong key: the 401 message; an encoder already live: the 409 message), the
player page plays the stream over WebRTC in its default (auto) mode, and falls back to HLS when the
stream serves no WHEP or the WebRTC connection fails, and plays through the stream's TURN server
(coturn in the namespace) when told to use relays only. Pages are used under the stream's path prefix.

Confinement as in test_webrtc.py: the worker (with its FFmpeg and streamops-webrtc), the RTMP
publisher and Chromium run in a network namespace whose only interface is `lo`, and every ICE
candidate of every offer and answer is checked to be on 127.0.0.0/8. Glass-to-glass is printed,
never asserted as a time."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from devtools.http_client import http_get
from devtools.media.browser import Browser, Page
from devtools.media.clock_source import ClockPublisher, glass_to_glass
from devtools.media.player_page import PLAYING_HLS, PLAYING_WEBRTC, PUBLISHER, start_publishing
from devtools.media.turn_server import TurnServer, turnserver_available
from devtools.media.webrtc_browser import candidates, webrtc_browser_options
from devtools.media.webrtc_camera import ClockCamera
from devtools.media.webrtc_stand import namespace_name
from devtools.media.workers import Ingest
from devtools.waits import eventually

from devtools import netns
from tests.browser.webrtc_requirements import webrtc_marks

pytestmark = webrtc_marks("the ingest", timeout=240)

PREFIX = "/streams/default/cam"
PLAYER = "window.streamopsPlayer"


@dataclass
class IngestStand:
    netns: str
    ingest: Ingest
    browser: Browser
    tmp: Path

    @property
    def base(self) -> str:
        return self.ingest.http + PREFIX

    def open(self, path: str) -> Page:
        """A tab on {base}/{path}, brought to the front (a hidden tab presents no video frames)."""
        page = self.browser.open(f"{self.base}/{path}")
        page.call("Page.bringToFront")
        return page

    def front(self, page: Page) -> None:
        page.call("Page.bringToFront")

    def status(self) -> dict[str, Any]:
        with netns.entered(self.netns):
            return self.ingest.status()

    def wait_status(self, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status()
            return status if check(status) else None

        return eventually(probe, timeout, 0.2, what)

    def rtmp_publisher(self) -> ClockPublisher:
        return ClockPublisher(self.ingest.rtmp_url(), netns=self.netns, log_path=self.tmp / "publisher.log")


@pytest.fixture
def ingest_stand(tmp_path: Path) -> Iterator[Callable[..., IngestStand]]:
    """make(webrtc=..., **config): a namespace with only lo, the clock camera, the ingest worker with
    WebRTC (its ports, FFmpeg and streamops-webrtc in the namespace) and a WebRTC-enabled Chromium.
    Everything stopped by PID, the namespace deleted, after the test."""
    with contextlib.ExitStack() as stack:

        def make(webrtc: dict[str, Any] | None = None, **config: Any) -> IngestStand:
            ns = stack.enter_context(netns.loopback_namespace(namespace_name("soingest")))
            camera = stack.enter_context(ClockCamera(tmp_path / "camera.y4m"))
            workdir = tmp_path / "ingest"
            workdir.mkdir()
            with netns.entered(ns):  # its ports are picked, and it runs, in the namespace
                ingest = Ingest(workdir, webrtc={} if webrtc is None else webrtc, pathPrefix=PREFIX, **config)
                stack.callback(ingest.stop)
                ingest.start()
                wired = page_options(ingest)
            wanted = ingest.config["webrtc"].get("whep", True)
            assert wired.get("whep") == ("whep" if wanted else None), (
                "the worker does not tell the player page whether it serves WHEP: routes.player_options must pass "
                f"PlayerOptions(whep=..., whip=...) from the config; the page's options: {wired}"
            )
            options = webrtc_browser_options(camera.path)
            browser = stack.enter_context(Browser(netns=ns, log_path=tmp_path / "chromium.log", **options))
            stack.callback(lambda: [page.close() for page in list(browser.pages)])  # pagehide first
            return IngestStand(ns, ingest, browser, tmp_path)

        yield make
    for name in netns.names():
        assert not name.startswith(f"soingest{os.getpid()}-"), f"namespace {name} outlived the test"


def page_options(ingest: Ingest) -> dict[str, Any]:
    """The options blob of the worker's player page (called in the ingest's namespace)."""
    status, body = http_get(f"{ingest.http}{PREFIX}/player", timeout=5)
    assert status == 200, status
    found = re.search(r'id="streamops-player-options">(.*?)</script>', body.decode(), re.S)
    assert found, body[:500]
    options: dict[str, Any] = json.loads(found.group(1))
    return options


def assert_loopback_candidates(sdp: str | None, what: str) -> list[str]:
    """At least one UDP candidate, every one a host candidate on 127.0.0.0/8."""
    assert sdp, f"{what}: no SDP"
    found = candidates(sdp)
    assert any(c.transport == "udp" for c in found), f"{what}: no UDP candidate in\n{sdp}"
    assert all(c.on_loopback for c in found), f"{what}: a candidate off loopback: {[str(c) for c in found]}"
    assert {c.type for c in found} == {"host"}, f"{what}: {[str(c) for c in found]}"
    return [str(c) for c in found]


def press_start(page: Page, key: str) -> None:
    """Type the key into the publish page and press Start, as a person would."""
    page.evaluate(start_publishing(key), await_promise=False)


def shown(page: Page, expression: str) -> Any:
    return page.evaluate(expression, await_promise=False)


def advances(page: Page, seconds: float = 2) -> None:
    """The player's <video> keeps playing: its time grows by `seconds` and pictures are decoded (a
    state waited for, not a rate sampled: at load ≈15 Chromium played 0.66 s in a 2 s sample)."""
    video = f"{PLAYER}.video"
    before = shown(page, f"[{video}.currentTime, {video}.getVideoPlaybackQuality().totalVideoFrames]")
    page.wait_until(
        f"{video}.currentTime >= {before[0] + seconds}"
        f" && {video}.getVideoPlaybackQuality().totalVideoFrames >= {before[1] + 10 * seconds}",
        timeout=10 * seconds,
    )


def test_publish_page_goes_live_with_the_right_key_and_the_player_plays_it_over_webrtc(ingest_stand):
    stand = ingest_stand(source={"push": {"protocols": ["rtmp", "srt", "whip"]}})
    publisher = stand.open("publish")
    publisher.wait_until(f"{PUBLISHER}.preview", timeout=15)

    # A wrong key: the 401 message, nothing live
    press_start(publisher, "not-the-key")
    publisher.wait_until(f"{PUBLISHER}.state === 'failed'", timeout=20)
    assert shown(publisher, f"{PUBLISHER}.status") == 401
    assert "Wrong stream key" in shown(publisher, "document.getElementById('message').textContent")
    assert not stand.status()["live"]

    # The right key: live over WHIP
    press_start(publisher, Ingest.KEY)
    publisher.wait_until(f"{PUBLISHER}.state === 'live'", timeout=20)
    offer, answer = shown(publisher, f"[{PUBLISHER}.offer, {PUBLISHER}.answer]")
    print("WHIP offer:", assert_loopback_candidates(offer, "WHIP offer"))
    print("WHIP answer:", assert_loopback_candidates(answer, "WHIP answer"))
    location = shown(publisher, f"{PUBLISHER}.location")
    assert location.startswith(f"{stand.base}/whip/"), location
    assert Ingest.KEY not in shown(publisher, "location.href + JSON.stringify(sessionStorage)")
    status = stand.wait_status(lambda s: s["live"], "the ingest is live with the WHIP publisher", 20)
    assert status["source"] == "whip", status
    publisher.wait_until(f"{PUBLISHER}.bitrate > 50", timeout=10)
    print("publish page:", shown(publisher, "document.getElementById('bitrate').textContent"))

    # The player page, default mode: WebRTC
    viewer = stand.open("player")
    viewer.wait_until(PLAYING_WEBRTC, timeout=30)
    assert shown(viewer, f"[{PLAYER}.format, {PLAYER}.requested, {PLAYER}.fallback]") == ["webrtc", "auto", None]
    webrtc = shown(viewer, f"{PLAYER}.webrtc")
    assert webrtc["status"] == 201 and webrtc["location"].startswith(f"{stand.base}/whep/"), webrtc
    print("WHEP offer:", assert_loopback_candidates(webrtc["offer"], "WHEP offer"))
    assert_loopback_candidates(webrtc["answer"], "WHEP answer")
    first = viewer.wait_until(f"{PLAYER}.firstFrame", timeout=10)
    print(f"first frame: {first}")
    assert first["mode"] == "webrtc"
    advances(viewer)
    stats = viewer.evaluate(f"{PLAYER}.webrtc.stats()")
    assert "H264" in stats["video"]["codec"] and stats["audio"]["packets"] > 0, stats
    sample = glass_to_glass(viewer, f"{PLAYER}.video", 3)
    print("publish page -> ingest -> player page (WebRTC) glass-to-glass:", sample.summary())
    assert sample.decoded >= 0.5 * sample.presented > 0, sample.summary()

    # Stop: the ingest is no longer live; the player says so (its WHEP session waits for the next source)
    publisher.evaluate("document.getElementById('stop').click()", await_promise=False)
    publisher.wait_until(f"{PUBLISHER}.state === 'stopped'", timeout=10)
    stand.wait_status(lambda s: not s["live"], "the ingest is not live once the publish page stopped", 20)
    viewer.wait_until(f"{PLAYER}.state === 'offline'", timeout=20)
    sockets = stand.browser.sockets()
    assert sockets and all(s.on_loopback for s in sockets), [s for s in sockets if not s.on_loopback]


def test_player_falls_back_to_hls_when_the_stream_serves_no_whep(ingest_stand):
    """WebRTC for WHIP only (whep: false): the page plays HLS, the format=webrtc page waits."""
    stand = ingest_stand(webrtc={"whep": False}, source={"push": {"protocols": ["rtmp", "srt", "whip"]}})
    with stand.rtmp_publisher():
        stand.wait_status(lambda s: s["live"], "the ingest is live with the RTMP publisher", 20)
        forced = stand.open("player?format=webrtc")
        viewer = stand.open("player")
        viewer.wait_until(PLAYING_HLS, timeout=60)
        print("player:", shown(viewer, f"[{PLAYER}.mode, {PLAYER}.fallback, {PLAYER}.webrtc.status]"))
        advances(viewer)
        plays_on = glass_to_glass(viewer, f"{PLAYER}.video", 5)
        print("RTMP -> HLS glass-to-glass:", plays_on.summary())
        assert plays_on.waiting == 0 and plays_on.decoded >= 0.5 * plays_on.presented > 0, plays_on.summary()
        assert shown(viewer, f"{PLAYER}.stalls") == 0
        # forced WebRTC: no HLS, offline
        assert shown(forced, f"[{PLAYER}.mode, {PLAYER}.state]") == ["webrtc", "offline"]

        # the publish page with an encoder already live: the 409 message
        publisher = stand.open("publish")
        publisher.wait_until(f"{PUBLISHER}.preview", timeout=15)
        press_start(publisher, Ingest.KEY)
        publisher.wait_until(f"{PUBLISHER}.state === 'failed'", timeout=20)
        assert shown(publisher, f"{PUBLISHER}.status") == 409
        assert "Someone else is publishing" in shown(publisher, "document.getElementById('message').textContent")
        assert stand.status()["source"] == "rtmp"


def test_player_falls_back_to_hls_when_the_webrtc_connection_fails(ingest_stand):
    """An RTMP source played over WebRTC (the worker feeds it to the component); the component's ICE
    ports then drop every packet (iptables in the namespace): ICE disconnects, and after 5 s the page
    plays HLS instead, for good. The stream takes no WHIP: the publish page says so."""
    stand = ingest_stand(hls={"latencyMode": "low"})
    with stand.rtmp_publisher():
        stand.wait_status(lambda s: s["live"], "the ingest is live with the RTMP publisher", 20)
        viewer = stand.open("player")
        viewer.wait_until(PLAYING_WEBRTC, timeout=40)
        webrtc = shown(viewer, f"{PLAYER}.webrtc")
        print("WHEP offer:", assert_loopback_candidates(webrtc["offer"], "WHEP offer"))
        assert_loopback_candidates(webrtc["answer"], "WHEP answer")
        advances(viewer)
        print("WebRTC:", viewer.evaluate(f"{PLAYER}.webrtc.stats()"))

        ports = stand.ingest.ports
        for proto, port in (("udp", ports["webrtcUdp"]), ("tcp", ports["webrtcTcp"])):
            netns.run(stand.netns, ["iptables", "-A", "INPUT", "-p", proto, "--dport", str(port), "-j", "DROP"])
        dropped_at = time.monotonic()
        viewer.wait_until(PLAYING_HLS, timeout=60)
        print(f"HLS after {time.monotonic() - dropped_at:.1f} s:", shown(viewer, f"{PLAYER}.fallback"))
        assert "ICE" in shown(viewer, f"{PLAYER}.fallback")
        advances(viewer)
        assert shown(viewer, f"{PLAYER}.lowLatency") is True

        publisher = stand.open("publish")
        message = publisher.wait_until("document.getElementById('message').textContent", timeout=10)
        assert "does not take WHIP" in message, message
        assert shown(publisher, "document.getElementById('start').disabled") is True


@pytest.mark.skipif(not turnserver_available(), reason="needs coturn's turnserver (hack/deps.sh)")
def test_the_player_plays_through_the_streams_turn_server_when_relays_only_are_allowed(ingest_stand, tmp_path):
    """playback.webrtc.iceServersSecretRef's file names a TURN server (coturn on 127.0.0.1 in the
    namespace); the player page, forced to relays (?ice=relay: iceTransportPolicy relay, what a
    viewer behind a network that lets nothing else through ends up with), plays over WebRTC through
    it: its offer has relay candidates only, the selected pair is local relay, coturn allocated."""
    ice_file = tmp_path / "ice-servers.json"
    stand = ingest_stand(webrtc={"iceServersFile": str(ice_file)})
    with TurnServer(tmp_path / "turn", netns=stand.netns) as turn, stand.rtmp_publisher():
        ice_file.write_text(json.dumps([turn.ice_server()]))
        stand.wait_status(lambda s: s["live"] and s["webrtc"]["whepLive"], "WHEP live with the RTMP publisher", 30)
        assert stand.status()["webrtc"].get("iceServersProblem") is None
        viewer = stand.open("player?format=webrtc&ice=relay")
        viewer.wait_until(PLAYING_WEBRTC, timeout=40)
        webrtc = shown(viewer, f"{PLAYER}.webrtc")
        found = candidates(webrtc["offer"])
        assert found and {c.type for c in found} == {"relay"} and all(c.on_loopback for c in found), found
        print("WHEP offer (relay only):", [str(c) for c in found])
        advances(viewer)
        stats = viewer.evaluate(f"{PLAYER}.webrtc.stats()")
        print("WebRTC through TURN:", stats)
        assert stats["selectedPairTypes"]["local"] == "relay", stats
        assert turn.relayed() >= 1, turn.log_tail()
        # The 201's Link header named the same server: the page keeps it for its next connections.
        assert shown(viewer, "window.streamopsRtc.linkServers") == [
            {"urls": turn.ice_server()["urls"][0], "username": turn.username, "credential": turn.credential}
        ]
        sample = glass_to_glass(viewer, f"{PLAYER}.video", 3)
        print("RTMP -> ingest -> TURN -> player page (WebRTC) glass-to-glass:", sample.summary())
        assert turn.credential not in stand.ingest.logs()
    sockets = stand.browser.sockets()
    assert sockets and all(s.on_loopback for s in sockets), [s for s in sockets if not s.on_loopback]
