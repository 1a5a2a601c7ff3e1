"""WHEP offers and sessions through the real ingest worker and its streamops-webrtc (issue 37,
finding 4): a client address that floods offers gets 429 with Retry-After (the worker tells the
component who the client is), and on a signed stream a viewer's session ends when its token stops
being honoured. The cap and the 5 s expiry of unconnected offers: components/webrtc
whep_limits_test.go. Everything on 127.0.0.1; every process stopped by PID (the fixtures)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools.http_client import http_request
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.webrtc import watch_whep
from devtools.media.workers import Ingest
from devtools.waits import wait_for
from streamops.contract.playback_token import CLOCK_SKEW_SECONDS, sign

SDP = {"Content-Type": "application/sdp"}
# Enough for the component's codec check; the rate limit comes before it, "not live" after it.
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n" + (
    b"a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\n"
)
PREFIX = "/streams/media/cam"


def component_running(ingest: Ingest) -> Ingest:
    wait_for(lambda: (ingest.status().get("webrtc") or {}).get("running"), timeout=15, what="the WebRTC component")
    return ingest


def test_a_flood_of_offers_from_one_address_gets_429_with_retry_after(ingest_factory: Callable[..., Ingest]):
    ingest = component_running(ingest_factory(webrtc={}))
    answers = [http_request("POST", ingest.whep_url, OFFER, SDP) for _ in range(12)]
    statuses = [status for status, _, _ in answers]
    # The burst (10) is answered (nothing is live: 404); then the address waits.
    assert statuses[:10] == [404] * 10 and 429 in statuses[10:], statuses
    _, headers, body = next(a for a in answers if a[0] == 429)
    assert int(headers["Retry-After"]) >= 1 and b"too many WHEP offers" in body
    assert headers["Access-Control-Allow-Origin"] == "*", "a page on another origin reads the refusal"


def test_a_signed_viewers_session_ends_when_its_token_does(ingest_factory: Callable[..., Ingest], tmp_path: Path):
    key = os.urandom(32)
    playback = {"namespace": "media", "access": "signed", "keysDir": str(write_playback_keys(tmp_path / "keys", key))}
    ingest = component_running(ingest_factory(webrtc={}, playback=playback, pathPrefix=PREFIX))
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1, log_path=tmp_path / "rtmp.log"):
        ingest.wait_live()
        wait_for(lambda: ingest.status()["webrtc"]["whepLive"], timeout=15, what="WHEP live")
        expires = int(time.time()) + 6
        session_end = expires + CLOCK_SKEW_SECONDS  # the gate honours the token until then
        token = sign(key, "media/cam", expires)
        seen: list[tuple[float, int]] = []
        result: dict[str, Any] = {}

        def watch() -> None:
            result.update(watch_whep(f"{ingest.http}{PREFIX}/t/{token}", window=session_end - time.time() + 8))

        viewer = threading.Thread(target=watch)
        viewer.start()
        try:
            while viewer.is_alive():
                seen.append((time.time(), int(ingest.status()["webrtc"]["whepViewers"])))
                time.sleep(0.2)
        finally:
            viewer.join()
    watching = [at for at, viewers in seen if viewers == 1]
    assert watching and min(watching) < expires, ("the viewer played while its token was valid", seen, result)
    ended = [at for at, viewers in seen if viewers == 0 and at > min(watching)]
    assert ended, ("the session outlived its token", seen, result)
    assert min(ended) >= session_end - 1, "not before the gate stops honouring the token (1 s: whole seconds)"
    assert token not in ingest.logs()
