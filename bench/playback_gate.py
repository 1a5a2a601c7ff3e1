"""What the ingest's playback gate (streamops.media.ingest.playback_access) adds to each playback
request: the token check of a signed stream (parse, key lookup, HMAC-SHA256, constant-time compare)
and, for every stream, the request counter and the viewer-session update, measured in process around
a trivial handler, against the handler alone. Prints a Markdown table (p50, p99, max in µs) with the
machine's load; docs/design/playback.md ("The ingest") keeps the numbers.

    .venv/bin/python -m bench.playback_gate [--requests 20000] [--sessions 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from prometheus_client import CollectorRegistry
from streamops.contract.ingest import IngestConfig
from streamops.contract.playback_token import sign
from streamops.media.ingest.playback_access import PlaybackGate
from streamops.media.ingest.viewers import RequestKind

STREAM = "bench/cam"


async def handler(_: web.Request) -> web.Response:
    return web.Response(text="part")


def gate(keys_dir: Path, access: str) -> PlaybackGate:
    playback = {"namespace": "bench", "access": access, "keysDir": str(keys_dir)}
    config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}, "playback": playback})
    return PlaybackGate(config, CollectorRegistry(), {"stream": "cam", "role": "primary"}, logging.getLogger("bench"))


def timed(
    serve: Callable[[web.Request], Awaitable[web.StreamResponse]], token: str, requests: int, sessions: int
) -> list[float]:
    async def run() -> list[float]:
        out = []
        for i in range(requests):
            request = make_mocked_request(
                "GET",
                f"/streams/bench/cam/t/{token}/hls/cmaf/part-000001.m4s?_sid=s{i % sessions}",
                match_info={"token": token},
                headers={"User-Agent": "bench", "X-Forwarded-For": "10.0.0.1"},
            )
            start = time.perf_counter()
            response = await serve(request)
            out.append(time.perf_counter() - start)
            assert response.status == 200
        return out

    return asyncio.run(run())


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=3000, help="distinct _sid values (viewers in the window)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys_dir = Path(tmp)
        key = os.urandom(32)
        (keys_dir / "current").write_bytes(key)
        (keys_dir / "previous").write_bytes(os.urandom(32))
        token = sign(key, STREAM, int(time.time()) + 3600)
        rows = {
            "handler alone": timed(handler, token, args.requests, args.sessions),
            "public stream (counts only)": timed(
                gate(keys_dir, "public").guard(RequestKind.PART, handler), token, args.requests, args.sessions
            ),
            "signed stream (token + counts)": timed(
                gate(keys_dir, "signed").guard(RequestKind.PART, handler), token, args.requests, args.sessions
            ),
        }
    base = quantile(rows["handler alone"], 0.99)
    print(
        f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, {args.requests} requests, {args.sessions} sessions\n"
    )
    print("| | p50 µs | p99 µs | max µs | p99 added µs |\n|---|---|---|---|---|")
    for name, values in rows.items():
        p50, p99 = quantile(values, 0.5), quantile(values, 0.99)
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {max(values) * 1e6:.0f} | {p99 - base:.1f} |")


if __name__ == "__main__":
    main()
