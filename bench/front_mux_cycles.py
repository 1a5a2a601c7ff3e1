"""`python -m bench.front_mux_cycles [--window 30]`: the RTMP front writing HLS in Go (components/rtmp/mux,
`admit` with `hls`: TS + CMAF, 2 s segments, a window of 6) beside nginx-rtmp (hls on) and beside
today's front (FLV to the FIFO only), each taking the bench's publisher clip in real time, all at
once, over the same window (bench.ingest_cycles' method: utime + stime of every thread, wakes,
RSS). Each front's FIFO is drained by `cat`, FFmpeg's stand-in. Printed, not written: the reading is
in docs/design/lean-ingest.md, "Step 1 landed". Issue 53's step 1; the worker does not ask for
`hls` yet.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from devtools.media.peers import NginxRtmp
from devtools.processes import proc_tree
from devtools.versions import rtmp_bin

from bench.ingest_cycles import publishing, stop, window
from bench.report_file import loadavg

KEY = "x"  # a throwaway key of this run's own fronts


def start_front(
    stack: contextlib.ExitStack, tmp: Path, name: str, hls: bool, seconds: float
) -> tuple[subprocess.Popen[bytes], Path]:
    """A front whose publisher is admitted to a FIFO drained by cat (and to HLS in Go when hls), with
    its own real-time publisher."""
    directory = tmp / name
    directory.mkdir()
    (directory / "key").write_text(KEY + "\n")
    front = subprocess.Popen(
        [str(rtmp_bin()), "--key-file", str(directory / "key"), "--rtmp", "127.0.0.1:0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(stop, [front])
    assert front.stdout is not None
    address = json.loads(front.stdout.readline())["rtmp"]
    fifo = directory / "in.flv"
    os.mkfifo(fifo)
    admit: dict[str, object] = {"type": "admit", "fifo": str(fifo)}
    if hls:
        for flavour in ("ts", "cmaf"):
            (directory / flavour).mkdir()
        admit["hls"] = {
            "ts_dir": str(directory / "ts"),
            "cmaf_dir": str(directory / "cmaf"),
            "segment_ms": 2000,
            "list_size": 6,
            "delete_threshold": 2,
            "start_number": int(time.time()),
        }

    def answer() -> None:
        assert front.stdin is not None and front.stdout is not None
        for line in front.stdout:
            event = json.loads(line)
            if event["type"] == "publish":
                front.stdin.write((json.dumps({**admit, "id": event["id"]}) + "\n").encode())
                front.stdin.flush()
            elif event["type"] == "mux":
                print(f"{name}: {event}")

    threading.Thread(target=answer, daemon=True).start()
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.DEVNULL)
    stack.callback(stop, [reader])
    stack.enter_context(publishing(f"rtmp://{address}/live/{KEY}", seconds + 60))
    return front, directory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    print(f"load average before: {loadavg()}")
    with tempfile.TemporaryDirectory() as t, contextlib.ExitStack() as stack:
        tmp = Path(t)
        nginx = stack.enter_context(NginxRtmp(hls=True, workdir=tmp / "nginx"))
        stack.enter_context(publishing(nginx.rtmp_url(), args.window + 60))
        with_mux, directory = start_front(stack, tmp, "mux", True, args.window)
        plain, _ = start_front(stack, tmp, "plain", False, args.window)
        deadline = time.monotonic() + 30
        while not (nginx.segments() and (directory / "ts" / "index.m3u8").exists()):
            if time.monotonic() > deadline:
                raise SystemExit("no segment from nginx-rtmp or the front within 30 s")
            time.sleep(0.5)
        time.sleep(8)  # past the publishers' start-up
        costs = window(
            {
                "nginx-rtmp (hls on)": proc_tree(nginx.pid),
                "streamops-rtmp + mux/ (TS + CMAF HLS, FLV to the FIFO)": [with_mux.pid],
                "streamops-rtmp, FLV to the FIFO only (today)": [plain.pid],
            },
            args.window,
        )
        for name, cost in costs.items():
            print(
                f"{name}: CPU {cost.cpu:.3f} % of a core, {cost.wakes:.0f} wakes/s,"
                f" {cost.preempted:.0f} preempted/s, peak RSS {cost.rss / 2**20:.1f} MiB"
            )
        for flavour in ("ts", "cmaf"):
            print(f"{flavour}/: {sorted(os.listdir(directory / flavour))}")
    print(f"load average after: {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
