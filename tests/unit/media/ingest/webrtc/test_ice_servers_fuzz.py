"""Fuzzed: the STUN/TURN servers file (media.ingest.webrtc.ice_servers), the stream author's JSON in
a Secret, and what the ingest makes of it for clients: `Link` header values and TURN credentials.
Whatever the file holds, parsing ends in entries or IceServersError (the file gives no servers and
status says why), bounded, and no value of the file is ever in the error. Also the WHEP/WHIP routes'
ids and tokens that go back into a Location header (webrtc/routes.py). Settings:
tests/unit/conftest.py."""

from __future__ import annotations

import asyncio
import json
import re
import string
from types import SimpleNamespace

from aiohttp.test_utils import make_mocked_request
from hypothesis import example, given
from hypothesis import strategies as st
from streamops.media.ingest.webrtc.component import ControlReply, WhepViewer
from streamops.media.ingest.webrtc.ice_servers import (
    MAX_FIELD_CHARS,
    MAX_SERVERS,
    MAX_URLS,
    SESSION_CHARS,
    IceServersError,
    issue_servers,
    link_values,
    parse_ice_servers,
    public_servers,
    turn_rest_credential,
)
from streamops.media.ingest.webrtc.routes import WebRtcEndpoints, session_of

# A value that must never be quoted back: recognisable, and in no message of the module.
MARK = "Qz7"
secret_values = st.text(string.ascii_letters + string.digits + "+/=_-!", min_size=13, max_size=40).map(
    lambda s: MARK + s
)
hosts = st.sampled_from(["turn.example.com", "1.2.3.4", "[2001:db8::1]", "a", "-bad", "x" * 300, "h_st", "[::1"])
uris = st.one_of(
    st.builds(
        lambda scheme, host, port, query: f"{scheme}:{host}{port}{query}",
        st.sampled_from(["stun", "stuns", "turn", "turns", "TURN", "http", "turn:"]),
        hosts,
        st.sampled_from(["", ":3478", ":0", ":65536", ":99999", ":", ":３"]),
        st.sampled_from(["", "?transport=udp", "?transport=tcp", "?transport=sctp", "?x=1", "\n", ">", ","]),
    ),
    st.text(max_size=30),
)
field_values = secret_values | st.integers(-(10**20), 10**20) | st.booleans() | st.none() | st.floats()
entries = st.fixed_dictionaries(
    {"urls": st.lists(uris, max_size=4) | uris},
    optional={
        "username": secret_values | field_values,
        "credential": secret_values | field_values,
        "credentialType": st.sampled_from(["password", "oauth", 1]),
        "authSecret": secret_values | st.text(max_size=20),
        "ttlSeconds": st.integers(0, 10**6) | st.floats() | st.booleans() | st.text(max_size=3),
    },
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
documents = st.one_of(
    st.lists(entries, max_size=MAX_SERVERS + 2).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.builds(lambda n, close: "[" * n + ("]" * n if close else ""), st.integers(1, 60_000), st.booleans()),
    st.builds(lambda n: '[{"urls": "stun:a", "ttlSeconds": ' + "9" * n + "}]", st.integers(1, 20_000)),
)


@given(documents)
@example("[" * 20_000)  # RecursionError out of json.loads: the worker's routes and status failed
@example('[{"urls": "stun:a", "ttlSeconds": ' + "1" * 5000 + "}]")  # ValueError: an int past 4300 digits
def test_a_file_gives_bounded_entries_or_says_why_without_quoting_it(text: str) -> None:
    try:
        servers = parse_ice_servers(text)
    except IceServersError as e:
        assert MARK not in str(e), "a value of the file in the error"
        assert len(str(e)) < 1024
        return
    assert len(servers) <= MAX_SERVERS and sum(len(s.urls) for s in servers) <= MAX_URLS
    for server in servers:
        for value in (*server.urls, server.username, server.credential, server.auth_secret):
            assert value is None or (len(value) <= MAX_FIELD_CHARS and value.isascii() and value.isprintable())


LINK = re.compile(
    r'<(stuns?|turns?):[^<>\s,";\\]+>; rel="ice-server"'
    r'(; username="((?:[^"\\]|\\["\\])*)"; credential="((?:[^"\\]|\\["\\])*)"; credential-type="password")?'
)


def unquoted(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@given(st.lists(entries, min_size=1, max_size=4).map(json.dumps), st.from_regex(SESSION_CHARS, fullmatch=True))
def test_link_values_are_one_header_line_each_that_reads_back(text: str, session: str) -> None:
    try:
        entries_ = parse_ice_servers(text)
    except IceServersError:
        return
    for servers in (issue_servers(entries_, session, 1_700_000_000.0), public_servers(entries_)):
        values = link_values(servers)
        assert len(values) == sum(len(s.urls) for s in servers)
        owners = [s for s in servers for _ in s.urls]
        for value, server in zip(values, owners, strict=True):
            match = LINK.fullmatch(value)
            assert match is not None, value
            if match.group(2) is not None:
                assert (unquoted(match.group(3)), unquoted(match.group(4))) == (server.username, server.credential)


@given(st.text(max_size=80), st.integers(0, 2**40), st.text(max_size=70))
@example("s" * 16, 1_700_000_600, "abc:def")  # a ':' would let a session forge another's expiry
def test_a_turn_credential_is_for_one_session_or_refused(secret: str, expires: int, session: str) -> None:
    try:
        username, credential = turn_rest_credential(secret, expires, session)
    except ValueError:
        assert not SESSION_CHARS.fullmatch(session)
        return
    assert username == f"{expires}:{session}" and username.count(":") == 1
    assert re.fullmatch(r"[A-Za-z0-9+/]{27}=", credential)


# --- the routes' ids and tokens -------------------------------------------------------------------

# Ids and tokens as the component and the signer write them, with what a path may add after them.
ENDINGS = ["", "\n", "\n", "\r\n", "\n\n", "%0A", " ", "\t", "\x00", "/x", "\u2028", "\x85"]
near_valid = st.builds(
    lambda base, end: base + end,
    st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
    | st.from_regex(r"v1~[A-Za-z0-9_-]{8}~[0-9]{1,12}~~[A-Za-z0-9_-]{43}", fullmatch=True),
    st.sampled_from(ENDINGS),
)
path_text = near_valid | st.text(st.characters(codec="utf-8") | st.sampled_from(list("\n\r/%:~")), max_size=140)


@given(path_text | near_valid.map(lambda s: "/whep/" + s))
@example("/whep/abc\n")  # `$` matched before a final newline: the id went on with it
def test_a_session_id_from_a_location_is_safe_for_a_header(location: str) -> None:
    session = session_of(location)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", session)
    assert SESSION_CHARS.fullmatch(session[:64])


class FakeRunner:
    """What the WHIP/WHEP handlers ask of the runner: the component's answers, and where they went."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(signed=False)
        self.ice_servers = SimpleNamespace(links_for=lambda *_: ())
        self.resources: list[str] = []
        self.whip = SimpleNamespace(delete=self._delete)

    async def _delete(self, authorization: str | None, resource: str) -> ControlReply:
        self.resources.append(resource)
        return ControlReply.text(200, "ended")

    async def delete_whep(self, resource: str) -> ControlReply:
        self.resources.append(resource)
        return ControlReply.text(200, "ended")

    async def post_whep(self, offer: bytes, content_type: str, viewer: WhepViewer) -> ControlReply:
        return ControlReply(201, b"v=0", "application/sdp", location="/whep/s1")


@given(st.sampled_from(["delete_whip", "delete_whep", "post_whep"]), path_text)
@example("delete_whip", "abc\n")  # a path's "%0A" after the id went on to the component
@example("post_whep", "v1~AAAAAAAA~1~~" + "A" * 43 + "\n")  # a token's: into the Location header
def test_what_the_routes_pass_on_and_send_back_holds_no_control_character(handler: str, value: str) -> None:
    runner = FakeRunner()
    endpoints = WebRtcEndpoints(runner, "/streams/ns/cam")  # type: ignore[arg-type]
    method, key = ("POST", "token") if handler == "post_whep" else ("DELETE", "id")
    request = make_mocked_request(method, "/x", match_info={key: value})
    answer = asyncio.run(getattr(endpoints, handler)(request))
    for resource in runner.resources:
        assert re.fullmatch(r"/wh[ei]p/[A-Za-z0-9_-]{1,128}", resource), resource
    if handler == "post_whep":
        location = answer.headers["Location"]
        assert location.isascii() and location.isprintable() and location.endswith("/whep/s1")
