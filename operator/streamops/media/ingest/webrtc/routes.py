"""The WHIP and WHEP endpoints of the ingest's HTTP face (aiohttp), at / and under the path prefix:
`POST {WHIP_PATH}` (bearer: the stream key), `DELETE {WHIP_PATH}/<id>`, `POST {WHEP_PATH}`,
`DELETE {WHEP_PATH}/<id>`, PATCH refused (405: no trickle ICE, no ICE restart), and their CORS
preflight, so that pages on other origins publish and play. WHEP (playback) is also served under
`/t/<token>/` and goes through the playback gate (playback_access.py). The component's `Location` is
mapped onto the public path the offer came in at (a signed offer's session keeps its token). With
STUN/TURN servers for the clients (ice_servers.py), a 201 answer and the endpoints' OPTIONS carry them
as `Link: <…>; rel="ice-server"` (RFC 9725 §4.6).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from streamops.contract.ingest import WHEP_PATH, WHIP_PATH
from streamops.contract.playback_token import TOKEN_SEGMENT
from streamops.media.ingest.playback_access import TOKEN_ROUTE, Guard, no_guard
from streamops.media.ingest.viewers import RequestKind
from streamops.media.ingest.webrtc.component import ControlReply
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
NOT_SUPPORTED = "ICE restart and trickle ICE (PATCH) are not supported: DELETE the session and POST a new offer"


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

    def __init__(self, runner: WebRtcRunner, prefix: str) -> None:
        self.runner, self.prefix = runner, prefix

    async def post_whip(self, request: web.Request) -> web.Response:
        offer = await _offer(request)
        if isinstance(offer, web.Response):
            return offer
        authorization = request.headers.get("Authorization")
        reply = await self.runner.whip.publish(authorization, offer, request.headers.get("Content-Type", ""))
        return response(reply, self.prefix, self.runner.ice_servers.links)

    async def delete_whip(self, request: web.Request) -> web.Response:
        session = request.match_info["id"]
        if not SESSION_ID.match(session):
            return response(ControlReply.text(404, "no such WHIP session"))
        reply = await self.runner.whip.delete(request.headers.get("Authorization"), f"{WHIP_PATH}/{session}")
        return response(reply)

    async def post_whep(self, request: web.Request) -> web.Response:
        offer = await _offer(request)
        if isinstance(offer, web.Response):
            return offer
        reply = await self.runner.post_whep(offer, request.headers.get("Content-Type", ""))
        # The path it came in at: the prefix, and a signed URL's token segment (the DELETE needs it too).
        token = request.match_info.get("token")
        prefix = self.prefix + (f"/{TOKEN_SEGMENT}/{token}" if token and URL_SAFE_TOKEN.match(token) else "")
        return response(reply, prefix, self.runner.ice_servers.links)

    async def options(self, _: web.Request) -> web.Response:
        """The endpoint's OPTIONS: CORS, and the ICE servers for a client that asks before its offer (a
        browser's preflight cannot show them to the page: it gets them with the 201)."""
        return preflight_response(self.runner.ice_servers.links)

    async def delete_whep(self, request: web.Request) -> web.Response:
        session = request.match_info["id"]
        if not SESSION_ID.match(session):
            return response(ControlReply.text(404, "no such WHEP session"))
        return response(await self.runner.delete_whep(f"{WHEP_PATH}/{session}"))


def add_webrtc_routes(
    app: web.Application, prefixes: Iterable[str], runner: WebRtcRunner, guard: Guard = no_guard
) -> None:
    """WHIP at each prefix; WHEP at each prefix and under its token segment, its POST, DELETE and
    OPTIONS (the ICE servers' Link headers) through `guard`."""
    for prefix in prefixes:
        endpoints = WebRtcEndpoints(runner, prefix)
        whep = (guard(RequestKind.OTHER, endpoints.post_whep), guard(RequestKind.OTHER, endpoints.delete_whep))
        whep_options = guard(RequestKind.OTHER, endpoints.options)
        for base, path, (post, delete), options in (
            (prefix, WHIP_PATH, (endpoints.post_whip, endpoints.delete_whip), endpoints.options),
            (prefix, WHEP_PATH, whep, whep_options),
            (prefix + TOKEN_ROUTE, WHEP_PATH, whep, whep_options),
        ):
            app.router.add_post(base + path, post)
            app.router.add_route("OPTIONS", base + path, options)
            resource = base + path + "/{id}"
            app.router.add_delete(resource, delete)
            app.router.add_route("PATCH", resource, not_supported)
            app.router.add_route("OPTIONS", resource, preflight)
