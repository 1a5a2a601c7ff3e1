#!/usr/bin/env python3
"""Stand-in for the HTTP face of many ingest workers (bench/webhooks.py's cost row at 500 streams):
one process listens on every worker Pod's http port on 127.0.0.1 and answers `/status` with the
contract's IngestStatus and `/healthz` with 200. Stream i (the i-th port of --ports) is live for
--on seconds of every --period, its first session starting at --t0 + i * period / N; so the operator
reads 500 streams going live and idle in turn without 500 workers and 500 FFmpeg processes. Only
the workers are stood in for: the operator, the API server and the webhook receiver are real.

    python -m bench.ingest_telemetry --ports ports.json --t0 EPOCH --period 60 --on 30

Prints `ready` on stdout once every port listens; stopped by PID (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from streamops.contract.http import HEALTH_PATH, STATUS_PATH
from streamops.contract.ingest import IngestStatus


def session(index: int, count: int, t0: float, period: float, on: float, now: float) -> tuple[bool, float | None]:
    """(live now, start of the current or last session) of stream `index`."""
    first = t0 + index * period / count
    if now < first:
        return False, None
    k = math.floor((now - first) / period)
    started = first + k * period
    return now - started < on, started


def status_of(index: int, args: argparse.Namespace, now: float) -> bytes:
    live, started = session(index, args.count, args.t0, args.period, args.on, now)
    at = datetime.fromtimestamp(started, UTC) if started is not None else None
    finished = datetime.fromtimestamp(started + args.on, UTC) if started is not None and not live else None
    status = IngestStatus(
        live=live,
        source="rtmp" if live else None,
        active_ingest="primary" if live else None,
        started_at=at,
        finished_at=finished,
        video_width=320 if live else None,
        video_height=180 if live else None,
        video_codec="h264" if live else None,
        audio_codec="aac" if live else None,
        frame_rate=15.0 if live else None,
        bitrate=500_000 if live else None,
    )
    return json.dumps(status.to_json_dict()).encode()


async def serve(args: argparse.Namespace) -> None:
    ports: list[int] = json.loads(Path(args.ports).read_text())
    args.count = len(ports)
    index_of = {port: i for i, port in enumerate(ports)}

    async def status(request: web.Request) -> web.Response:
        port = request.transport.get_extra_info("sockname")[1] if request.transport else 0
        body = status_of(index_of[port], args, time.time())
        return web.Response(body=body, content_type="application/json")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get(STATUS_PATH, status)
    app.router.add_get(HEALTH_PATH, health)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    for port in ports:
        await web.TCPSite(runner, "127.0.0.1", port, backlog=64).start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ports", required=True, help="JSON list of the workers' http ports, in stream order")
    parser.add_argument("--t0", type=float, required=True, help="Unix time of the first stream's first session")
    parser.add_argument("--period", type=float, default=60.0)
    parser.add_argument("--on", type=float, default=30.0)
    asyncio.run(serve(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
