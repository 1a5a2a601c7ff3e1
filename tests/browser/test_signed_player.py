"""A signed stream's player page in headless Chromium against a real ingest and FFmpeg
(docs/design/playback.md): the page at its signed URL plays LL-HLS (hls.js), every request it makes
stays inside its `/t/<token>/` path (the ingest refuses none), and the page's random `_sid` is the
viewer session the ingest counts; the unsigned URL shows the refusal. Over WebRTC, the WHEP session's
Location stays under the token (so the page's DELETE carries it), in test_webrtc_ingest.py's stand."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from devtools.http_client import http_get
from devtools.media.browser import Browser
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.player_page import PLAYING, PLAYING_WEBRTC
from devtools.waits import eventually
from streamops.contract.playback_token import Refusal, session_hash, sign

from tests.browser.test_webrtc_ingest import ingest_stand  # noqa: F401  (the fixture)
from tests.browser.webrtc_requirements import webrtc_marks

PREFIX = "/streams/media/cam"


def refusals(ingest: Any) -> float:
    text = http_get(ingest.control + "/metrics")[1].decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("streamops_playback_refusals_total{")
    )


def played_on(page: Any, manifest: str, loads: int) -> None:
    """The page played on past PLAYING: `loads` more loads of its playlist or MPD (URLs the player
    built from what it read, not only its first ones) and one more second of video (it was a fixed
    3 s: an LL-HLS page reloads its playlist every part, dash.js its MPD every 2 s)."""
    count = (
        "performance.getEntriesByType('resource')"
        f".filter((e) => new URL(e.name).pathname.endsWith({manifest!r})).length"
    )
    seen, played = page.evaluate(f"[{count}, window.streamopsPlayer.video.currentTime]", await_promise=False)
    page.wait_until(
        f"{count} >= {seen + loads} && window.streamopsPlayer.video.currentTime >= {played + 1}", timeout=20
    )


def counted(ingest: Any, sid: str, kind: str) -> dict[str, Any]:
    """The ingest's viewers once it counts the page's session (a state, polled)."""

    def viewers() -> dict[str, Any] | None:
        found: dict[str, Any] = ingest.status()["viewers"]
        return found if session_hash(sid) in found["sessions"][kind] else None

    return eventually(viewers, 10, 0.2, f"the ingest counts the page's {kind} session")


def test_the_signed_player_page_plays_ll_hls_inside_its_token_and_counts_its_session(
    browser: Browser, ingest_factory: Any, tmp_path: Path
):
    key = os.urandom(32)
    keys = write_playback_keys(tmp_path / "playback-keys", key)
    playback = {"namespace": "media", "access": "signed", "keysDir": str(keys)}
    ingest = ingest_factory(playback=playback, pathPrefix=PREFIX, hls={"latencyMode": "low"})
    token = sign(key, "media/cam", int(time.time()) + 600)
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1, log_path=ingest.workdir / "publisher.log"):
        ingest.wait_live()
        page = browser.open(f"{ingest.http}{PREFIX}/t/{token}/player")
        try:
            page.wait_until(PLAYING, timeout=60)
            assert page.evaluate("window.streamopsPlayer.lowLatency", await_promise=False) is True
            sid = page.evaluate("window.streamopsPlayer.sid", await_promise=False)
            assert len(sid) == 16, sid
            played_on(page, ".m3u8", 2)
            viewers = counted(ingest, sid, "llhls")
            assert session_hash(sid) in viewers["sessions"]["llhls"], viewers
            assert viewers["counts"]["llhls"] == 1 and viewers["counts"]["hls"] == 0, viewers
            assert refusals(ingest) == 0, "every URL the page and hls.js built resolved inside /t/<token>/"
        finally:
            page.close()

        unsigned = browser.open(f"{ingest.http}{PREFIX}/player")
        try:
            text = unsigned.wait_until("document.body && document.body.innerText", timeout=20)
            assert Refusal.MISSING.body in text, text
        finally:
            unsigned.close()
    assert token not in ingest.logs()


def test_the_signed_player_page_plays_dash_inside_its_token_with_its_session_on_every_request(
    browser: Browser, ingest_factory: Any, tmp_path: Path
):
    """dash.js's requests (MPD, init, segments: its request interceptor adds the _sid) are one session."""
    key = os.urandom(32)
    keys = write_playback_keys(tmp_path / "playback-keys", key)
    playback = {"namespace": "media", "access": "signed", "keysDir": str(keys)}
    ingest = ingest_factory(playback=playback, dash=True)
    token = sign(key, "media/cam", int(time.time()) + 600)
    with Publisher(ingest.rtmp_url(), size="640x360", log_path=ingest.workdir / "publisher.log"):
        ingest.wait_live()
        page = browser.open(f"{ingest.http}/t/{token}/player?format=dash")
        try:
            page.wait_until(PLAYING, timeout=60)
            assert page.evaluate("window.streamopsPlayer.format", await_promise=False) == "dash"
            sid = page.evaluate("window.streamopsPlayer.sid", await_promise=False)
            played_on(page, ".mpd", 1)
            viewers = counted(ingest, sid, "dash")
            assert viewers["sessions"]["dash"] == [session_hash(sid)], viewers
            assert viewers["counts"]["hls"] == viewers["counts"]["llhls"] == 0, viewers
            assert refusals(ingest) == 0, "every URL dash.js built resolved inside /t/<token>/"
        finally:
            page.close()


def webrtc_test(test: Any) -> Any:
    for mark in webrtc_marks("the ingest", timeout=240):
        test = mark(test)
    return test


@webrtc_test
def test_the_player_page_under_a_token_keeps_it_for_its_whep_session(ingest_stand):  # noqa: F811
    stand = ingest_stand()
    token = sign(os.urandom(32), "default/cam", int(time.time()) + 600)  # a public stream: served as it is
    with stand.rtmp_publisher():
        stand.wait_status(lambda s: s["live"], "live", 20)
        viewer = stand.open(f"t/{token}/player")
        try:
            viewer.wait_until(PLAYING_WEBRTC, timeout=30)
            webrtc = viewer.evaluate("window.streamopsPlayer.webrtc", await_promise=False)
            assert webrtc["status"] == 201 and webrtc["location"].startswith(f"{stand.base}/t/{token}/whep/"), webrtc
            stand.wait_status(lambda s: s["webrtc"]["whepViewers"] == 1, "one WHEP viewer", 10)
        finally:
            viewer.close()  # pagehide: the DELETE to the Location
        stand.wait_status(lambda s: s["webrtc"]["whepViewers"] == 0, "the session deleted", 10)
