"""STUN/TURN servers for WebRTC clients (playback.webrtc.iceServersSecretRef, issue 26): the model,
the Secret key mounted as a file into the primary ingest only when set, the worker's parsing of the
RTCIceServer JSON (errors that never quote the file), the credentials derived per session from an
`authSecret` (TURN REST API), the RFC 9725 §4.6 Link headers and their quoting (read back by the
pages' own parser in node), the file read again when it changes, the WHIP/WHEP answers and pages
that carry them (credentials only after the playback gate or WHIP's auth:
test_routes.py), and the Warning Event of an invalid Secret."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from devtools.catalog import stored_livestream
from devtools.versions import REPO
from pydantic import ValidationError
from streamops.api import LiveStream
from streamops.contract.ingest import ICE_SERVERS_DIR, ICE_SERVERS_FILE, IngestConfig, IngestStatus, WebRtcStatus
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.status import ice_servers_events
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.media.ingest.player.page import IceServer, PlayerOptions, add_player_routes
from streamops.media.ingest.routes import player_options
from streamops.media.ingest.webrtc.component import ControlReply, WhepViewer
from streamops.media.ingest.webrtc.ice_servers import (
    IceServerEntry,
    IceServersError,
    IceServersFile,
    issue_servers,
    link_values,
    parse_ice_servers,
    public_servers,
)
from streamops.media.ingest.webrtc.routes import add_webrtc_routes

PLAYER_DIR = REPO / "operator/streamops/media/ingest/player"
SETTINGS = OperatorSettings()
SECRET = "s3cr3t-Credential"
TURN = [
    {
        "urls": ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"],
        "username": "1700000000:viewer",
        "credential": SECRET,
    }
]
PATH = f"{ICE_SERVERS_DIR}/{ICE_SERVERS_FILE}"


stream = partial(stored_livestream, uid="uid-1", generation=1)


def with_turn(**spec: Any) -> LiveStream:
    return stream(playback={"webrtc": {"iceServersSecretRef": {"name": "turn"}}}, **spec)


def container(pod: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = pod["spec"]["containers"][0]
    return found


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(container(pod)["env"][0]["value"])


# --- the model and the Pod ---------------------------------------------------------------------------


def test_the_reference_defaults_to_key_ice_servers_and_refuses_a_key_no_secret_can_have():
    ref = with_turn().spec.playback.webrtc.ice_servers_secret_ref
    assert ref is not None and (ref.name, ref.key) == ("turn", "iceServers")
    with pytest.raises(ValidationError):
        stream(playback={"webrtc": {"iceServersSecretRef": {"name": "turn", "key": "ice servers/json"}}})
    with pytest.raises(ValidationError):
        stream(playback={"webrtc": {"iceServersSecretRef": {}}})


def test_the_secret_key_is_an_optional_file_of_the_primary_ingest_and_its_path_is_in_the_config():
    pod = ingest_pod(
        stream(playback={"webrtc": {"iceServersSecretRef": {"name": "turn", "key": "ice.json"}}}), "primary", SETTINGS
    )
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "ice-servers"]
    # Optional: a missing Secret must not keep the ingest (RTMP, HLS, ...) from starting.
    assert volume["secret"] == {
        "secretName": "turn",
        "items": [{"key": "ice.json", "path": ICE_SERVERS_FILE}],
        "optional": True,
    }
    assert {"name": "ice-servers", "mountPath": ICE_SERVERS_DIR, "readOnly": True} in container(pod)["volumeMounts"]
    webrtc = config(pod).webrtc
    assert webrtc is not None and webrtc.ice_servers_file == PATH


def test_no_reference_no_webrtc_or_the_backup_leave_the_pod_as_it_was():
    plain = ingest_pod(stream(), "primary", SETTINGS)
    assert "ice-servers" not in json.dumps(plain) and "iceServersFile" not in json.dumps(plain)
    assert [v["name"] for v in plain["spec"]["volumes"]] == [
        v["name"] for v in ingest_pod(with_turn(), "primary", SETTINGS)["spec"]["volumes"] if v["name"] != "ice-servers"
    ]
    off = ingest_pod(with_turn(), "primary", OperatorSettings(playback=PlaybackSettings(webrtc=False)))
    assert "ice-servers" not in json.dumps(off), "no WebRTC component: nothing to give clients"
    backup = ingest_pod(with_turn(source={"push": {"protocols": ["rtmp"], "backup": True}}), "backup", SETTINGS)
    assert "ice-servers" not in json.dumps(backup), "the backup serves no WebRTC"
    whip_only = stream(
        source={"push": {"protocols": ["whip"]}},
        playback={"webrtc": {"enabled": False, "iceServersSecretRef": {"name": "turn"}}},
    )
    webrtc = config(ingest_pod(whip_only, "primary", SETTINGS)).webrtc
    assert webrtc is not None and webrtc.ice_servers_file == PATH, "WHIP publishers from browsers get them too"


# --- the JSON ----------------------------------------------------------------------------------------


def test_rtc_ice_server_json_becomes_the_pages_servers():
    servers = parse_ice_servers(json.dumps([*TURN, {"urls": "stun:stun.example.com"}]))
    assert servers == (
        IceServerEntry(
            ("turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349?transport=tcp"),
            "1700000000:viewer",
            SECRET,
        ),
        IceServerEntry(("stun:stun.example.com",)),
    )
    assert issue_servers(servers, "any", 0) == (
        IceServer(servers[0].urls, "1700000000:viewer", SECRET),
        IceServer(("stun:stun.example.com",)),
    ), "a static credential is handed out as it is"
    assert parse_ice_servers("[]") == ()
    assert parse_ice_servers('[{"urls": ["turn:[2001:db8::1]:3478"], "username": "u", "credential": "c"}]')


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f'[{{"urls": "turn:h", "username": "u", "credential": "{SECRET}"', "not JSON (line 1"),
        (json.dumps({"urls": "stun:h"}), "not a list"),
        (json.dumps([{"urls": ["turn:h:3478"], "username": "u"}]), "[0]: turn: and turns: URIs need a username"),
        (json.dumps([{"urls": [f"turn:u:{SECRET}@h:3478"], "username": "u", "credential": "c"}]), "[0].urls[0] is not"),
        (json.dumps([{"urls": ["http://turn.example.com"]}]), "[0].urls[0] is not a stun:"),
        (json.dumps([{"urls": ["stun:h?transport=udp"]}]), "?transport= is for turn:"),
        (json.dumps([{"urls": ["turn:h:70000"], "username": "u", "credential": "c"}]), "the port is not 1..65535"),
        (json.dumps([{"urls": []}]), "[0].urls is missing"),
        (json.dumps([{"urls": "stun:h", "password": SECRET}]), "[0] has unknown fields password"),
        (json.dumps([{"urls": "turn:h", "username": "u", "credential": SECRET + "\n"}]), "[0].credential is not"),
        (json.dumps([{"urls": "turn:h", "username": "ü", "credential": "c"}]), "[0].username is not"),
        (json.dumps([{"urls": "turn:h", "username": "u", "credential": "c", "credentialType": "oauth"}]), "password"),
        (json.dumps(["turn:h"]), "[0] is not an object"),
        (json.dumps([{"urls": "turn:h", "authSecret": SECRET, "username": "u"}]), "[0]: authSecret derives"),
        (json.dumps([{"urls": "turn:h", "authSecret": SECRET[:15]}]), "[0].authSecret is shorter than 16"),
        (json.dumps([{"urls": "turn:h", "authSecret": SECRET + "\n"}]), "[0].authSecret is not"),
        (json.dumps([{"urls": "turn:h", "authSecret": SECRET, "ttlSeconds": 59}]), "[0].ttlSeconds is not"),
        (json.dumps([{"urls": "turn:h", "authSecret": SECRET, "ttlSeconds": "600"}]), "[0].ttlSeconds is not"),
        (json.dumps([{"urls": "turn:h", "username": "u", "credential": "c", "ttlSeconds": 60}]), "for an authSecret"),
    ],
)
def test_a_bad_file_says_where_and_never_quotes_it(text: str, says: str):
    with pytest.raises(IceServersError) as error:
        parse_ice_servers(text)
    assert says in str(error.value)
    assert SECRET not in str(error.value) and "turn:h" not in str(error.value)


# --- the Link headers ----------------------------------------------------------------------------------


def test_one_link_per_uri_with_the_turn_credential_quoted():
    servers = (
        IceServer(("turn:turn.example.com:3478?transport=udp",), 'we"ird\\user', "a,b; c=d"),
        IceServer(("stun:stun.example.com:3478",)),
    )
    assert link_values(servers) == [
        '<turn:turn.example.com:3478?transport=udp>; rel="ice-server"; username="we\\"ird\\\\user"; '
        'credential="a,b; c=d"; credential-type="password"',
        '<stun:stun.example.com:3478>; rel="ice-server"',
    ]


def test_the_pages_parser_reads_the_link_headers_back_and_a_newer_one_replaces_an_older():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    tricky = (IceServer(("turn:turn.example.com:3478?transport=udp", "stun:turn.example.com"), 'u"\\,<x>', "c;,< d"),)
    fresh = (IceServer(("turn:turn.example.com:3478?transport=udp",), "u2", "c2"),)
    script = (
        "globalThis.window = {}; globalThis.location = {href: 'http://127.0.0.1/'};\n"
        + (PLAYER_DIR / "webrtc.js").read_text()
        + "\nconst rtc = window.streamopsRtc;\n"
        + f"rtc.learnIceServers({json.dumps(', '.join(link_values(tricky)))});\n"
        + "const first = JSON.parse(JSON.stringify(rtc.linkServers));\n"
        + f"rtc.learnIceServers({json.dumps(', '.join(link_values(fresh)))});\n"
        + 'rtc.learnIceServers(\'<https://example.com/>; rel="ice-server", <turn:x>; rel="next"\');\n'
        + "console.log(JSON.stringify({first, then: rtc.linkServers}));\n"
    )
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    seen = json.loads(done.stdout)
    assert seen["first"] == [
        {"urls": "turn:turn.example.com:3478?transport=udp", "username": 'u"\\,<x>', "credential": "c;,< d"},
        {"urls": "stun:turn.example.com"},
    ]
    assert seen["then"][0] == {"urls": "turn:turn.example.com:3478?transport=udp", "username": "u2", "credential": "c2"}
    assert len(seen["then"]) == 2, "neither an https: link nor another rel is an ICE server"


# --- the file ------------------------------------------------------------------------------------------


def test_the_file_is_read_again_when_it_changes_and_a_bad_one_gives_nothing_and_logs_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "ice-servers.json"
    log = logging.getLogger("test.ice")
    ice = IceServersFile(str(path), log)
    with caplog.at_level(logging.INFO, logger="test.ice"):
        assert ice.servers == () and "is missing" in (ice.problem or "")
        path.write_text(json.dumps(TURN))
        assert [s.urls for s in ice.servers] == [tuple(TURN[0]["urls"])] and ice.problem is None
        assert len(ice.links_for("s")) == 2 and SECRET in ice.links_for("s")[0]
        assert ice.public_links == (), "TURN only: nothing for anyone"
        # The kubelet's rotation: a new file (inode, mtime) behind the same name.
        rotated = tmp_path / "rotated.json"
        rotated.write_text(json.dumps([{**TURN[0], "credential": "rotated-credential"}]))
        os.replace(rotated, path)
        assert ice.servers[0].credential == "rotated-credential"
        path.write_text('[{"urls": "turn:h", "credential": "' + SECRET + '"')
        for _ in range(3):
            assert ice.servers == () and ice.links_for("s") == ()
        assert (ice.problem or "").startswith(f"{path}: not JSON")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, "missing, then not JSON: one line each however often it is asked"
    assert all(SECRET not in r.getMessage() and "rotated-credential" not in r.getMessage() for r in caplog.records)
    assert IceServersFile(None, log).servers == () and IceServersFile(None, log).problem is None


def test_a_file_too_large_is_refused(tmp_path: Path):
    path = tmp_path / "ice.json"
    path.write_text(json.dumps([{"urls": "stun:h", "username": "x" * 1000}] * 100))
    ice = IceServersFile(str(path), logging.getLogger("test.ice"))
    assert ice.servers == () and "larger than 64 KiB" in (ice.problem or "")


# --- the answers and the pages --------------------------------------------------------------------------


class FakeIce:
    def __init__(self, entries: tuple[IceServerEntry, ...]) -> None:
        self.entries = entries

    def links_for(self, session: str, not_after: int | None = None) -> tuple[str, ...]:
        return tuple(link_values(issue_servers(self.entries, session, 0, not_after)))

    @property
    def public_links(self) -> tuple[str, ...]:
        return tuple(link_values(public_servers(self.entries)))


class FakeWhip:
    def authorized(self, authorization: str | None) -> bool:
        return authorization == "Bearer k"

    async def publish(self, authorization: str | None, offer: bytes, content_type: str) -> ControlReply:
        if authorization != "Bearer k":
            return ControlReply.text(401, "no", {"WWW-Authenticate": "Bearer"})
        return ControlReply(201, b"v=0\r\n", "application/sdp", "/whip/abc")


class FakeRunner:
    def __init__(self, entries: tuple[IceServerEntry, ...]) -> None:
        self.config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}})
        self.ice_servers = FakeIce(entries)
        self.whip = FakeWhip()
        self.whep_status = 201

    async def post_whep(self, offer: bytes, content_type: str, viewer: WhepViewer | None = None) -> ControlReply:
        if self.whep_status != 201:
            return ControlReply.text(self.whep_status, "the stream is not live")
        return ControlReply(201, b"v=0\r\n", "application/sdp", "/whep/xyz")


def serve(app: web.Application, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def run() -> None:
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            await check(client)

    asyncio.run(run())


def test_201_answers_and_the_endpoints_options_carry_one_link_per_uri():
    runner = FakeRunner(parse_ice_servers(json.dumps(TURN)))
    app = web.Application()
    add_webrtc_routes(app, ["", "/live/cam"], runner)  # type: ignore[arg-type]
    expected = list(runner.ice_servers.links_for("any"))

    async def check(client: TestClient[Any, Any]) -> None:
        for prefix in ("", "/live/cam"):
            # WHEP's OPTIONS passed the (here: public) gate; WHIP's needs the key for the credentials.
            for path, headers in (("/whep", {}), ("/whip", {"Authorization": "Bearer k"})):
                options = await client.options(prefix + path, headers=headers)
                assert options.status == 204 and options.headers.getall("Link") == expected
                assert options.headers["Access-Control-Expose-Headers"] == "Location, Link"
            options = await client.options(prefix + "/whip")
            assert options.status == 204 and "Link" not in options.headers, "no key, no TURN credential"
            whip = await client.post(prefix + "/whip", data=b"v=0", headers={"Authorization": "Bearer k"})
            assert whip.status == 201 and whip.headers.getall("Link") == expected
            assert whip.headers["Location"] == prefix + "/whip/abc"
            assert "Link" in whip.headers["Access-Control-Expose-Headers"], "a page on another origin reads them"
            refused = await client.post(prefix + "/whip", data=b"v=0")
            assert refused.status == 401 and "Link" not in refused.headers, "credentials only with a session"
            whep = await client.post(prefix + "/whep", data=b"v=0")
            assert whep.status == 201 and whep.headers.getall("Link") == expected
        runner.whep_status = 404
        assert "Link" not in (await client.post("/whep", data=b"v=0")).headers
        session = await client.options("/whep/xyz")
        assert session.status == 204 and "Link" not in session.headers
        runner.ice_servers.entries = ()
        assert "Link" not in (await client.options("/whep")).headers

    serve(app, check)


def blob(page: str, name: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', page, re.S)
    assert found, f"no {name} in the page"
    value: dict[str, Any] = json.loads(found.group(1))
    return value


def test_the_pages_get_the_servers_as_they_are_at_each_request():
    ingest = IngestConfig.model_validate(
        {
            "stream": "cam",
            "source": {"push": {"protocols": ["rtmp", "whip"]}},
            "ports": {"webrtcUdp": 8189},
            "webrtc": {"iceServersFile": PATH},
        }
    )
    stun = {"urls": ["stun:stun.example.com:3478"]}
    servers: list[tuple[IceServer, ...]] = [issue_servers(parse_ice_servers(json.dumps([*TURN, stun])), "s", 0)]
    app = web.Application()

    def options(_: web.Request) -> PlayerOptions:
        return player_options(ingest, servers[0])

    add_player_routes(app, "", options)

    async def check(client: TestClient[Any, Any]) -> None:
        player = blob(await (await client.get("/player")).text(), "streamops-player-options")
        publish = blob(await (await client.get("/publish")).text(), "streamops-publish-options")
        assert player["iceServers"] == [*TURN, stun]
        assert publish["iceServers"] == [stun], "the publish page is anyone's: STUN only, no TURN credential"
        servers[0] = (IceServer(("turn:turn.example.com:3478",), "u", "rotated"),)
        player = blob(await (await client.get("/player")).text(), "streamops-player-options")
        assert player["iceServers"][0]["credential"] == "rotated"

    serve(app, check)


# --- the Event ----------------------------------------------------------------------------------------


def test_an_invalid_secret_is_a_warning_once_per_reason():
    def seen(problem: str | None) -> IngestStatus:
        return IngestStatus(live=False, webrtc=WebRtcStatus(running=True, ice_servers_problem=problem))

    missing = f"{PATH} is missing: no such Secret or key (playback.webrtc.iceServersSecretRef)"
    assert ice_servers_events(None, seen(None)) == [] and ice_servers_events(None, None) == []
    [event] = ice_servers_events(seen(None), seen(missing))
    assert (event.type, event.reason) == ("Warning", "IceServersInvalid")
    assert event.message == f"WebRTC clients get no STUN/TURN servers: {missing}"
    assert ice_servers_events(seen(missing), seen(missing)) == [], "the same reason: no second Event"
    assert len(ice_servers_events(seen(missing), seen(f"{PATH}: not a list"))) == 1
