#!/usr/bin/env python3
"""`make bench-latency`: glass-to-glass latency measured in a real browser. Writes
bench/results/latency.md.

A clock publisher (devtools.media.clock_source: the wall clock burned into every frame, 640x360 30 fps,
x264 zerolatency, 1 s GOP) pushes RTMP to each server in turn; headless Chromium
(devtools.media.browser, confined to loopback) opens the player page and reads the clock back from every
presented picture (requestVideoFrameCallback + canvas): latency = when the picture reaches the
screen − the time burned into it. Both run on this machine, so they share the clock.

Rows, each on a fresh server and a fresh page, sampled for --seconds after --settle seconds of play:
- streamops, standard HLS (CMAF, 2 s segments) in hls.js with its defaults;
- streamops, LL-HLS (hls.latencyMode low, 200 ms parts) in hls.js with lowLatencyMode;
- streamops, DASH (FFmpeg's dash muxer, 2 s segments) in dash.js;
- the peer: nginx-rtmp's HLS with the smallest fragment it cuts with a 1 s GOP (hls_fragment 1s,
  hls_playlist_length 3s), played by the same page and hls.js (its defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from devtools.media.browser import Browser
from devtools.media.clock_source import ClockPublisher, LatencySample, glass_to_glass
from devtools.media.peers import NginxRtmp
from devtools.media.player_page import PLAYING, VIDEO
from devtools.media.workers import Ingest
from devtools.ports import free_port
from devtools.versions import REPO as ROOT
from devtools.waits import wait_for
from streamops.media.ingest.player.page import PlayerOptions, add_player_routes


@dataclass(frozen=True)
class Row:
    name: str
    sample: LatencySample
    target_ms: float | None


@contextlib.contextmanager
def ingest_source(tmp: Path, **overrides: Any) -> Iterator[str]:
    """A streamops ingest with the clock publisher on it; yields its player page's URL."""
    workdir = tmp / f"ingest-{time.monotonic_ns()}"
    workdir.mkdir()
    ingest = Ingest(workdir, screenshots={"enabled": False}, **overrides).start()
    try:
        with ClockPublisher(ingest.rtmp_url(), log_path=workdir / "publisher.log"):
            ingest.wait_live()
            yield f"{ingest.http}/player"
    finally:
        ingest.stop()


@contextlib.contextmanager
def nginx_source(tmp: Path) -> Iterator[str]:
    """nginx-rtmp's HLS, played by the same player page (served here, the playlist on nginx)."""
    workdir = tmp / f"nginx-{time.monotonic_ns()}"
    with (
        NginxRtmp(hls=True, hls_fragment=1, hls_playlist_length=3, workdir=workdir) as nginx,
        ClockPublisher(nginx.rtmp_url(), log_path=workdir / "publisher.log"),
    ):
        wait_for(lambda: len(nginx.segments()) >= 3, timeout=30)
        with player_page_for(nginx.hls_url()) as url:
            yield url


@contextlib.contextmanager
def player_page_for(playlist_url: str) -> Iterator[str]:
    """The streamops player page for a playlist elsewhere (an absolute URL resolves as itself)."""
    app = web.Application()
    add_player_routes(app, "", PlayerOptions("nginx", playlist_url, None, False, None))
    port = free_port()
    loop_ready = threading.Event()
    state: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        state["loop"], state["runner"] = loop, runner
        loop_ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    loop_ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port}/player"
    finally:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(10)


def measure(browser: Browser, url: str, settle: float, seconds: float) -> LatencySample:
    page = browser.open(url)
    try:
        page.wait_until(PLAYING, timeout=60)
        time.sleep(settle)  # the players approach their target latency after the start
        return glass_to_glass(page, VIDEO, seconds)
    finally:
        page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="sampling window per row")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of play before sampling")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latency.md")
    args = parser.parse_args()

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="streamops-latency-") as d, Browser() as browser:
        tmp = Path(d)
        scenarios: list[tuple[str, Any, str, float | None]] = [
            (
                "streamops, standard HLS (CMAF, 2 s segments), hls.js 2 segments behind",
                lambda: ingest_source(tmp),
                "",
                6000,
            ),
            (
                "streamops, LL-HLS (200 ms parts, 2 s segments), hls.js lowLatencyMode",
                lambda: ingest_source(tmp, hls={"latencyMode": "low"}),
                "",
                2000,
            ),
            ("streamops, DASH (2 s segments), dash.js", lambda: ingest_source(tmp, dash=True), "?format=dash", None),
            (
                "nginx-rtmp HLS (1 s fragments, 3 s playlist), hls.js 2 segments behind",
                lambda: nginx_source(tmp),
                "",
                None,
            ),
        ]
        for name, source, query, target in scenarios:
            with source() as url:
                sample = measure(browser, url + query, args.settle, args.seconds)
            print(f"{name}: {sample.summary()}", flush=True)
            rows.append(Row(name, sample, target))

    peer = rows[-1].sample.median
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Glass-to-glass latency",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {platform.machine()}, {len(os.sched_getaffinity(0))} cores "
        f"(load average at the end {load}); headless Chromium {browser_version()} from Debian, hls.js and dash.js "
        "as pinned in player/package-lock.json.",
        "",
        "Clock publisher (wall clock burned into every frame) 640x360 30 fps x264 zerolatency 1 s GOP + AAC, RTMP "
        f"push; each row a fresh server and page, sampled for {args.seconds:.0f} s after {args.settle:.0f} s of play. "
        "Latency = the picture's display time in the browser − the time burned into it.",
        "",
        "| row | median | p95 | vs nginx-rtmp HLS | stalls | frames read | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s = row.sample
        verdict = (
            "—"
            if row.target_ms is None
            else f"≤ {row.target_ms / 1000:.1f} s " + ("✅" if s.median <= row.target_ms else "❌")
        )
        lines.append(
            f"| {row.name} | {s.median / 1000:.2f} s | {s.p95 / 1000:.2f} s | {s.median / peer:.2f}× | {s.waiting} | "
            f"{s.decoded}/{s.presented} | {verdict} |"
        )
    lines += ["", "Raw: " + "; ".join(f"{r.name}: {r.sample.summary()}" for r in rows) + ".", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if all(r.sample.frames for r in rows) else 1


def browser_version() -> str:
    out = subprocess.run(["/usr/lib/chromium/chromium", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().removeprefix("Chromium ").split()[0] if out.returncode == 0 else "?"


if __name__ == "__main__":
    sys.exit(main())
