"""STUN/TURN servers for WebRTC clients through the real ingest worker (`streamops worker ingest` on
127.0.0.1 running streamops-webrtc, IngestConfig.webrtc.iceServersFile as the kubelet would mount it):
the endpoints' OPTIONS and their 201 answers carry RFC 9725 §4.6 `Link: <turn:…>; rel="ice-server"`
headers, one per URI (WHIP's OPTIONS only with the stream key), the player page carries the servers
and the publish page, open to anyone, none of the TURN credentials (issue 37, finding 5), a changed
file is picked up without a restart,
and a bad one gives nothing and says why in status and the log, never with the credential. No
TURN server is contacted: the URIs name turn.example.com and nothing resolves or dials them."""

from __future__ import annotations

import http.client
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devtools.http_client import http_get, http_request
from devtools.media.peers import Publisher
from devtools.media.playback_keys import write_playback_keys
from devtools.media.workers import Ingest
from devtools.waits import wait_for
from streamops.contract.playback_token import CLOCK_SKEW_SECONDS, sign

KEY = Ingest.KEY
SECRET = "s3cr3t-turn-credential"
ROTATED = "rotated-turn-credential"
SERVERS = [
    {
        "urls": ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"],
        "username": "1700000000:viewer",
        "credential": SECRET,
    }
]
LINKS = [
    '<turn:turn.example.com:3478?transport=udp>; rel="ice-server"; username="1700000000:viewer"; '
    f'credential="{SECRET}"; credential-type="password"',
    '<turns:turn.example.com:5349?transport=tcp>; rel="ice-server"; username="1700000000:viewer"; '
    f'credential="{SECRET}"; credential-type="password"',
]
# A complete offer (ICE credentials, a DTLS fingerprint, BUNDLE) without candidates: the component
# answers it with 201; nothing ever connects.
FINGERPRINT = ":".join(["AB"] * 32)


def full_offer(direction: str) -> bytes:
    lines = [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic: WMS",
    ]
    for mid, media in enumerate(
        (
            ("video 9 UDP/TLS/RTP/SAVPF 102", "a=rtpmap:102 H264/90000", "a=fmtp:102 " + H264_FMTP),
            ("audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1"),
        )
    ):
        lines += [
            f"m={media[0]}",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:Ab3d",
            "a=ice-pwd:abcdefghijklmnopqrstuvwx",
            "a=ice-options:trickle",
            f"a=fingerprint:sha-256 {FINGERPRINT}",
            "a=setup:actpass",
            f"a=mid:{mid}",
            f"a={direction}",
            "a=rtcp-mux",
            *media[1:],
        ]
    return ("\r\n".join(lines) + "\r\n").encode()


H264_FMTP = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"


def links(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """(status, every Link header in order, the other headers, body): urllib's dict keeps one."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request(method, parts.path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers.get_all("Link") or [], dict(response.headers.items()), response.read()
    finally:
        connection.close()


def write_atomically(path: Path, text: str) -> None:
    """As the kubelet swaps a Secret's files: a new file renamed over the old name."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def page_servers(ingest: Ingest, page: str, blob: str) -> Any:
    html = http_get(f"{ingest.http}/{page}")[1].decode()
    found = re.search(rf'<script type="application/json" id="{blob}">(.*?)</script>', html, re.S)
    assert found, f"no {blob} in /{page}"
    return json.loads(found.group(1)).get("iceServers")


def test_whip_and_whep_answers_and_the_pages_carry_the_turn_servers_and_follow_the_file(
    ingest_factory: Callable[..., Ingest], tmp_path: Path
) -> None:
    ice_file = tmp_path / "ice-servers.json"
    write_atomically(ice_file, json.dumps(SERVERS))
    ingest = ingest_factory(
        webrtc={"iceServersFile": str(ice_file)},
        source={"push": {"protocols": ["rtmp", "srt", "whip"]}},
        publisherTimeoutSeconds=2,
    )
    wait_for(lambda: (ingest.status().get("webrtc") or {}).get("running"), timeout=15, what="the WebRTC component")

    for url, auth in ((ingest.whip_url, {"Authorization": f"Bearer {KEY}"}), (ingest.whep_url, {})):
        status, found, headers, _ = links("OPTIONS", url, headers=auth)
        assert status == 204 and found == LINKS, (url, found)
        assert "Link" in headers["Access-Control-Expose-Headers"].split(", ")
    status, found, _, _ = links("OPTIONS", ingest.whip_url)
    assert status == 204 and found == [], "without the key no TURN credential"
    sdp = {"Content-Type": "application/sdp"}
    status, found, _, body = links("POST", ingest.whip_url, full_offer("sendonly"), {**sdp, "Authorization": "x"})
    assert status == 401 and found == [], "no credentials for a refused offer"
    status, found, headers, body = links(
        "POST", ingest.whip_url, full_offer("sendonly"), {**sdp, "Authorization": f"Bearer {KEY}"}
    )
    assert status == 201 and body.startswith(b"v=0") and found == LINKS, (status, body[:200])
    delete = http_request("DELETE", ingest.http + headers["Location"], headers={"Authorization": f"Bearer {KEY}"})
    assert delete[0] == 200
    assert page_servers(ingest, "player", "streamops-player-options") == SERVERS
    assert page_servers(ingest, "publish", "streamops-publish-options") == [], "the publish page is anyone's"

    with Publisher(ingest.rtmp_url(), log_path=tmp_path / "rtmp.log"):
        ingest.wait_live(timeout=15)
        wait_for(lambda: ingest.status()["webrtc"]["whepLive"], timeout=15, what="WHEP live")
        status, found, headers, body = links("POST", ingest.whep_url, full_offer("recvonly"), sdp)
        assert status == 201 and found == LINKS, (status, body[:200])
        assert http_request("DELETE", ingest.http + headers["Location"])[0] == 200

    # A rotated credential reaches the answers and the pages without a restart.
    write_atomically(ice_file, json.dumps([{**SERVERS[0], "credential": ROTATED}]))
    status, found, _, _ = links("OPTIONS", ingest.whep_url)
    assert [link.replace(ROTATED, SECRET) for link in found] == LINKS and ROTATED in found[0]
    assert page_servers(ingest, "player", "streamops-player-options")[0]["credential"] == ROTATED

    # A bad file: no servers, and why (status, log) without the credential.
    write_atomically(ice_file, '[{"urls": ["turn:turn.example.com"], "username": "u", "credential": "' + SECRET)
    assert links("OPTIONS", ingest.whip_url)[1] == []
    assert page_servers(ingest, "publish", "streamops-publish-options") == []
    problem = wait_for(lambda: ingest.status()["webrtc"].get("iceServersProblem"), timeout=5, what="the problem")
    assert problem.startswith(f"{ice_file}: not JSON (line 1, column ") and SECRET not in problem
    logs = ingest.logs()
    assert "WebRTC clients get no STUN/TURN servers" in logs
    assert SECRET not in logs and ROTATED not in logs and KEY not in logs
    assert ingest.status()["webrtc"]["running"], "the component never needed them"


def test_the_player_page_s_turn_credential_ends_with_its_playback_token(
    ingest_factory: Callable[..., Ingest], tmp_path: Path
) -> None:
    """Issue 52, finding 10: the player page of a signed stream handed out a TURN credential for the
    entry's whole TTL (600 s) whatever its token's expiry: a viewer whose token ran out kept a relay
    to use. The page's credential now ends when the gate stops honouring the token (as WHEP's does)."""
    key = os.urandom(32)
    keys = write_playback_keys(tmp_path / "keys", key, None)
    ice_file = tmp_path / "ice-servers.json"
    entry = {"urls": ["turn:turn.example.com:3478?transport=udp"], "authSecret": "a-shared-secret-" + key.hex()}
    write_atomically(ice_file, json.dumps([{**entry, "ttlSeconds": 600}]))
    ingest = ingest_factory(
        webrtc={"iceServersFile": str(ice_file)},
        playback={"namespace": "media", "access": "signed", "keysDir": str(keys)},
    )
    token_end = int(time.time()) + 120
    token = sign(key, "media/cam", token_end)
    for page in (f"t/{token}/player", f"t/{token}/player/"):
        servers = page_servers(ingest, page, "streamops-player-options")
        expires = int(servers[0]["username"].split(":")[0])
        assert expires == token_end + CLOCK_SKEW_SECONDS, (expires - int(time.time()), servers[0]["username"])
