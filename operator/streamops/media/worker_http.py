"""The HTTP face every worker has: /healthz, /readyz, /status (JSON) and /metrics (Prometheus)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streamops.contract.worker import HEALTH_PATH, METRICS_PATH, READY_PATH, STATUS_PATH, WorkerStatus


def worker_app(
    status: Callable[[], WorkerStatus], ready: Callable[[], bool], registry: CollectorRegistry
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ready") if ready() else web.Response(status=503, text="not ready")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(status().to_json_dict())

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
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
