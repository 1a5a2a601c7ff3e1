"""WHEP offers and sessions through the real ingest worker and its streamops-webrtc (issue 37,
finding 4): a client address that floods offers gets 429 with Retry-After (the worker tells the
component who the client is), and on a signed stream a viewer's session ends when its token stops
being honoured, and one token holds at most its cap of sessions (issue 52, finding 4: the worker
names the token to the component). The worker's control API of the component is a unix socket, no
loopback port (issue 52, finding 8: with the host network loopback is the node's). The caps with real
peers and the 5 s expiry of unconnected offers: components/webrtc whep_limits_test.go and
whep_session_caps_test.go. Everything on 127.0.0.1; every process stopped by PID (the fixtures)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devtools.http_client import http_request
from devtools.media.ingest_webrtc import component_control_socket, component_pid
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.webrtc import whep_load_bin
from devtools.media.workers import Ingest
from devtools.ports import LOOPBACK
from devtools.waits import wait_for
from streamops.contract.playback_token import CLOCK_SKEW_SECONDS, sign

SDP = {"Content-Type": "application/sdp"}
# Enough for the component's codec check; the rate limit comes before it, "not live" after it.
OFFER = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n" + (
    b"a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\n"
)
# A complete offer (ICE credentials, a fingerprint) whose peer never exists: answered, then waiting.
DEAD_OFFER = "\r\n".join(
    ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "m=video 9 UDP/TLS/RTP/SAVPF 102",
     "c=IN IP4 0.0.0.0", "a=ice-ufrag:Ab3d", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
     "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0", "a=recvonly", "a=rtcp-mux",
     "a=rtpmap:102 H264/90000", "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
     ""]
).encode()  # fmt: skip
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


def listening_tcp_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its sockets' inodes in /proc/<pid>/net/tcp*)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_control_api_is_a_private_socket_not_a_loopback_port(ingest_factory: Callable[..., Ingest]):
    """Issue 52, finding 8: any process on loopback (the node's, with worker.hostNetwork) could drive
    the control API, which trusts its headers. Its only TCP listener now is ICE-TCP (public anyway)."""
    ingest = component_running(ingest_factory(webrtc={}))
    pid = component_pid(ingest)
    assert pid is not None
    assert listening_tcp_ports(pid) == {ingest.ports["webrtcTcp"]}, "no control API on a TCP port"
    control = component_control_socket(ingest)
    assert control is not None, "the worker gives --control unix:PATH"
    assert stat.S_ISSOCK(control.stat().st_mode) and stat.S_IMODE(control.stat().st_mode) == 0o600
    assert stat.S_IMODE(control.parent.stat().st_mode) == 0o700, "a directory no one else may enter"


def test_a_signed_viewers_session_ends_when_its_token_does(ingest_factory: Callable[..., Ingest], tmp_path: Path):
    key = os.urandom(32)
    playback = {"namespace": "media", "access": "signed", "keysDir": str(write_playback_keys(tmp_path / "keys", key))}
    # One session per token (issue 52, finding 4; the chart's default is 5).
    webrtc = {"whepMaxViewersPerToken": 1}
    ingest = component_running(ingest_factory(webrtc=webrtc, playback=playback, pathPrefix=PREFIX))
    with Publisher(ingest.rtmp_url(), size="640x360", gop_seconds=1, log_path=tmp_path / "rtmp.log"):
        ingest.wait_live()
        wait_for(lambda: ingest.status()["webrtc"]["whepLive"], timeout=15, what="WHEP live")
        expires = int(time.time()) + 6
        session_end = expires + CLOCK_SKEW_SECONDS  # the gate honours the token until then
        token = sign(key, "media/cam", expires)
        seen: list[tuple[float, int]] = []
        # whep-load (not watch_whep, which runs its whole window): stopped as soon as the status says
        # the session ended; the window, past the token's end, only bounds a session that outlives it.
        argv = [str(whep_load_bin()), "--target", "whep", "--url", f"{ingest.http}{PREFIX}/t/{token}",
                "--viewers", "1", "--window", f"{session_end - time.time() + 8:.1f}s", "--settle", "0.5s",
                "--join-timeout", "10s", "--ice-ip", LOOPBACK]  # fmt: skip
        viewer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        capped: list[tuple[int, dict[str, str], bytes]] = []
        try:
            while viewer.poll() is None:
                seen.append((time.time(), int(ingest.status()["webrtc"]["whepViewers"])))
                if seen[-1][1] == 1 and not capped:
                    # The token's one session plays: another offer with it is refused, one with
                    # another token (the same address) is answered.
                    capped.append(http_request("POST", f"{ingest.http}{PREFIX}/t/{token}/whep", DEAD_OFFER, SDP))
                    other = sign(key, "media/cam", expires + 60)
                    capped.append(http_request("POST", f"{ingest.http}{PREFIX}/t/{other}/whep", DEAD_OFFER, SDP))
                if capped and seen[-1][1] == 0:
                    break  # played, then ended: what the test waits for
                time.sleep(0.2)
        finally:
            viewer.kill()
            viewer.wait(timeout=10)
    watching = [at for at, viewers in seen if viewers == 1]
    assert watching and min(watching) < expires, ("the viewer played while its token was valid", seen)
    ended = [at for at, viewers in seen if viewers == 0 and at > min(watching)]
    assert ended, ("the session outlived its token", seen)
    assert min(ended) >= session_end - 1, "not before the gate stops honouring the token (1 s: whole seconds)"
    assert [status for status, _, _ in capped] == [429, 201], capped
    _, headers, body = capped[0]
    assert b"with this playback token" in body and int(headers["Retry-After"]) >= 1
    assert token not in ingest.logs()
