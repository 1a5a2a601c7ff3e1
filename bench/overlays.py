#!/usr/bin/env python3
"""`make bench-overlays`: what an HTML overlay costs and how fast a page change reaches viewers
(docs/design/overlays.md). Writes bench/results/overlays.md.

Measured on this machine, with real parts: the ingest worker (the workers' FFmpeg) transcoding a
real FFmpeg publisher (testsrc2 + sine, 30 fps) into one rendition of the source's height, and the
renderer worker (real headless Chromium) drawing a scoreboard page (a box of 40 % x 20 % whose
text changes every second, as a live score or a clock does) served on loopback:
- CPU (% of one core) and peak PSS of the ingest's process tree without and with the overlay, and
  of the renderer's tree (Python + Chromium's browser, GPU, renderer processes), at 720p30 (one
  and two overlays) and 1080p30 (one), each over a steady window, with the encoding speed;
- the ingest FFmpeg's extra CPU alone, as CPU time per second of video, not paced (load-free);
- the time from a page change (the JSON the page polls changes) to its first appearance in the HLS
  output, found by decoding the newest segments' frames in the overlay's box (1 s segments) and
  comparing them with the renderer's own picture; split into change → the renderer's PNG replaced,
  and PNG → seen in a downloaded segment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python
from devtools.media.overlays import (
    OverlayRendererProcess,
    PageServer,
    box_frames,
    differing_pixels,
    newest_segment,
    rgb_of,
    rgba_pixels,
    score_json,
    scoreboard_page,
    settled,
    which_picture,
)
from devtools.media.peers import Publisher
from devtools.media.workers import Ingest
from devtools.processes import proc_cpu_seconds, proc_tree, pss_bytes
from devtools.versions import REPO as ROOT
from devtools.versions import worker_ffmpeg_env
from devtools.waits import wait_for
from streamops.contract.ingest import IngestOverlay
from streamops.media.ffmpeg import command
from streamops.media.ingest.commands import with_overlays

from bench.report_file import commit, loadavg, write_report

RESULT = ROOT / "bench" / "results" / "overlays.md"
BOX = (5, 5, 40, 20)  # left, top, width, height in percent
BOXES = (BOX, (55, 75, 40, 20))  # a second overlay (the rows with two) bottom right
SIZES = {720: ("1280x720", 3000), 1080: ("1920x1080", 5000)}
TICKING_PAGE = """<!doctype html><html><head><style>
html,body{margin:0;height:100%;overflow:hidden}
#s{height:100%;background:#c01010;color:#fff;font:bold FONTpx sans-serif;display:flex;align-items:center;
justify-content:center}</style></head><body><div id="s">HOME 0</div><script>
let n = 0; setInterval(() => { n += 1; document.getElementById('s').textContent = 'HOME ' + n }, 1000);
</script></body></html>"""


def box_pixels(height: int, box: tuple[int, int, int, int] = BOX) -> tuple[int, int, int, int]:
    width = round(height * 16 / 9)
    left, top, w, h = box
    return round(width * left / 100), round(height * top / 100), round(width * w / 100), round(height * h / 100)


@contextlib.contextmanager
def stream(tmp: Path, height: int, overlay_urls: list[str], segment_seconds: int = 2) -> Iterator[tuple[Ingest, Any]]:
    """An ingest (one rendition of the source's height) with a publisher, and the renderer drawing
    one overlay per URL (score0, score1 in BOXES) when there are any."""
    size, kbps = SIZES[height]
    overlays = tmp / "overlays"
    config: dict[str, Any] = {
        "transcoding": {"renditions": [{"name": f"{height}p", "height": height, "videoBitrateKbps": kbps}]},
        "hls": {"segmentSeconds": segment_seconds, "mpegts": False},
        "screenshots": {"enabled": False},
    }
    names = [f"score{i}" for i in range(len(overlay_urls))]
    if overlay_urls:
        config["overlays"] = [
            {"name": name, "x": box[0], "y": box[1], "width": box[2], "height": box[3]}
            for name, box in zip(names, BOXES, strict=False)
        ]
        config["overlayDir"] = str(overlays)
    workdir = tmp / f"ingest-{height}-{len(overlay_urls)}-{time.monotonic_ns()}"
    workdir.mkdir()
    ingest = Ingest(workdir, **config).start()
    renderer = None
    try:
        if overlay_urls:
            pages = []
            for name, url, box in zip(names, overlay_urls, BOXES, strict=False):
                _, _, w, h = box_pixels(height, box)
                pages.append({"name": name, "url": url, "width": w, "height": h})
            renderer = OverlayRendererProcess(
                workdir, {"stream": "cam", "directory": str(overlays), "overlays": pages}, switched_on=names
            ).start()
        with Publisher(ingest.rtmp_url(), size=size, duration=600):
            ingest.wait_live(timeout=30)
            if renderer is not None:
                for name in names:
                    wait_for(lambda n=name: renderer.report(n).get("state") == "rendering", timeout=30)
            yield ingest, renderer
    finally:
        if renderer is not None:
            renderer.stop()
        ingest.stop()


def window(pid: int, seconds: float, out: dict[str, tuple[float, int]], key: str) -> None:
    """(% of one core, peak PSS bytes) of a process tree over `seconds` (PSS sampled every 2 s)."""
    c0, t0, pss, sampled = proc_cpu_seconds(pid), time.monotonic(), 0, 0.0
    while time.monotonic() - t0 < seconds:
        if time.monotonic() - sampled >= 2:
            pss, sampled = max(pss, pss_bytes(proc_tree(pid))), time.monotonic()
        time.sleep(0.25)
    out[key] = (100 * (proc_cpu_seconds(pid) - c0) / (time.monotonic() - t0), pss)


def cost(tmp: Path, height: int, urls: list[str], seconds: float) -> dict[str, tuple[float, int]]:
    with stream(tmp, height, urls) as (ingest, renderer):
        time.sleep(3)
        out: dict[str, tuple[float, int]] = {}
        threads = [threading.Thread(target=window, args=(ingest.process.pid, seconds, out, "ingest"))]
        if renderer is not None:
            threads.append(threading.Thread(target=window, args=(renderer.process.pid, seconds, out, "renderer")))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if renderer is not None:
            out["captures"] = (float(renderer.report("score0").get("captures", 0)), 0)
            for i in range(len(urls)):
                shutil.copyfile(renderer.directory / f"score{i}.png", tmp / f"score{i}-{height}.png")
        out["speed"] = (float(ingest.status().get("transcodingSpeed") or 0), 0)
        return out


def ffmpeg_cpu(height: int, pngs: list[Path], seconds: int = 20) -> float:
    """CPU seconds per second of 30 fps video of the workers' FFmpeg decoding an H.264 testsrc2 file
    and encoding it as the ingest encodes a rendition (x264 veryfast, its bitrate), with the ingest's
    overlay filters (commands.with_overlays: image2 looped at 10 fps, scale2ref, overlay) for each
    PNG (in BOXES). Not paced (-re): CPU time, so the machine's load does not change it."""
    size, kbps = SIZES[height]
    source = Path(tempfile.gettempdir()) / f"bench-overlays-source-{height}-{seconds}.mp4"
    if not source.exists():  # what a publisher sends (as devtools.media.peers.Publisher), made once
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30", "-t", str(seconds),
             "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-b:v", f"{kbps}k", str(source)],
            check=True,
        )  # fmt: skip
    overlays = [
        IngestOverlay(name=png.stem, x=left, y=top, width=width, height=h)
        for png, (left, top, width, h) in zip(pngs, BOXES, strict=False)
    ]
    video = ffmpeg_python.input(str(source)).video
    if overlays:  # the PNGs side by side, each named as the renderer names an overlay's
        video = with_overlays(overlays, pngs[0].parent, video)
    encode = {"vcodec": "libx264", "preset": "veryfast", "pix_fmt": "yuv420p", "b:v": f"{kbps}k", "f": "null"}
    argv = command(ffmpeg_python.output(video, "-", **encode), progress=False, loglevel="error")
    argv[0] = worker_ffmpeg_env()["STREAMOPS_FFMPEG"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / seconds


def latency(tmp: Path, changes: int) -> list[tuple[float, float]]:
    """(change → PNG replaced, change → seen in HLS) per page change, 720p, 1 s segments."""
    height = 720
    box = box_pixels(height)
    results = []
    with PageServer("127.0.0.1") as pages:
        pages.serve("/", scoreboard_page(font_px=96))
        pages.serve("/score.json", score_json("HOME 0"), content_type="application/json")
        with stream(tmp, height, [pages.url("/")], segment_seconds=1) as (ingest, renderer):
            png = renderer.directory / "score0.png"
            time.sleep(2)
            for n in range(1, changes + 1):
                settled(png)  # the previous state fully drawn, so only this change replaces the PNG
                before = png.read_bytes()
                old = rgb_of(rgba_pixels(png, box[2], box[3]))
                pages.serve("/score.json", score_json(f"HOME {n}"), content_type="application/json")
                changed = time.monotonic()
                wait_for(lambda b=before: png.read_bytes() != b, timeout=10, interval=0.01)
                png_at = time.monotonic() - changed
                time.sleep(0.5)  # the page finished drawing: the renderer's picture of the new state
                new = rgb_of(rgba_pixels(png, box[2], box[3]))
                pixels = differing_pixels(old, new)
                last: list[str | None] = [None]

                def seen(last: list[str | None] = last, new: bytes = new, old: bytes = old, pixels=pixels) -> bool:
                    got = newest_segment(ingest, f"{height}p", last[0], tmp / "segment.mp4")
                    if got is None:
                        return False
                    last[0] = got[0]
                    return any(which_picture(f, [old, new], pixels) == 1 for f in box_frames(got[1], box))

                wait_for(seen, timeout=20, interval=0.1)
                results.append((png_at, time.monotonic() - changed))
                time.sleep(1.5)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="the steady window of each cost (default 20)")
    parser.add_argument("--changes", type=int, default=6, help="page changes timed (default 6)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-overlays-"))
    started = datetime.now(UTC)
    load_before = loadavg()
    rows = []
    plains: dict[int, dict[str, tuple[float, int]]] = {}  # the ingest without overlays, once per size
    try:
        with PageServer("127.0.0.1") as pages:
            for height, count in ((720, 1), (720, 2), (1080, 1)):
                pages.serve("/", TICKING_PAGE.replace("FONT", str(height // 8)))
                plain = plains.get(height) or plains.setdefault(height, cost(tmp, height, [], args.seconds))
                drawn = cost(tmp, height, [pages.url("/")] * count, args.seconds)
                pngs = [tmp / f"score{i}-{height}.png" for i in range(count)]
                encoded = (ffmpeg_cpu(height, []), ffmpeg_cpu(height, pngs))
                rows.append((height, count, plain, drawn, encoded))
                print(f"{height}p x{count}: {plain} {drawn} {encoded}", file=sys.stderr)
        timed = latency(tmp, args.changes)
        print(f"latency: {timed}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mib = 1 << 20
    lines = [
        "# bench-overlays: an HTML overlay's cost and the time a page change takes to reach HLS",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, {platform.machine()}), "
        f"commit {commit('operator', 'bench/overlays.py', 'devtools')}; load average {load_before} before, "
        f"{loadavg()} after. `make bench-overlays` (bench/overlays.py) writes this file.",
        "",
        "One rendition of the source's height (x264 veryfast), a 30 fps testsrc2 publisher; each overlay: a "
        f"{BOX[2]} % x {BOX[3]} % box whose text changes every second (a second one bottom right), all in one "
        "renderer. CPU in % of one core over "
        f"{args.seconds:g} s; memory: the peak PSS of the process tree (proportional set size: a page shared by n "
        "processes counts 1/n).",
        "",
        "| output | overlays | ingest without | ingest with | ingest's extra | renderer (Python + Chromium) | "
        "renderer PSS | PNGs written (first) | encoding speed without / with |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for height, count, plain, drawn, _ in rows:
        extra = drawn["ingest"][0] - plain["ingest"][0]
        lines.append(
            f"| {height}p30 | {count} | {plain['ingest'][0]:.0f} % ({plain['ingest'][1] / mib:.0f} MiB) | "
            f"{drawn['ingest'][0]:.0f} % ({drawn['ingest'][1] / mib:.0f} MiB) | {extra:+.0f} % | "
            f"{drawn['renderer'][0]:.0f} % | {drawn['renderer'][1] / mib:.0f} MiB | {drawn['captures'][0]:.0f} | "
            f"{plain['speed'][0]:.2f} / {drawn['speed'][0]:.2f} |"
        )
    lines += [
        "",
        "The ingest FFmpeg's extra cost without the machine's load in it: the workers' FFmpeg decoding 20 s of "
        "H.264 testsrc2 and encoding it as fast as it can (not paced) as the rendition above, without and with "
        "the ingest's overlay filters on the renderer's PNG; CPU seconds per second of video (100 % = one core "
        "at 30 fps):",
        "",
        "| output | overlays | without | with | extra per overlay |",
        "|---|---|---|---|---|",
    ]
    for height, count, _, _, (without, with_overlay) in rows:
        lines.append(
            f"| {height}p30 | {count} | {100 * without:.0f} % | {100 * with_overlay:.0f} % | "
            f"{100 * (with_overlay - without) / count:+.1f} % |"
        )
    to_png = [a for a, _ in timed]
    to_hls = [b for _, b in timed]
    lines += [
        "",
        f"Page change → first frame in the HLS output (720p, 1 s segments, {len(timed)} changes, the newest "
        "segment polled every 0.1 s and decoded; each change made once the previous one was drawn):",
        "",
        "| | median | min | max |",
        "|---|---|---|---|",
        f"| change → the renderer's PNG replaced | {statistics.median(to_png):.2f} s | {min(to_png):.2f} s | "
        f"{max(to_png):.2f} s |",
        f"| change → seen in a downloaded segment | {statistics.median(to_hls):.2f} s | {min(to_hls):.2f} s | "
        f"{max(to_hls):.2f} s |",
        "",
    ]
    write_report(RESULT, "\n".join(lines))
    print(RESULT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
