"""The WHIP and WHEP endpoints of the ingest's HTTP face (aiohttp), at / and under the path prefix:
`POST {WHIP_PATH}` (bearer: the stream key), `DELETE {WHIP_PATH}/<id>`, `POST {WHEP_PATH}`,
`DELETE {WHEP_PATH}/<id>`, PATCH refused (405: no trickle ICE, no ICE restart), and their CORS
preflight, so that pages on other origins publish and play. WHEP (playback) is also served under
`/t/<token>/` and goes through the playback gate (playback_access.py). The component's `Location` is
mapped onto the public path the offer came in at (a signed offer's session keeps its token). With
STUN/TURN servers for the clients (ice_servers.py), a 201 answer and the endpoints' OPTIONS carry them
as `Link: <…>; rel="ice-server"` (RFC 9725 §4.6): TURN credentials only to a request that passed the
playback gate (WHEP) or carries the stream key (WHIP), derived for its session; STUN URIs to anyone.
A WHEP offer goes to the component with the client's address (its offers are rate limited and its
sessions capped per address) and, on a signed stream, the end of its token (the session ends then)
and a digest of the token (its sessions are capped per token; the token itself stays here).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

from aiohttp import web

from streamops.contract.ingest import WHEP_PATH, WHIP_PATH, IngestConfig
from streamops.contract.playback_token import CLOCK_SKEW_SECONDS, TOKEN_SEGMENT, Refusal, parse
from streamops.media.ingest.playback_access import TOKEN_ROUTE, Guard, no_guard, refusal_response
from streamops.media.ingest.viewers import RequestKind
from streamops.media.ingest.webrtc.component import ControlReply, WhepViewer
from streamops.media.ingest.webrtc.ice_servers import new_session_id
from streamops.media.ingest.webrtc.runner import WebRtcRunner

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Location, Link",
}
PREFLIGHT_HEADERS = {**CORS_HEADERS, "Access-Control-Max-Age": "86400"}
OFFER_MAX_BYTES = 64 * 1024  # a browser's offer is ≈4-6 kB
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # the component's ids; never its own paths (keyframe, sdp)
URL_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9_.~:-]{1,200}$")  # what goes back into a Location header as it came
# Both are used with fullmatch: `$` alone also matches before a final newline (a path's "%0A").
NOT_SUPPORTED = "ICE restart and trickle ICE (PATCH) are not supported: DELETE the session and POST a new offer"


ClientAddress = Callable[[web.Request], str]


def peer_address(request: web.Request) -> str:
    """The TCP peer's address; the ingest passes the playback gate's `client` instead, which believes
    X-Forwarded-For from its trusted proxies only (contract.playback_token.client_address)."""
    return request.remote or ""


def token_session_end(config: IngestConfig, request: web.Request) -> int | Refusal | None:
    """Unix seconds at which a signed stream's WHEP session ends: when the gate stops honouring its
    token (the token's expiry + the clock skew it allows, contract.playback_token.verify). None for a
    public stream (a token segment is ignored there). The gate has verified the token already."""
    if not config.signed:
        return None
    token = parse(request.match_info.get("token") or "")
    if token is None:  # the gate refused it before: never here unless the routes are wired wrong
        return Refusal.INVALID
    return token.expires + CLOCK_SKEW_SECONDS


def token_id(config: IngestConfig, request: web.Request) -> str | None:
    """What names a signed stream's token to the component (its sessions are capped per token): 32 hex
    characters of its SHA-256, never the token. None for a public stream."""
    token = request.match_info.get("token")
    if not config.signed or not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def session_of(location: str | None) -> str:
    """The component's session id in its `Location` (/whep/<id>): the TURN credential's session."""
    tail = (location or "").rsplit("/", 1)[-1]
    return tail if SESSION_ID.fullmatch(tail) else new_session_id()


def response(reply: ControlReply, prefix: str = "", links: Iterable[str] = ()) -> web.Response:
    """`links`: `Link` header values (the ICE servers), one header each; only on a 201."""
    headers = {**reply.headers, **CORS_HEADERS, "Content-Type": reply.content_type}
    if reply.location is not None:
        headers["Location"] = prefix + reply.location  # the component's /whip/<id> as our public path
    answer = web.Response(status=reply.status, body=reply.body, headers=headers)
    return _with_links(answer, links) if reply.status == 201 else answer


def _with_links(answer: web.Response, links: Iterable[str]) -> web.Response:
    for link in links:
        answer.headers.add("Link", link)  # one header per URI, as RFC 9725's examples
    return answer


def preflight_response(links: Iterable[str] = ()) -> web.Response:
    return _with_links(web.Response(status=204, headers=PREFLIGHT_HEADERS), links)


async def preflight(_: web.Request) -> web.Response:
    return preflight_response()


async def not_supported(_: web.Request) -> web.Response:
    return response(ControlReply.text(405, NOT_SUPPORTED, {"Allow": "DELETE"}))


async def _offer(request: web.Request) -> bytes | web.Response:
    # aiohttp reads at most its client_max_size (1 MiB) of a body; an offer is far smaller.
    if request.content_length is not None and request.content_length > OFFER_MAX_BYTES:
        return response(ControlReply.text(413, "the offer is too large"))
    body = await request.read()
    if len(body) > OFFER_MAX_BYTES:
        return response(ControlReply.text(413, "the offer is too large"))
    return body


class WebRtcEndpoints:
    """The handlers of the endpoints under one prefix."""

    def __init__(self, runner: WebRtcRunner, prefix: str, client: ClientAddress = peer_address) -> None:
        """`client`: the address a WHEP offer is rate limited by."""
        self.runner, self.prefix, self.client = runner, prefix, client

    async def post_whip(self, request: web.Request) -> web.Response:
        offer = await _offer(request)
        if isinstance(offer, web.Response):
            return offer
        authorization = request.headers.get("Authorization")
        reply = await self.runner.whip.publish(authorization, offer, request.headers.get("Content-Type", ""))
        # A 201 only after the key was checked: the credentials go with it (response() adds no links otherwise).
        links = self.runner.ice_servers.links_for(session_of(reply.location)) if reply.status == 201 else ()
        return response(reply, self.prefix, links)

    async def delete_whip(self, request: web.Request) -> web.Response:
        session = request.match_info["id"]
        if not SESSION_ID.fullmatch(session):
            return response(ControlReply.text(404, "no such WHIP session"))
        reply = await self.runner.whip.delete(request.headers.get("Authorization"), f"{WHIP_PATH}/{session}")
        return response(reply)

    async def post_whep(self, request: web.Request) -> web.Response:
        offer = await _offer(request)
        if isinstance(offer, web.Response):
            return offer
        session_end = token_session_end(self.runner.config, request)
        if isinstance(session_end, Refusal):
            return refusal_response(session_end.status, session_end.body)
        content_type = request.headers.get("Content-Type", "")
        viewer = WhepViewer(self.client(request), session_end, token_id(self.runner.config, request))
        reply = await self.runner.post_whep(offer, content_type, viewer)
        # The path it came in at: the prefix, and a signed URL's token segment (the DELETE needs it too).
        token = request.match_info.get("token")
        prefix = self.prefix + (f"/{TOKEN_SEGMENT}/{token}" if token and URL_SAFE_TOKEN.fullmatch(token) else "")
        links = (
            self.runner.ice_servers.links_for(session_of(reply.location), session_end) if reply.status == 201 else ()
        )
        return response(reply, prefix, links)

    async def whep_options(self, request: web.Request) -> web.Response:
        """WHEP's OPTIONS (registered behind the playback gate): CORS, and the ICE servers for a client
        that asks before its offer (a browser's preflight cannot show them to the page: it gets them
        with the 201), credentials included: the gate let it through."""
        session_end = token_session_end(self.runner.config, request)
        if isinstance(session_end, Refusal):
            return refusal_response(session_end.status, session_end.body)
        return preflight_response(self.runner.ice_servers.links_for(new_session_id(), session_end))

    async def whip_options(self, request: web.Request) -> web.Response:
        """WHIP's OPTIONS: CORS and STUN for anyone; the TURN credentials only with the stream key as
        the bearer token (RFC 9725 lets a client send its OPTIONS authenticated)."""
        ice = self.runner.ice_servers
        if self.runner.whip.authorized(request.headers.get("Authorization")):
            return preflight_response(ice.links_for(new_session_id()))
        return preflight_response(ice.public_links)

    async def delete_whep(self, request: web.Request) -> web.Response:
        session = request.match_info["id"]
        if not SESSION_ID.fullmatch(session):
            return response(ControlReply.text(404, "no such WHEP session"))
        return response(await self.runner.delete_whep(f"{WHEP_PATH}/{session}"))


def add_webrtc_routes(
    app: web.Application,
    prefixes: Iterable[str],
    runner: WebRtcRunner,
    guard: Guard = no_guard,
    client: ClientAddress = peer_address,
) -> None:
    """WHIP at each prefix; WHEP at each prefix and under its token segment, its POST, DELETE and
    OPTIONS (the ICE servers' Link headers) through `guard`."""
    for prefix in prefixes:
        endpoints = WebRtcEndpoints(runner, prefix, client)
        whep = (guard(RequestKind.OTHER, endpoints.post_whep), guard(RequestKind.OTHER, endpoints.delete_whep))
        whep_options = guard(RequestKind.OTHER, endpoints.whep_options)
        for base, path, (post, delete), options in (
            (prefix, WHIP_PATH, (endpoints.post_whip, endpoints.delete_whip), endpoints.whip_options),
            (prefix, WHEP_PATH, whep, whep_options),
            (prefix + TOKEN_ROUTE, WHEP_PATH, whep, whep_options),
        ):
            app.router.add_post(base + path, post)
            app.router.add_route("OPTIONS", base + path, options)
            resource = base + path + "/{id}"
            app.router.add_delete(resource, delete)
            app.router.add_route("PATCH", resource, not_supported)
            app.router.add_route("OPTIONS", resource, preflight)
