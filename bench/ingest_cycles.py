"""`python -m bench.ingest_cycles`: where the ingest's cycles go (issue 53), in one run beside
nginx-rtmp. Writes bench/results/ingest-cycles.md.

- the ingest per process (the Python supervisor, streamops-rtmp, FFmpeg) with one feed reader (a
  pusher, as bench/media.py's ingest row), against nginx-rtmp (hls on) taking the same publisher;
- FFmpeg by output: the ingest's own FFmpeg argv (session_command) fed the same FLV on stdin as
  the front writes into its FIFO, one output at a time, all of them as separate outputs (today) and
  all of them through one tee output;
- HLS muxing in Go (components/hlsmux-proto: gortmplib + gohlslib) against FFmpeg's muxing of the
  same RTMP publish and nginx-rtmp's, every row a process of its own fed by its own publisher.

CPU (% of one core, utime + stime of every thread over the window), voluntary and involuntary
context switches a second (wakes), RSS. Rows of a group run at the same time, so they share the
machine's load; the load average is in the report.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devtools.media.peers import NginxRtmp, Publisher, publisher_clip
from devtools.media.workers import Ingest
from devtools.ports import free_port
from devtools.processes import proc_tree
from devtools.versions import REPO as ROOT
from devtools.versions import worker_ffmpeg_env
from devtools.waits import wait_for

from bench.media import process_name, pusher
from bench.report_file import commit, loadavg, markdown_table, write_report

TICK = os.sysconf("SC_CLK_TCK")
PROTO = ROOT / "components" / "hlsmux-proto"
REALTIME_COPY = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1"]


@dataclass(frozen=True)
class Sample:
    cpu: float  # seconds
    wakes: int  # voluntary context switches
    preempted: int  # involuntary ones
    rss: int  # bytes


def sample(pid: int) -> Sample:
    cpu = vol = nvol = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                cpu += int(stat[11]) + int(stat[12])
                for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        nvol += int(line.split()[1])
    rss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                rss = int(line.split()[1]) * 1024
    return Sample(cpu / TICK, vol, nvol, rss)


@dataclass(frozen=True)
class Cost:
    cpu: float  # % of one core
    wakes: float  # a second
    preempted: float
    rss: int

    def cells(self) -> list[str]:
        return [f"{self.cpu:.2f} %", f"{self.wakes:.0f}", f"{self.preempted:.0f}", f"{self.rss / 2**20:.0f} MiB"]


def window(pids: dict[str, list[int]], seconds: float) -> dict[str, Cost]:
    """Each named group of processes over the same window."""
    before = {name: [sample(p) for p in group] for name, group in pids.items()}
    t0 = time.monotonic()
    peak: dict[str, int] = dict.fromkeys(pids, 0)
    while time.monotonic() - t0 < seconds:
        for name, group in pids.items():
            peak[name] = max(peak[name], sum(sample(p).rss for p in group))
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    out = {}
    for name, group in pids.items():
        after = [sample(p) for p in group]
        b = before[name]
        out[name] = Cost(
            100 * sum(a.cpu - x.cpu for a, x in zip(after, b, strict=True)) / elapsed,
            sum(a.wakes - x.wakes for a, x in zip(after, b, strict=True)) / elapsed,
            sum(a.preempted - x.preempted for a, x in zip(after, b, strict=True)) / elapsed,
            peak[name],
        )
    return out


def clip() -> Path:
    return publisher_clip(Publisher("rtmp://127.0.0.1/live/x"))


def stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --- the ingest per process ---------------------------------------------------------------------


def before_tree(rev: str, tmp: Path) -> Path:
    """The operator package at rev (git archive), for a "before" ingest in the same run."""
    out = tmp / "before"
    out.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "operator"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "operator"


def ingest_processes(tmp: Path, seconds: float, before: str | None = None, front_hls: bool = False) -> dict[str, Cost]:
    """The ingest with one feed reader (a pusher into an nginx target), and nginx-rtmp hls on,
    taking the same publisher clip at the same time; with `before`, that revision's ingest too;
    with `front_hls`, one more with IngestConfig.hlsWriter front (the front writes the HLS)."""
    versions: dict[str, tuple[dict[str, str], dict[str, str]]] = {"": ({}, {})}
    if before is not None:
        versions[f" at {before}"] = ({"PYTHONPATH": str(before_tree(before, tmp))}, {})
    if front_hls:
        versions[", hlsWriter front"] = ({}, {"hlsWriter": "front"})
    with contextlib.ExitStack() as stack:
        target = stack.enter_context(NginxRtmp(workdir=tmp / "target"))
        nginx = stack.enter_context(NginxRtmp(hls=True, workdir=tmp / "hls"))
        stack.enter_context(Publisher(nginx.rtmp_url(), duration=seconds + 60))
        ingests = {}
        for i, (label, (env, overrides)) in enumerate(versions.items()):
            d = tmp / f"ingest{i}"
            d.mkdir()
            worker = Ingest(d, screenshots={"enabled": False}, **overrides)
            worker.env.update(env)
            ingests[label] = worker.start()
            stack.callback(worker.stop)
            stack.enter_context(Publisher(worker.rtmp_url(), duration=seconds + 60))
        pushers = []
        for i, worker in enumerate(ingests.values()):
            worker.wait_live()
            push = pusher(tmp, worker.feed_url, target.rtmp_url("live", f"out{i}")).start()
            pushers.append(push)
        try:
            wait_for(lambda: nginx.segments(), timeout=20)
            for push in pushers:
                wait_for(lambda push=push: push.status().get("live"), timeout=20)
            time.sleep(3)
            groups: dict[str, list[int]] = {}
            for label, worker in ingests.items():
                tree = proc_tree(worker.process.pid)
                groups[f"Python supervisor{label}"] = [worker.process.pid]
                groups[f"streamops-rtmp (front){label}"] = [p for p in tree if process_name(p) == "streamops-rtmp"]
                groups[f"FFmpeg{label}"] = [p for p in tree if process_name(p) == "ffmpeg"]
            groups["nginx-rtmp (hls on)"] = proc_tree(nginx.pid)
            return window(groups, seconds)
        finally:
            for push in pushers:
                push.stop()


# --- FFmpeg by output ---------------------------------------------------------------------------


def ffmpeg_variants(d: Path) -> dict[str, list[str]]:
    """Output argv of the ingest's FFmpeg (session_command's, after its `-i`), one variant each."""
    from streamops.contract.ingest import IngestConfig
    from streamops.media.ingest import commands

    def outputs(config: IngestConfig) -> list[str]:
        argv = commands.session_command(config, str(d / "in.flv"), {"f": "flv"}, d)
        return argv[argv.index("-i") + 2 :]

    base = {"stream": "cam", "source": {"push": {}}}
    cfg = IngestConfig.model_validate(base)
    feed = ["-f", "mpegts", "-c", "copy", "-pes_payload_size", "0", "pipe:1"]
    hls = {
        segment_type: [
            "-f",
            "hls",
            *(["-bsf:a", "aac_adtstoasc"] if segment_type == "fmp4" else []),
            "-c",
            "copy",
            *[str(x) for k, v in commands.hls_options(cfg, segment_type, d / variant).items() for x in (f"-{k}", v)],
            str(d / variant / "index.m3u8"),
        ]
        for variant, segment_type in commands.hls_variants(cfg)
    }
    return {
        "the FLV input alone (-f null)": ["-c", "copy", "-f", "null", "-"],
        "feed (MPEG-TS to the pipe) alone": feed,
        "CMAF HLS alone": hls["fmp4"],
        "TS HLS alone": hls["mpegts"],
        "feed + CMAF + TS: session_command now": outputs(cfg),
        "feed + CMAF + TS, three outputs (before)": feed + hls["fmp4"] + hls["mpegts"],
    }


def ffmpeg_by_output(tmp: Path, seconds: float) -> dict[str, Cost]:
    """Each variant's FFmpeg reads FLV on stdin from a `-re` copy of the publisher's clip (as the
    front writes it into the FIFO); the feed goes to a `cat`. All variants at once."""
    ffmpeg = worker_ffmpeg_env()["STREAMOPS_FFMPEG"]
    head = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", "-f", "flv"]
    head += ["-analyzeduration", "100000", "-probesize", "1000000", "-i", "pipe:0"]
    source = str(clip())
    procs: list[subprocess.Popen[bytes]] = []
    measured: dict[str, list[int]] = {}
    try:
        for i, (name, args) in enumerate(ffmpeg_variants(tmp / "names").items()):
            d = tmp / f"v{i}"
            for sub in ("cmaf", "ts"):
                (d / sub).mkdir(parents=True)
            args = [a.replace(str(tmp / "names"), str(d)) for a in ffmpeg_variants(tmp / "names")[name]]
            up = subprocess.Popen(
                [*REALTIME_COPY, "-i", source, "-c", "copy", "-f", "flv", "pipe:1"],
                stdout=subprocess.PIPE,
            )
            feeds = "pipe:1" in args or any("pipe\\:1" in a for a in args)
            down = subprocess.Popen(
                head + args, stdin=up.stdout, stdout=subprocess.PIPE if feeds else subprocess.DEVNULL
            )
            assert up.stdout is not None
            up.stdout.close()
            procs += [up, down]
            if down.stdout is not None:
                procs.append(subprocess.Popen(["cat"], stdin=down.stdout, stdout=subprocess.DEVNULL))
                down.stdout.close()
            measured[name] = [down.pid]
        time.sleep(5)
        return window(measured, seconds)
    finally:
        stop(procs)


# --- HLS muxing in Go against FFmpeg's --------------------------------------------------------------


def build_proto(out: Path) -> Path:
    binary = out / "hlsmux-proto"
    subprocess.run(["go", "build", "-trimpath", "-o", str(binary), "."], cwd=PROTO, check=True)
    return binary


@contextlib.contextmanager
def publishing(url: str, seconds: float) -> Iterator[subprocess.Popen[bytes]]:
    """The publisher's clip pushed to url in real time, retried until the listener takes it."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1"]
    argv += ["-i", str(clip()), "-c", "copy", "-t", f"{seconds:g}", "-f", "flv", url]
    p = subprocess.Popen(argv)
    try:
        yield p
    finally:
        stop([p])


def muxers(tmp: Path, seconds: float) -> dict[str, Cost]:
    """One process per row, each with its own publisher, all at once."""
    binary = build_proto(tmp)
    ffmpeg = worker_ffmpeg_env()["STREAMOPS_FFMPEG"]
    rows: dict[str, list[str]] = {}
    flags = "delete_segments+independent_segments+program_date_time"
    for name, segment_type in (
        ("FFmpeg: RTMP listener → CMAF HLS (2 s segments)", "fmp4"),
        ("FFmpeg: RTMP listener → TS HLS", "mpegts"),
    ):
        d = tmp / segment_type
        d.mkdir()
        ext = "m4s" if segment_type == "fmp4" else "ts"
        rows[name] = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-listen", "1"]
        rows[name] += ["-i", "rtmp://127.0.0.1:{port}/live/x", "-c", "copy", "-f", "hls", "-hls_time", "2"]
        rows[name] += ["-hls_list_size", "6", "-hls_flags", flags, "-hls_segment_type", segment_type]
        rows[name] += ["-hls_segment_filename", str(d / f"seg-%06d.{ext}"), str(d / "index.m3u8")]
    for name, variant, extra in (
        ("Go: RTMP → LL-HLS fMP4 (2 s segments, 200 ms parts)", "lowlatency", []),
        ("Go: the same, receive batching (SO_RCVLOWAT 8 KiB, as the front)", "lowlatency", ["--rcvlowat", "8192"]),
        ("Go: LL-HLS fMP4 + the feed (MPEG-TS to a pipe), batching", "lowlatency", ["--rcvlowat", "8192", "--feed"]),
        ("Go: LL-HLS fMP4 + TS HLS, batching", "lowlatency", ["--rcvlowat", "8192", "--also-ts"]),
        (
            "Go: the ingest's passthrough job in one process: LL-HLS fMP4 + TS HLS + the feed (MPEG-TS to a"
            " pipe, a write per access unit), receive batching",
            "lowlatency",
            ["--rcvlowat", "8192", "--also-ts", "--feed"],
        ),
        (
            "Go, hand-written TS writer (tsmux.go): TS HLS + the feed (20 ms batches), batching",
            "none",
            ["--rcvlowat", "8192", "--own", "--also-ts", "--feed"],
        ),
        (
            "Go: the whole job with the hand-written TS writer: LL-HLS (gohlslib) + TS HLS + the feed, batching",
            "lowlatency",
            ["--rcvlowat", "8192", "--own", "--also-ts", "--feed"],
        ),
        (
            "Go, all hand-written: LL-HLS parts in CMAF segments (fmp4mux.go) + TS HLS + the feed, batching",
            "none",
            ["--rcvlowat", "8192", "--own", "--own-fmp4", "--also-ts", "--feed"],
        ),
        ("Go: RTMP → CMAF HLS (fMP4 segments, no parts)", "fmp4", []),
        ("Go: RTMP → TS HLS", "mpegts", []),
    ):
        d = tmp / f"go-{len(rows)}"
        d.mkdir()
        segments = ["--segments", "7"] if variant == "lowlatency" else []
        rows[name] = [str(binary), "--rtmp", "127.0.0.1:{port}", "--dir", str(d), "--variant", variant]
        rows[name] += ["--http", "127.0.0.1:{http}", *segments, *extra]
    procs: list[subprocess.Popen[bytes]] = []
    measured: dict[str, list[int]] = {}
    with contextlib.ExitStack() as stack:
        nginx = stack.enter_context(NginxRtmp(hls=True, workdir=tmp / "nginx"))
        stack.enter_context(publishing(nginx.rtmp_url(), seconds + 60))
        measured["nginx-rtmp: RTMP → TS HLS (hls on)"] = proc_tree(nginx.pid)
        try:
            for name, argv in rows.items():
                port, http = free_port(), free_port()
                argv = [a.format(port=port, http=http) for a in argv]
                feeds = "--feed" in argv
                p = subprocess.Popen(argv, stdout=subprocess.PIPE if feeds else None, stderr=subprocess.DEVNULL)
                procs.append(p)
                if p.stdout is not None:
                    procs.append(subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL))
                    p.stdout.close()
                measured[name] = [p.pid]
                time.sleep(1)  # the listener up before its publisher
                stack.enter_context(publishing(f"rtmp://127.0.0.1:{port}/live/x", seconds + 60))
            wait_for(lambda: nginx.segments(), timeout=20)
            time.sleep(8)
            return window(measured, seconds)
        finally:
            stop(procs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--before", help="also run the ingest of this revision (e.g. the merge base), same run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest-cycles.md")
    parser.add_argument("--groups", default="123", help="which groups to run: 1 ingest, 2 FFmpeg, 3 muxers")
    parser.add_argument(
        "--front-hls", action="store_true", help="group 1: also an ingest with hlsWriter front, same run"
    )
    args = parser.parse_args()
    header = ["process", "CPU (% of a core)", "wakes/s", "preempted/s", "peak RSS"]
    lines = [
        "# Where the ingest's cycles go (issue 53)",
        "",
        f"`python -m bench.ingest_cycles --window {args.window:g}"
        f"{f' --before {args.before}' if args.before else ''}{' --front-hls' if args.front_hls else ''}`"
        f" at {commit()},"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs. Method and reading:"
        " docs/design/lean-ingest.md, \"Where the ingest's cycles go (issue 53)\". Each group's rows"
        " ran at the same time; the load average (1, 5, 15 min) is given before each group.",
    ]
    with tempfile.TemporaryDirectory(prefix="streamops-cycles-") as d:
        tmp = Path(d)
        groups = [
            ("The ingest per process, one feed reader, beside nginx-rtmp (same publisher clip)", ingest_processes),
            ("FFmpeg by output (the ingest's argv, FLV on stdin from a real-time copy)", ffmpeg_by_output),
            ("HLS muxing in Go (components/hlsmux-proto) against FFmpeg and nginx-rtmp, from RTMP", muxers),
        ]
        for i, (title, run) in enumerate(groups):
            if str(i + 1) not in args.groups:
                continue
            sub = tmp / str(i)
            sub.mkdir()
            load = loadavg()
            if run is ingest_processes:
                costs = ingest_processes(sub, args.window, args.before, args.front_hls)
            else:
                costs = run(sub, args.window)
            rows = [[name, *cost.cells()] for name, cost in costs.items()]
            lines += ["", f"## {title}", "", f"Load average before: {load}; after: {loadavg()}.", ""]
            lines += markdown_table(header, rows)
            print("\n".join(lines[-len(rows) - 6 :]), flush=True)
    write_report(args.out, "\n".join(lines) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
