#!/usr/bin/env python3
"""`make bench-clips`: a 60 s clip cut from a live stream's DVR → downloadable, seconds (issue 29).
Writes bench/results/clips.md.

One ingest worker (a local process, devtools.media.workers) with a 120 s DVR window and 2 s
segments, fed by a synthetic FFmpeg publisher (720p30 H.264 2.5 Mbit/s + AAC, 2 s GOP, in real
time: it and the ingest are the machine's load during the cuts). Once the DVR holds --seconds + 5 s,
each round starts one clipper process (`streamops worker clip`, devtools.media.clipper) for the last
--seconds and measures, from its start:

- keyframe mode to the claim: the MP4 and its sidecar written (status succeeded);
- keyframe mode to a bucket (the real S3 server, versitygw, TLS on loopback): uploaded and verified
  by the recorder's Uploader (status video.upload uploaded) — downloadable by a presigned link;
- exact mode to the claim: frame-exact, the whole clip re-encoded (x264 veryfast CRF 20 + AAC).

Per round: the wall time to downloadable, the clipper's own cut time (playlist read, segments
fetched and joined, FFmpeg), the clip's duration (ffprobe) and size, and the CPU seconds of the
clipper and its FFmpeg (from /proc, summed over the process tree while it runs). Rounds run one
after the other (--runs each; the median is reported).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.media.clipper import ClipperWorker, dvr_seconds, probe
from devtools.media.peers import Publisher
from devtools.media.s3_server import S3Server
from devtools.media.workers import Ingest
from devtools.processes import proc_cpu_seconds
from devtools.waits import eventually

from bench.report_file import commit, write_report

OUT = Path(__file__).resolve().parent / "results" / "clips.md"
BUCKET = "clips"


class CpuSampler:
    """The peak of proc_cpu_seconds() while the clipper runs (its FFmpeg is a child: counted live,
    then in cutime once waited for)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_cpu_seconds(self.pid))
            time.sleep(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def one_round(
    workdir: Path, name: str, playlist: str, seconds: float, mode: str, s3: S3Server | None
) -> dict[str, Any]:
    end = datetime.now(UTC) - timedelta(seconds=1)
    extra: dict[str, Any] = {}
    if s3 is not None:
        extra["upload"] = {
            "endpoint": s3.endpoint,
            "bucket": BUCKET,
            "keyPrefix": f"bench/{name}",
            "caFile": str(s3.ca_file),
            "stream": "cam",
            "recording": name,
        }
        extra["env"] = {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key}
    began = time.monotonic()
    worker = ClipperWorker(workdir / name, name, playlist, end - timedelta(seconds=seconds), end, mode=mode, **extra)
    worker.start()
    assert worker.process is not None
    cpu = CpuSampler(worker.process.pid)
    try:
        status = eventually(
            lambda: (s := worker.status())["state"] in ("succeeded", "failed") and s, timeout=600, interval=0.05
        )
        wall = time.monotonic() - began
        cpu_seconds = cpu.stop()
    finally:
        worker.stop()
    assert status["state"] == "succeeded", (status, worker.logs()[-2000:])
    video = status["video"]
    if s3 is None:
        duration = float(probe(worker.video_file(status))["format"]["duration"])
    else:
        assert video["upload"] == "uploaded", video
        duration = video["durationSeconds"]
    return {
        "wall": wall,
        "cut": status["cutSeconds"],
        "duration": duration,
        "size": video["sizeBytes"],
        "cpu": cpu_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length (default 60)")
    parser.add_argument("--runs", type=int, default=3, help="rounds per row (default 3)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-clips-") as tmp:
        workdir = Path(tmp)
        (workdir / "ingest").mkdir()
        ingest = Ingest(workdir / "ingest", dvr={"enabled": True, "durationSeconds": 120}, hls={"segmentSeconds": 2})
        ingest.start()
        publisher = Publisher(
            ingest.rtmp_url(), size="1280x720", rate=30, gop_seconds=2, video_bitrate="2500k",
            log_path=workdir / "publisher.log",
        )  # fmt: skip
        try:
            with S3Server(workdir / "s3") as s3, publisher:
                s3.create_bucket(BUCKET)
                ingest.wait_live(timeout=30)
                playlist = f"{ingest.http}/hls/ts/index.m3u8"
                print(f"filling the DVR with {args.seconds + 5:.0f} s …", flush=True)
                eventually(lambda: dvr_seconds(playlist) >= args.seconds + 5, timeout=args.seconds + 60, interval=1)
                load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
                for label, mode, bucket in (
                    ("keyframe, to the claim", "keyframe", False),
                    ("keyframe, to a bucket (uploaded, verified)", "keyframe", True),
                    ("exact, to the claim (re-encoded)", "exact", False),
                ):
                    for run in range(args.runs):
                        name = f"{mode}-{'s3' if bucket else 'pvc'}-{run}"
                        result = one_round(workdir, name, playlist, args.seconds, mode, s3 if bucket else None)
                        print(f"{label} #{run + 1}: {result}", flush=True)
                        rows.setdefault(label, []).append(result)
                load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        finally:
            ingest.stop()

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[label])

    lines = [
        "# Clips: a clip from the DVR → downloadable",
        "",
        f"`make bench-clips` ({Path(__file__).name}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}; "
        f"{platform.node()}, {os.cpu_count()} CPUs, load average (1/5/15 min) {load_before} before the cuts, "
        f"{load_after} after. The publisher (720p30 x264 veryfast 2.5 Mbit/s, in real time) and the ingest "
        "(DVR 120 s, 2 s segments, passthrough) run throughout, beside whatever else the machine runs (the "
        "load average says how busy it was).",
        "",
        f"A {args.seconds:.0f} s clip of the last {args.seconds:.0f} s, median of {args.runs} runs; wall = clipper "
        "process start → downloadable (claim: MP4 + sidecar written; bucket: uploaded and verified); cut = the "
        "clipper's own reading, joining and FFmpeg time; CPU = the clipper and its FFmpeg, seconds of one core.",
        "",
        "| mode, storage | wall (s) | cut (s) | clip duration (s) | size (MB) | CPU (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label in rows:
        lines.append(
            f"| {label} | {median(label, 'wall'):.2f} | {median(label, 'cut'):.2f} | {median(label, 'duration'):.2f} "
            f"| {median(label, 'size') / 1e6:.1f} | {median(label, 'cpu'):.1f} |"
        )
    lines.append("")
    write_report(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
