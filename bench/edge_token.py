#!/usr/bin/env python3
"""What a playback token check costs the edge (streamops/media/edge): h2load (nghttp2-client, HTTP/1.1,
keep-alive) asks the edge for the same cached part without a token, with one token (a viewer's: the
edge verifies it once, then finds its verdict in a table of the worker) and with a new token every
request (the whole check: regex, HMAC-SHA256 through LuaJIT's FFI, a constant-time compare),
interleaved rounds, and the per-request latency of each (h2load's --log-file) gives p50/p99; the
differences are the token's, since every answer comes from the edge's memory cache. Writes
bench/results/edge-token.md.

    python -m bench.edge_token [--requests 20000] [--clients 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from devtools.media.edge import Edge
from devtools.ports import free_port
from devtools.processes import proc_cpu_seconds
from streamops.contract.playback_token import sign

RESULTS = Path(__file__).parent / "results" / "edge-token.md"
PART = b"\0" * 60_000  # a 200 ms part of a ~2.4 Mbit/s stream


class Origin(http.server.BaseHTTPRequestHandler):
    """Any path: the part's bytes (the edge asks once per cache key)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/iso.segment")
        self.send_header("Content-Length", str(len(PART)))
        self.end_headers()
        self.wfile.write(PART)

    def log_message(self, *_: object) -> None:
        pass


def h2load(urls: list[str], requests: int, clients: int, log: Path) -> list[float]:
    """Per-request durations (ms) of one h2load run over HTTP/1.1 (h2load appends to its log); each
    client takes `urls` in turn."""
    log.unlink(missing_ok=True)
    (log.parent / "urls").write_text("\n".join(urls) + "\n")
    proc = subprocess.run(
        [
            "h2load",
            "--h1",
            "-n",
            str(requests),
            "-c",
            str(clients),
            "--log-file",
            str(log),
            "-i",
            str(log.parent / "urls"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or "succeeded" not in proc.stdout:
        raise RuntimeError(f"h2load failed: {proc.stdout[-1000:]}{proc.stderr[-1000:]}")
    durations = []
    for line in log.read_text().splitlines():
        _, status, micros = line.split("\t")[:3]
        if status != "200":
            raise RuntimeError(f"h2load got {status}")
        durations.append(int(micros) / 1000)
    return durations


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20000, help="per run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each kind")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edge-token-") as tmp:
        work = Path(tmp)
        key = os.urandom(32)
        edge = Edge(
            work / "edge",
            "bench",
            f"http://127.0.0.1:{server.server_port}",
            workers=1,
            routes={"/streams/bench/cam": "cam"},
        )
        (edge.keys_dir / "current").write_bytes(key)
        expires = int(time.time()) + 3600
        part = "hls/cmaf/part-1.m4s"
        plain = [f"{edge.http}/streams/bench/cam/{part}"]
        signed = [f"{edge.http}/streams/bench/cam/t/{sign(key, 'bench/cam', expires)}/{part}"]
        # A token per request (expiry seconds apart), each verified in full.
        fresh = [
            f"{edge.http}/streams/bench/cam/t/{sign(key, 'bench/cam', expires + i)}/{part}"
            for i in range(args.rounds * (args.requests + 1))
        ]
        kinds = {"without token": plain, "with a viewer's token": signed, "with a new token each request": fresh}
        results: dict[str, list[float]] = {name: [] for name in kinds}
        cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
        with edge:
            assert edge.process is not None
            for urls in (plain, signed):
                h2load(urls, 200, 1, work / "warm.log")  # the cache entry, the key cache
            for r in range(args.rounds):
                for name, urls in kinds.items():
                    if urls is fresh:
                        urls = fresh[r * args.requests : (r + 1) * args.requests]
                    began = proc_cpu_seconds(edge.process.pid)
                    results[name] += h2load(urls, args.requests, args.clients, work / "run.log")
                    cpu[name] += proc_cpu_seconds(edge.process.pid) - began
    server.shutdown()
    load_after = os.getloadavg()

    rows = []
    for name, values in results.items():
        cpu_us = cpu[name] / len(values) * 1e6
        rows.append(
            (name, len(values), statistics.median(values), percentile(values, 99), percentile(values, 99.9), cpu_us)
        )
    added = [
        f"{name}: p50 {(r[2] - rows[0][2]) * 1000:+.0f} µs, p99 {(r[3] - rows[0][3]) * 1000:+.0f} µs, "
        f"edge CPU {r[5] - rows[0][5]:+.1f} µs per request"
        for name, r in zip(kinds, rows, strict=True)
        if r is not rows[0]
    ]
    lines = [
        "# The edge's token check (bench/edge_token.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after. One nginx worker; h2load --h1, "
        f"{args.clients} keep-alive connections, {args.rounds} interleaved rounds of {args.requests} requests "
        "per kind; the same cached 60 kB part each time (the edge's memory cache), so the differences are the "
        "token's (every request is logged and counted alike).",
        "",
        "| request | requests | p50 ms | p99 ms | p99.9 ms | edge CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {n} | {c} | {p50:.3f} | {p99:.3f} | {p999:.3f} | {us:.1f} |" for n, c, p50, p99, p999, us in rows),
        "",
        "Added by the token (target: ≤ 1 ms p99): " + "; ".join(added) + ".",
        "",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
