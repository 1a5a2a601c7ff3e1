#!/usr/bin/env python3
"""The edge's CPU per request, by request kind, against static nginx serving the same bytes
(issue 27: edge CPU per viewer ≤ 1.5× static nginx). h2load (nghttp2-client, HTTP/1.1, keep-alive)
asks the edge (streamops/media/edge, devtools.media.edge) for one cached object of each kind, the
way viewers do (every request with its viewer's `_sid`, --sessions of them in turn), and nginx
(devtools.media.nginx_static, as many workers) for a file of the same size; the CPU of each server's
whole process tree over the run, per request. The origin is a small Python server answering every
path (the edge asks it once per cache key and TTL), so what is measured is the edge's hit path:

- segment: a 200 kB `.ts` (2 s of 800 kbit/s), a file the edge sends with sendfile (before: nginx's proxy_cache);
- part: a 20 kB `part-N.m4s` (200 ms), the Lua memory store;
- playlist: a standard HLS playlist (its 500 ms TTL: a miss every half second), the memory store;
- blocking: an LL-HLS blocking reload (`_HLS_msn`/`_HLS_part`), the memory store;
each without and with a token (the check: one HMAC-SHA256). Writes bench/results/edge-cpu.md.

    python -m bench.edge_cpu [--requests 30000] [--clients 50] [--workers 1] [--rounds 3]
    # another commit's edge, for a before/after:
    git archive <commit> operator/streamops/media/edge | tar -x -C /tmp/old
    python -m bench.edge_cpu --edge-dir /tmp/old/operator/streamops/media/edge --out /tmp/old.md
"""

from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from devtools.media.edge import Edge
from devtools.media.nginx_static import NginxStatic
from devtools.ports import free_port
from devtools.processes import proc_cpu_seconds
from streamops.contract.playback_token import sign

RESULTS = Path(__file__).parent / "results" / "edge-cpu.md"


class EdgeFrom(Edge):
    """The edge run from another directory of its files (another commit's)."""

    def __init__(self, files_dir: Path, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files_dir = files_dir

    def _command(self, *args: str) -> list[str]:
        return ["sh", str(self.files_dir / "entrypoint.sh"), *args]


NAMESPACE, NAME = "bench", "cam"

SEGMENT = b"\x47" * 200_000
PART = b"\0" * 20_000
PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n"
    + "".join(f"#EXTINF:2.000000,\nseg-{n}.ts\n" for n in range(100, 106))
).encode()
# A live LL-HLS playlist: 6 segments (the last 3 with their parts listed), 3 parts of the 7th; the
# blocking request asks for the next part, as a player at the live edge does.
BLOCKING = (
    "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.2\n"
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-MEDIA-SEQUENCE:100\n"
    + "".join(
        "".join(f'#EXT-X-PART:DURATION=0.2,URI="part-{s * 10 + p}.m4s"\n' for p in range(10) if s >= 103)
        + f"#EXTINF:2.000000,\nseg-{s}.m4s\n"
        for s in range(100, 106)
    )
    + "".join(f'#EXT-X-PART:DURATION=0.2,URI="part-{1060 + p}.m4s"\n' for p in range(3))
    + '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-1063.m4s"\n'
).encode()

# kind -> (edge path under the stream's prefix, static path, body, content type)
KINDS: dict[str, tuple[str, str, bytes, str]] = {
    "segment": ("/hls/ts/seg-101.ts", "/hls/ts/seg-101.ts", SEGMENT, "video/mp2t"),
    "part": ("/hls/cmaf/part-501.m4s", "/hls/cmaf/part-501.m4s", PART, "video/iso.segment"),
    "playlist": ("/hls/ts/index.m3u8", "/hls/ts/index.m3u8", PLAYLIST, "application/vnd.apple.mpegurl"),
    "blocking": (
        "/hls/cmaf/index.m3u8?_HLS_msn=106&_HLS_part=3",
        "/hls/cmaf/index.m3u8",
        BLOCKING,
        "application/vnd.apple.mpegurl",
    ),
}


class Origin(http.server.BaseHTTPRequestHandler):
    """The body of the kind whose path matches; the edge asks once per key and TTL."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        body, ctype = next(((b, c) for _, s, b, c in KINDS.values() if path.endswith(s)), (b"", "text/plain"))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def h2load(urls: list[str], requests: int, clients: int, work: Path) -> float:
    """Runs h2load --h1 over `urls` (each client takes them in turn); returns its requests/s."""
    (work / "urls").write_text("\n".join(urls) + "\n")
    proc = subprocess.run(
        ["h2load", "--h1", "-n", str(requests), "-c", str(clients), "-i", str(work / "urls")],
        capture_output=True,
        text=True,
        check=False,
    )
    done = next((line for line in proc.stdout.splitlines() if line.startswith("requests:")), "")
    if proc.returncode != 0 or f"{requests} succeeded" not in done or "2xx" not in proc.stdout:
        raise RuntimeError(f"h2load failed: {proc.stdout[-1500:]}{proc.stderr[-500:]}")
    codes = next(line for line in proc.stdout.splitlines() if line.startswith("status codes:"))
    if not codes.startswith(f"status codes: {requests} 2xx"):
        raise RuntimeError(f"h2load: not all 2xx: {codes}")
    rate = next(line for line in proc.stdout.splitlines() if line.startswith("finished in"))
    return float(rate.split(",")[1].split()[0])


@dataclass
class Tally:
    requests: int = 0
    cpu: float = 0.0
    rates: list[float] = field(default_factory=list)

    def us(self) -> float:
        return self.cpu / max(1, self.requests) * 1e6


def measure(pid: int, urls: list[str], args: argparse.Namespace, work: Path, tally: Tally) -> None:
    began = proc_cpu_seconds(pid)
    tally.rates.append(h2load(urls, args.requests, args.clients, work))
    tally.cpu += proc_cpu_seconds(pid) - began
    tally.requests += args.requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=30000, help="per run")
    parser.add_argument("--clients", type=int, default=50, help="concurrent keep-alive connections")
    parser.add_argument("--sessions", type=int, default=1000, help="distinct _sid values, taken in turn")
    parser.add_argument("--workers", type=int, default=1, help="nginx workers, of the edge and of static nginx")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each kind")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    parser.add_argument("--access-log", action="store_true", help="the edge writes its access log (off by default)")
    parser.add_argument("--edge-dir", type=Path, help="the edge's files from elsewhere (default: this tree's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    load_before = os.getloadavg()
    tallies: dict[tuple[str, str], Tally] = {}
    with tempfile.TemporaryDirectory(prefix="edge-cpu-") as tmp:
        work = Path(tmp)
        root = work / "root"
        for _, static_path, body, _ in KINDS.values():
            (root / static_path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / static_path.lstrip("/")).write_bytes(body)
        key = os.urandom(32)
        edge = (partial(EdgeFrom, args.edge_dir) if args.edge_dir else Edge)(
            work / "edge",
            NAMESPACE,
            f"http://127.0.0.1:{server.server_port}",
            workers=args.workers,
            routes={f"/streams/{NAMESPACE}/{NAME}": NAME},
            env={} if args.access_log else {"STREAMOPS_EDGE_ACCESS_LOG": "off"},
        )
        (edge.keys_dir / "current").write_bytes(key)
        token = sign(key, f"{NAMESPACE}/{NAME}", int(time.time()) + 3600)
        static = NginxStatic(root, work / "static", worker_processes=args.workers)
        prefix = edge.path(NAME)

        def urls(base: str, path: str) -> list[str]:
            sep = "&" if "?" in path else "?"
            return [f"{base}{path}{sep}_sid=bench-{i}" for i in range(args.sessions)]

        plans: list[tuple[str, str, int, list[str]]] = []
        with edge, static:
            assert edge.process is not None and static.pid is not None
            for kind in kinds:
                edge_path, static_path, _, _ = KINDS[kind]
                plans += [
                    (kind, "edge", edge.process.pid, urls(edge.http + prefix, edge_path)),
                    (kind, "edge, token", edge.process.pid, urls(f"{edge.http}{prefix}/t/{token}", edge_path)),
                    (kind, "static nginx", static.pid, urls(static.url().rstrip("/"), static_path)),
                ]
            for _, _, _, u in plans:  # the caches, the keys, the connections' first costs
                h2load(u[:50], 200, 4, work)
            for _ in range(args.rounds):
                for kind, server_name, pid, u in plans:
                    measure(pid, u, args, work, tallies.setdefault((kind, server_name), Tally()))
    server.shutdown()
    load_after = os.getloadavg()

    lines = [
        "# The edge's CPU per request, by kind, vs static nginx (bench/edge_cpu.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} CPUs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after. {args.workers} nginx worker(s) each; h2load --h1, "
        f"{args.clients} keep-alive connections, {args.sessions} `_sid` values in turn, {args.rounds} interleaved "
        f"rounds of {args.requests} requests per row; edge access log {'on' if args.access_log else 'off'}; edge "
        f"files: {args.edge_dir or 'this tree'}. CPU: "
        "the server's whole process tree (user + system), over the requests it answered.",
        "",
        "| kind | server | requests | requests/s (mean) | CPU µs/request | vs static nginx |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind in kinds:
        static_us = tallies[(kind, "static nginx")].us()
        for server_name in ("edge", "edge, token", "static nginx"):
            t = tallies[(kind, server_name)]
            lines.append(
                f"| {kind} | {server_name} | {t.requests} | {sum(t.rates) / len(t.rates):.0f} | {t.us():.1f} | "
                f"{t.us() / static_us:.2f}× |"
            )
    lines.append("")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
