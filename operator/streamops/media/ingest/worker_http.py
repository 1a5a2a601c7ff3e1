"""The ingest's two faces on aiohttp: the internal one answers /healthz, /readyz, /status (JSON) and
/metrics as small_http.worker_routes does for the pusher and the recorder, beside the feeds; the
public one the probes and CORS for the media a web page on another origin fetches (HLS, the
screenshot), beside the playback routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry

from streamops.contract.http import HEALTH_PATH, READY_PATH
from streamops.contract.worker import WorkerStatus
from streamops.contract.worker_credential import AUTHORIZATION, CredentialCheck
from streamops.media.small_http import Route, registry_metrics, worker_routes

# What a browser player on another origin needs: any origin (the media is public to whoever has the URL,
# like the URL itself), byte ranges (hls.js asks for them), and the headers it reads back.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    # X-Streamops-Refused: a page on another origin shows why playback was refused (playback_rules.py).
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Content-Type, Accept-Ranges, Date, Age, "
    "X-Streamops-Refused",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, Origin, Accept, Content-Type, Cache-Control",
    "Access-Control-Max-Age": "86400",
}


@web.middleware
async def _preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Answered for every path, so no media route has to know about CORS; a route with a preflight of
    # its own (WHIP, WHEP: other methods and headers) answers it.
    if request.method == "OPTIONS" and request.match_info.route.method != "OPTIONS":
        return web.Response(status=204, headers=PREFLIGHT_HEADERS)
    return await handler(request)


async def _cors_headers(_: web.Request, response: web.StreamResponse) -> None:
    # Errors (404 while not live) too: players read their status. A route's own CORS headers stay.
    for name, value in CORS_HEADERS.items():
        response.headers.setdefault(name, value)


def credential_required(check: CredentialCheck, also_open: frozenset[str] = frozenset()) -> Middleware:
    """401 for a request that does not present the stream's worker credential (as small_http
    answers it), but on the probes, /metrics and `also_open` (routes that check their peer instead)."""

    @web.middleware
    async def require(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in also_open or check.allows(request.path, request.headers.get(AUTHORIZATION)):
            return await handler(request)
        return web.Response(status=401, text="the stream's worker credential is required")

    return require


def worker_app(
    status: Callable[[], WorkerStatus],
    ready: Callable[[], bool],
    registry: CollectorRegistry,
    guard: Middleware | None = None,
) -> web.Application:
    """The routes every worker answers (small_http.worker_routes, the pusher's and recorder's server
    too), on aiohttp for the ingest's internal face, which serves its feeds beside them; `guard`
    (credential_required) runs before every route."""
    app = web.Application(middlewares=[guard] if guard is not None else [])
    for (method, path), route in worker_routes(status, ready, registry_metrics(lambda: registry)).items():
        if method == "GET":
            app.router.add_get(path, _aiohttp_handler(route))  # HEAD too, as small_http answers it
        else:
            app.router.add_route(method, path, _aiohttp_handler(route))
    return app


def public_app(
    ready: Callable[[], bool], caps: Middleware | None = None, middlewares: Sequence[Middleware] = ()
) -> web.Application:
    """The ingest's public face before its media routes: CORS for players on other origins, and the
    probes only (a load balancer's health check may use them); status and metrics are internal.
    `caps` (load_caps.py) comes first: a refused request costs nothing more; `middlewares` run after
    CORS's (key_bearing.https_only; last, public_thread.handlers_on)."""
    app = web.Application(middlewares=[*([caps] if caps is not None else []), _preflight, *middlewares])
    app.on_response_prepare.append(_cors_headers)

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ready") if ready() else web.Response(status=503, text="not ready")

    app.router.add_get(HEALTH_PATH, healthz)
    app.router.add_get(READY_PATH, readyz)
    return app


def _aiohttp_handler(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        reply = await route(await request.read())
        return web.Response(status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type})

    return handle


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving; the caller keeps the runner and calls `cleanup()` on the way out."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
