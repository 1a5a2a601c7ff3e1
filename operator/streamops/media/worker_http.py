"""The HTTP face every worker has: /healthz, /readyz, /status (JSON) and /metrics (Prometheus), and
optionally CORS for media a web page on another origin fetches (the ingest's HLS and screenshot)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streamops.contract.worker import HEALTH_PATH, METRICS_PATH, READY_PATH, STATUS_PATH, WorkerStatus

# What a browser player on another origin needs: any origin (the media is public to whoever has the URL,
# like the URL itself), byte ranges (hls.js asks for them), and the headers it reads back.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Content-Type, Accept-Ranges, Date, Age",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range, Origin, Accept, Content-Type, Cache-Control",
    "Access-Control-Max-Age": "86400",
}


@web.middleware
async def _preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "OPTIONS":  # answered for every path: no route has to know about CORS
        return web.Response(status=204, headers=PREFLIGHT_HEADERS)
    return await handler(request)


async def _cors_headers(_: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(CORS_HEADERS)  # errors (404 while not live) too: players read their status


def worker_app(
    status: Callable[[], WorkerStatus], ready: Callable[[], bool], registry: CollectorRegistry, cors: bool = False
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ready") if ready() else web.Response(status=503, text="not ready")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(status().to_json_dict())

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(middlewares=[_preflight] if cors else [])
    if cors:
        app.on_response_prepare.append(_cors_headers)
    app.router.add_get(HEALTH_PATH, healthz)
    app.router.add_get(READY_PATH, readyz)
    app.router.add_get(STATUS_PATH, status_json)
    app.router.add_get(METRICS_PATH, metrics)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving; the caller keeps the runner and calls `cleanup()` on the way out."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
