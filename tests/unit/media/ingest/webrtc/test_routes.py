"""Who gets a TURN credential (issue 37, finding 5): only a request that passed the playback gate (a
signed stream: a valid token) or WHIP's auth (the stream key as bearer); the publish page and an
unauthenticated OPTIONS /whip get the STUN URIs only. Credentials from an `authSecret` entry are
derived per session with the TURN REST API scheme coturn implements and end no later than the
token. The routes are wired as the ingest worker wires them (worker.apps) (a real PlaybackGate with keys on
disk, the real IceServersFile), around a runner that stands for the component. Against a real
coturn: tests/media/test_turn_rest_credentials.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from devtools.media.playback_keys import write_playback_keys
from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig, PlayerSettings
from streamops.contract.playback_token import CLOCK_SKEW_SECONDS, sign
from streamops.media.ingest.playback_access import TOKEN_ROUTE, PlaybackGate
from streamops.media.ingest.player.page import add_player_routes
from streamops.media.ingest.routes import page_options
from streamops.media.ingest.webrtc.admission import not_whip, unauthorized
from streamops.media.ingest.webrtc.component import ControlReply, WhepViewer
from streamops.media.ingest.webrtc.ice_servers import (
    IceServerEntry,
    IceServersFile,
    parse_ice_servers,
    turn_rest_credential,
)
from streamops.media.ingest.webrtc.routes import add_webrtc_routes

KEY = "the-stream-key"
STATIC = "static-turn-credential"
AUTH_SECRET = "shared-secret-of-the-turn-server"
PREFIX = "/streams/ns/cam"
STUN = {"urls": ["stun:stun.example.com:3478"]}
TURN_URL = "turn:turn.example.com:3478?transport=udp"
STATIC_TURN = {"urls": [TURN_URL], "username": "viewer", "credential": STATIC}
DERIVED_TURN = {"urls": [TURN_URL], "authSecret": AUTH_SECRET, "ttlSeconds": 600}
log = logging.getLogger("test.turn")


def ingest_config(keys: Path | None) -> IngestConfig:
    body: dict[str, Any] = {
        "stream": "cam",
        "pathPrefix": PREFIX,
        "source": {"push": {"protocols": ["rtmp", "whip"]}},
        "ports": {"webrtcUdp": 8189},
        "webrtc": {},
    }
    if keys is not None:
        body["playback"] = {"namespace": "ns", "access": "signed", "keysDir": str(keys)}
    return IngestConfig.model_validate(body)


class Whip:
    """WHIP as WhipIngest decides it (admission.py), the component's 201 stood for."""

    def __init__(self, config: IngestConfig) -> None:
        self.config = config

    def authorized(self, authorization: str | None) -> bool:
        return not_whip(self.config) is None and unauthorized(authorization, KEY.encode()) is None

    async def publish(self, authorization: str | None, offer: bytes, content_type: str) -> ControlReply:
        if not self.authorized(authorization):
            return ControlReply.text(401, "no", {"WWW-Authenticate": "Bearer"})
        return ControlReply(201, b"v=0\r\n", "application/sdp", "/whip/0123abcd")


class Runner:
    """WebRtcRunner's part the routes use; remembers what each WHEP offer was sent with."""

    def __init__(self, config: IngestConfig, ice_file: Path) -> None:
        self.config = config
        self.ice_servers = IceServersFile(str(ice_file), log)
        self.whip = Whip(config)
        self.offers: list[tuple[str | None, int | None]] = []
        self.token_ids: list[str | None] = []

    async def post_whep(self, offer: bytes, content_type: str, viewer: WhepViewer | None = None) -> ControlReply:
        viewer = viewer or WhepViewer()
        self.offers.append((viewer.client, viewer.session_end))
        self.token_ids.append(viewer.token_id)
        return ControlReply(201, b"v=0\r\n", "application/sdp", "/whep/feedbeef")


def app_of(runner: Runner, gate: PlaybackGate) -> web.Application:
    """The WebRTC and page routes as media/ingest/routes.py wires them."""
    app = web.Application()
    prefixes = ["", PREFIX]
    add_webrtc_routes(app, prefixes, runner, gate.guard)  # type: ignore[arg-type]

    options = page_options(runner.config, runner.ice_servers, PlayerSettings)
    for prefix in (p for base in prefixes for p in (base, base + TOKEN_ROUTE)):
        add_player_routes(app, prefix, options, gate.guard, publish=TOKEN_ROUTE not in prefix)
    return app


def serve(app: web.Application, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def signed_setup(tmp_path: Path, servers: list[dict[str, Any]]) -> tuple[Runner, PlaybackGate, bytes]:
    key = os.urandom(32)
    config = ingest_config(write_playback_keys(tmp_path / "keys", key))
    ice_file = tmp_path / "ice-servers.json"
    ice_file.write_text(json.dumps(servers))
    runner = Runner(config, ice_file)
    return runner, PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log), key


def page_servers(html: str) -> Any:
    found = re.search(r'<script type="application/json" id="streamops-[a-z]+-options">(.*?)</script>', html, re.S)
    assert found
    return json.loads(found.group(1)).get("iceServers")


def turn_links(response: Any) -> list[str]:
    return [link for link in response.headers.getall("Link", []) if link.startswith("<turn")]


STUN_LINK = '<stun:stun.example.com:3478>; rel="ice-server"'


def test_turn_credentials_only_after_the_playback_gate_or_whip_auth(tmp_path: Path):
    runner, gate, key = signed_setup(tmp_path, [STATIC_TURN, STUN])
    token = sign(key, "ns/cam", int(time.time()) + 300)
    bearer = {"Authorization": f"Bearer {KEY}"}

    async def check(client: TestClient[Any, Any]) -> None:
        for base in ("", PREFIX):
            # The finding: the publish page and OPTIONS /whip gave the credential to anyone.
            publish = await client.get(f"{base}/publish")
            assert publish.status == 200 and page_servers(await publish.text()) == [STUN]
            anonymous = await client.options(f"{base}/whip")
            assert anonymous.status == 204 and anonymous.headers.getall("Link") == [STUN_LINK]
            wrong = await client.options(f"{base}/whip", headers={"Authorization": "Bearer not-the-key"})
            assert turn_links(wrong) == []
            # The stream key as bearer: WHIP's auth passed.
            for response in (
                await client.options(f"{base}/whip", headers=bearer),
                await client.post(f"{base}/whip", data=b"v=0", headers=bearer),
            ):
                assert response.status in (201, 204) and len(turn_links(response)) == 1
                assert STATIC in turn_links(response)[0]
            refused = await client.post(f"{base}/whip", data=b"v=0")
            assert refused.status == 401 and "Link" not in refused.headers
            # WHEP and the player: the gate's token.
            for response in (await client.options(f"{base}/whep"), await client.get(f"{base}/player")):
                assert response.status == 401 and "Link" not in response.headers
                assert STATIC not in await response.text()
            for response in (
                await client.options(f"{base}/t/{token}/whep"),
                await client.post(f"{base}/t/{token}/whep", data=b"v=0"),
            ):
                assert response.status in (201, 204) and STATIC in turn_links(response)[0]
            player = await client.get(f"{base}/t/{token}/player")
            assert player.status == 200 and page_servers(await player.text())[0]["credential"] == STATIC

    serve(app_of(runner, gate), check)


def test_a_derived_credential_is_coturns_rest_scheme_per_session_and_ends_with_the_token(tmp_path: Path):
    runner, gate, key = signed_setup(tmp_path, [DERIVED_TURN, STUN])
    token_expires = int(time.time()) + 120  # sooner than the entry's 600 s
    token = sign(key, "ns/cam", token_expires)
    seen: list[str] = []

    async def check(client: TestClient[Any, Any]) -> None:
        options = await client.options(f"{PREFIX}/t/{token}/whep")
        offer = await client.post(f"{PREFIX}/t/{token}/whep", data=b"v=0", headers={"Content-Type": "application/sdp"})
        player = await client.get(f"/t/{token}/player")
        publisher = await client.post("/whip", data=b"v=0", headers={"Authorization": f"Bearer {KEY}"})
        sessions = []
        for response in (options, offer, publisher):
            seen.extend(response.headers.getall("Link"))
            found = re.search(r'username="(\d+):([\w-]+)"; credential="([^"]+)"', turn_links(response)[0])
            assert found, turn_links(response)
            expires, session, credential = int(found[1]), found[2], found[3]
            username = f"{expires}:{session}"
            assert (
                credential
                == base64.b64encode(hmac.new(AUTH_SECRET.encode(), username.encode(), "sha1").digest()).decode()
            )
            sessions.append((expires, session))
        now = int(time.time())
        # WHEP: no longer than the gate honours the token; WHIP: the entry's TTL.
        assert sessions[0][0] == sessions[1][0] == token_expires + CLOCK_SKEW_SECONDS
        assert now + 590 <= sessions[2][0] <= now + 600
        # The session part names the component's session when there is one (coturn logs it).
        assert sessions[1][1] == "feedbeef" and sessions[2][1] == "0123abcd"
        assert sessions[0][1] not in ("feedbeef", "0123abcd")
        page = page_servers(await player.text())[0]
        assert page["username"].split(":")[1] != sessions[0][1], "each handing-out its own session"
        # The page's too ends with its token (issue 52, finding 10: it was the entry's 600 s).
        assert int(page["username"].split(":")[0]) == token_expires + CLOCK_SKEW_SECONDS
        seen.append(await player.text())
        seen.append(await (await client.get("/publish")).text())
        # The component got the viewer's address, the token's end and its digest (its sessions are
        # capped per token, issue 52 finding 4), never the token.
        assert runner.offers == [("127.0.0.1", token_expires + CLOCK_SKEW_SECONDS)]
        assert runner.token_ids == [hashlib.sha256(token.encode()).hexdigest()[:32]]

    serve(app_of(runner, gate), check)
    assert seen and not any(AUTH_SECRET in text for text in seen), "the shared secret never leaves the worker"


def test_a_public_stream_offer_has_no_session_end(tmp_path: Path):
    ice_file = tmp_path / "ice.json"
    ice_file.write_text(json.dumps([STUN]))
    runner = Runner(ingest_config(None), ice_file)
    gate = PlaybackGate(runner.config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, log)

    async def check(client: TestClient[Any, Any]) -> None:
        for path in ("/whep", "/t/v1~abcdefgh~1~~x/whep"):  # a public stream ignores a token segment
            assert (await client.post(path, data=b"v=0")).status == 201
        assert runner.offers == [("127.0.0.1", None)] * 2
        assert runner.token_ids == [None, None], "no cap per token on a public stream"

    serve(app_of(runner, gate), check)


def test_turn_rest_credential_and_what_an_entry_shows():
    username, credential = turn_rest_credential(AUTH_SECRET, 1_900_000_000, "abc-1")
    assert username == "1900000000:abc-1"
    digest = hmac.new(AUTH_SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == digest
    with pytest.raises(ValueError, match="session id"):
        turn_rest_credential(AUTH_SECRET, 1, "a:b")  # ':' separates coturn's expiry from the session
    (entry,) = parse_ice_servers(json.dumps([{**DERIVED_TURN, "ttlSeconds": 60}]))
    assert entry == IceServerEntry((TURN_URL,), auth_secret=AUTH_SECRET, ttl_seconds=60)
    assert AUTH_SECRET not in repr(entry) and AUTH_SECRET not in str(entry)
    issued = entry.issue("s1", now=1000.5)
    assert issued.username == "1060:s1" and issued.credential == turn_rest_credential(AUTH_SECRET, 1060, "s1")[1]
    assert entry.issue("s1", now=1000, not_after=1030).username == "1030:s1"
