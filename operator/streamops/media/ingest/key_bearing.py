"""Routes that carry the stream key (WHIP: its bearer; the publish page: the key is typed into it)
are served only to requests that came over HTTPS, unless the admin allows plain HTTP
(IngestConfig.publish_over_http). The ingest's public port is plain HTTP: TLS ends at the route (an
Ingress, a Gateway) in front, which says so in X-Forwarded-Proto; that header counts only from a
trusted proxy (IngestConfig.trusted_proxies), as X-Forwarded-For does. Why: docs/design/exposure.md
("the stream key never travels over HTTP"), issue 37 finding 12.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from streamops.contract.ingest import PUBLISH_PAGE, WHIP_PATH
from streamops.contract.playback_token import Network, is_trusted

REFUSAL = (
    "this endpoint carries the stream key: it is served over HTTPS only (the stream's HTTPS playback route); "
    "plain HTTP is refused unless the operator allows it (chart value publish.allowPlainHttp)"
)
# The canonical route paths (aiohttp's) that take or show the key, under any prefix.
KEY_BEARING_SUFFIXES = (WHIP_PATH, WHIP_PATH + "/{id}", PUBLISH_PAGE, PUBLISH_PAGE + "/")


def over_https(request: web.Request, trusted: Sequence[Network]) -> bool:
    """TLS to this server, or to the trusted proxy that forwarded the request (its last
    X-Forwarded-Proto value: what it saw; a client's own values sit left of it, in its own header
    lines too: every line counts, in order, as one list)."""
    if request.secure:
        return True
    proto = ",".join(request.headers.getall("X-Forwarded-Proto", ()))
    return bool(proto) and is_trusted(request.remote or "", trusted) and proto.split(",")[-1].strip() == "https"


def is_key_bearing(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    return canonical.endswith(KEY_BEARING_SUFFIXES)


def https_only(allowed_over_http: bool, trusted: Sequence[Network]) -> Middleware:
    """A 403 with the reason for a key-bearing route over plain HTTP; a CORS preflight (OPTIONS
    without credentials: the browser asks before it POSTs) still answers, it carries nothing."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if allowed_over_http or not is_key_bearing(request) or over_https(request, trusted):
            return await handler(request)
        if request.method == "OPTIONS" and "Authorization" not in request.headers:
            return await handler(request)
        return web.Response(status=403, text=REFUSAL + "\n", headers={"Cache-Control": "no-store"})

    return middleware
