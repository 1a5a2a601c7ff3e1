#!/usr/bin/env python3
"""What a playback token check costs the edge (streamops/media/edge): h2load (nghttp2-client, HTTP/1.1,
keep-alive) asks the edge for the same cached part with and without a valid token, interleaved
rounds, and the per-request latency of each (h2load's --log-file) gives p50/p99; the difference is
the Lua verification (HMAC-SHA256 through LuaJIT's FFI, the key cache, the refusal bookkeeping),
since both answers come from the edge's memory cache. Writes bench/results/edge-token.md.

    python bench/edge_token.py [--requests 20000] [--clients 10] [--rounds 3]
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


def h2load(url: str, requests: int, clients: int, log: Path) -> list[float]:
    """Per-request durations (ms) of one h2load run over HTTP/1.1 (h2load appends to its log)."""
    log.unlink(missing_ok=True)
    proc = subprocess.run(
        ["h2load", "--h1", "-n", str(requests), "-c", str(clients), "--log-file", str(log), url],
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
        edge = Edge(work / "edge", "bench", f"http://127.0.0.1:{server.server_port}", workers=1)
        (edge.keys_dir / "current").write_bytes(key)
        token = sign(key, "bench/cam", int(time.time()) + 3600)
        plain = f"{edge.http}/streams/bench/cam/hls/cmaf/part-1.m4s"
        signed = f"{edge.http}/streams/bench/cam/t/{token}/hls/cmaf/part-1.m4s"
        results: dict[str, list[float]] = {"without token": [], "with token": []}
        cpu: dict[str, float] = {"without token": 0.0, "with token": 0.0}
        with edge:
            assert edge.process is not None
            for url in (plain, signed):
                h2load(url, 200, 1, work / "warm.log")  # the cache entry, the key cache
            for _ in range(args.rounds):
                for name, url in (("without token", plain), ("with token", signed)):
                    began = proc_cpu_seconds(edge.process.pid)
                    results[name] += h2load(url, args.requests, args.clients, work / "run.log")
                    cpu[name] += proc_cpu_seconds(edge.process.pid) - began
    server.shutdown()
    load_after = os.getloadavg()

    rows = []
    for name, values in results.items():
        cpu_us = cpu[name] / len(values) * 1e6
        rows.append(
            (name, len(values), statistics.median(values), percentile(values, 99), percentile(values, 99.9), cpu_us)
        )
    added_p50 = rows[1][2] - rows[0][2]
    added_p99 = rows[1][3] - rows[0][3]
    added_cpu = rows[1][5] - rows[0][5]
    lines = [
        "# The edge's token check (bench/edge_token.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after. One nginx worker; h2load --h1, "
        f"{args.clients} keep-alive connections, {args.rounds} interleaved rounds of {args.requests} requests "
        "per kind; the same cached 60 kB part each time (the edge's memory cache), so the difference is the "
        "token's verification (both requests are logged and counted alike).",
        "",
        "| request | requests | p50 ms | p99 ms | p99.9 ms | edge CPU µs/request |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {n} | {c} | {p50:.3f} | {p99:.3f} | {p999:.3f} | {us:.1f} |" for n, c, p50, p99, p999, us in rows),
        "",
        f"Added by the token check: p50 {added_p50 * 1000:+.0f} µs, p99 {added_p99 * 1000:+.0f} µs, "
        f"edge CPU {added_cpu:+.1f} µs per request (target: ≤ 1 ms p99).",
        "",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
