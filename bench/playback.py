#!/usr/bin/env python3
"""`make bench-playback`: how many viewers of one stream one ingest serves (issue 27, "measure
first"), with nginx serving the same HLS files statically as the peer, in the same run. Writes
bench/results/playback.md.

Row `ingest` (`--rows ingest`): a real ingest worker (`streamops worker ingest`, LL-HLS on: 2 s
segments, 200 ms parts, the defaults) fed by the synthetic 720p30 publisher (testsrc2, x264
veryfast 2.5 Mbit/s + AAC, 2 s GOP), with a recorder and a pusher (to nginx-rtmp) reading its
feed, as in a Pod with a Recording and a Restream. Viewers come from hlsload (components/hlsload,
compiled, on the same 2 cores): first none (the baseline), then steps of --steps viewers, each
joining over --ramp and then measured for --window seconds:

- LL-HLS viewers (blocking reloads, preload-hinted parts, as hls.js) of /hls/cmaf/index.m3u8;
- standard HLS viewers (the playlist every target duration / 2, new segments) of /hls/ts/index.m3u8;
- the peer: the same standard HLS viewers of the same ts/ files served by nginx (Debian's, one
  worker, sendfile, no access log) from the ingest's session directory. Static nginx cannot answer
  blocking reloads or preload hints (they need the packager's state), so it has no LL-HLS row.

A step passes when every viewer received every part (segment) and p99 lag ≤ 2 part durations
for LL-HLS (≤ 1 segment duration for HLS). Lag (hlsload's README) = last byte of the part received
− the playlist that first named it received; a hinted part is asked for before it exists, so its
lag includes its own production (≈ 1 part duration): 2 part durations is "at most one part
duration behind the preload hint's part being complete". The steps of a mode stop at the first
failing one, or when the ingest's Python process (single-threaded: where viewers are served)
used ≥ 95 % of a core over the window: saturated. The single-ingest limit is the last passing,
unsaturated step. The machine's busy % is reported beside it (it is shared with other work).

Per step: the ingest's CPU (% of one core: the whole process tree, and its Python process alone,
where viewers are served) and RSS from /proc, per viewer above the baseline; hlsload's own CPU
(getrusage); the machine's busy %; the recorder's recorded seconds per second (1.00: it gets every
frame) and bytes written per second, and the pusher's bytes sent per second, vs the baseline.

Row `edge` (`--rows edge`): the edge (streamops/media/edge: nginx + Lua, devtools.media.edge, 2
workers) on 127.0.0.1 in front of a fresh public LL-HLS ingest of a 360p stream (testsrc2 640x360
30 fps, 800 kbit/s, 2 s GOP; recorder and pusher left out: this row is about the edge). One viewer
straight to the ingest first (the reference request rate), then --edge-viewers LL-HLS viewers
through the edge: every part received, p99 lag, and the ingest's request rate from its own
counter (streamops_playback_requests_total{via="edge"}) vs one viewer's, which issue 27 wants
≤ 2× per edge replica (request collapsing). Then the same number of standard HLS viewers through
the edge and of static nginx (2 workers, like the edge) serving the ingest's ts/ files: CPU of
the edge vs nginx, per viewer and per request (LL-HLS viewers make ≈10 requests/s each, HLS ones
≈1; static nginx cannot serve LL-HLS at all).

Row `recorder` (`--rows recorder`, issue 37 finding 7): the `ingest` row's stand, no viewers for
--baseline seconds, then --recorder-steps HLS viewers straight to the ingest (the edge off, its
default), each step the recorder's recorded seconds per wall second and the pusher's bytes sent,
as a ratio against the no-viewer window of the same run (target: the recorder ≥ 0.99 at 1,600),
the requests the ingest's caps refused (streamops_ingest_overload_refusals_total) and the
machine's load.

Row `flood` (`--rows flood`, issue 52 finding 2): the `ingest` row's stand, one client flooding the
public port (bench/refusal_flood.py says how).

Row `cluster` (`--rows cluster`): the same target on the 2-node pod-network cluster, the edge
installed by the chart, viewers on the cluster's LAN (bench/playback_cluster.py says how).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.http_client import http_get
from devtools.media.edge import Edge
from devtools.media.nginx_static import NginxStatic
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.workers import Ingest, Worker
from devtools.ports import free_port
from devtools.processes import proc_cpu_seconds, proc_rss_bytes
from devtools.versions import REPO as ROOT
from devtools.versions import hlsload_bin
from devtools.waits import wait_for
from prometheus_client.parser import text_string_to_metric_families

from bench import playback_cluster, refusal_flood
from bench.playback_traffic import MIB, hlsload
from bench.report_file import commit, loadavg, markdown_table, merged_report

SECTIONS = ("ingest", "edge", "recorder", "flood", "cluster")
EDGE_HEADING = "## Through the edge"
RECORDER_HEADING = "## The recorder and the pusher under viewer load (edge off)"
HEADINGS = {
    "edge": EDGE_HEADING,
    "recorder": RECORDER_HEADING,
    "flood": refusal_flood.HEADING,
    "cluster": playback_cluster.HEADING,
}
SATURATED_PCT = 95.0


# --- the stand: ingest, publisher, recorder, pusher, static nginx ------------------------------------


@dataclass
class Stand:
    ingest: Ingest
    recorder: Worker
    pusher: Worker
    recordings: Path
    static: NginxStatic

    def url(self, mode: str) -> str:
        return self.ingest.http + ("/hls/cmaf/index.m3u8" if mode == "llhls" else "/hls/ts/index.m3u8")


def worker(kind: str, config: dict[str, Any], workdir: Path) -> Worker:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Worker(kind, {**config, "httpHost": "127.0.0.1", "httpPort": port}, workdir, port)


@contextlib.contextmanager
def stand(
    tmp: Path, ingest_env: dict[str, str] | None = None, ingest_overrides: dict[str, Any] | None = None
) -> Iterator[Stand]:
    """Everything on 127.0.0.1, stopped by PID on the way out (whatever happened); `ingest_env`: added
    to the ingest's environment, `ingest_overrides` to its configuration (None: left out)."""
    with contextlib.ExitStack() as stack:
        target = stack.enter_context(NginxRtmp(workdir=tmp / "target"))
        (tmp / "ingest").mkdir()
        ingest = Ingest(
            tmp / "ingest", screenshots={"enabled": False}, hls={"latencyMode": "low"}, **(ingest_overrides or {})
        )
        ingest.env.update(ingest_env or {})
        for key in [k for k, v in (ingest_overrides or {}).items() if v is None]:
            ingest.config.pop(key, None)  # a field an older ingest does not know
        stack.callback(ingest.stop)
        ingest.start()
        stack.enter_context(Publisher(ingest.rtmp_url(), log_path=tmp / "publisher.log"))
        ingest.wait_live()
        playlist = wait_for(lambda: sorted((tmp / "ingest" / "media" / "sessions").glob("*/ts/index.m3u8")), 20)[-1]
        wait_for(lambda: playlist.read_text().count("#EXTINF") >= 3, 30)
        recordings = tmp / "recordings"
        recorder = worker("record", {"feedUrl": ingest.feed_url, "recordingsRoot": str(recordings), "directory": "rec",
                                     "title": "bench", "reconnectWindowSeconds": 10, "maxSegmentSeconds": 14400,
                                     "minDurationSeconds": 1}, tmp / "recorder")  # fmt: skip
        stack.callback(recorder.stop)
        recorder.start()
        pusher = worker("push", {"feedUrl": ingest.feed_url, "uri": target.rtmp_url("live", "out"),
                                 "noAudioMode": "drop"}, tmp / "pusher")  # fmt: skip
        stack.callback(pusher.stop)
        pusher.start()
        wait_for(lambda: recorder.status().get("recording") and pusher.status().get("live"), 30)
        static = stack.enter_context(NginxStatic(playlist.parent.parent, tmp / "static"))
        yield Stand(ingest, recorder, pusher, recordings, static)


# --- one window's readings ------------------------------------------------------------------------


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine (/proc/stat's first line), all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def recorded_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@dataclass
class Counters:
    at: float
    ingest: float
    ingest_own: float
    peer: float
    machine: tuple[int, int]
    recorded_seconds: float
    recorded_bytes: int
    pushed_bytes: int


def counters(s: Stand, peer_pid: int | None) -> Counters:
    pid = s.ingest.process.pid if s.ingest.process else 0
    return Counters(
        at=time.monotonic(),
        ingest=proc_cpu_seconds(pid),
        ingest_own=proc_cpu_seconds(pid, include_children=False),
        peer=proc_cpu_seconds(peer_pid) if peer_pid else 0.0,
        machine=machine_jiffies(),
        recorded_seconds=float(s.recorder.status().get("duration") or 0.0),
        recorded_bytes=recorded_bytes(s.recordings),
        pushed_bytes=int(s.pusher.status().get("bytesSent") or 0),
    )


@dataclass
class Window:
    """Rates over one window: CPU in % of one core, RSS peaks in bytes."""

    ingest_cpu: float
    ingest_own_cpu: float
    ingest_rss: int
    peer_cpu: float
    peer_rss: int
    machine_busy: float  # % of all cores
    recorded_per_second: float  # recorded seconds per wall second
    recorded_kbps: float
    pushed_kbps: float


def window(s: Stand, seconds: float, peer_pid: int | None = None) -> Window:
    pid = s.ingest.process.pid if s.ingest.process else 0
    a = counters(s, peer_pid)
    rss, peer_rss = 0, 0
    while time.monotonic() - a.at < seconds:
        rss = max(rss, proc_rss_bytes(pid))
        if peer_pid:
            peer_rss = max(peer_rss, proc_rss_bytes(peer_pid))
        time.sleep(min(2.0, max(0.0, seconds - (time.monotonic() - a.at))))
    b = counters(s, peer_pid)
    dt = b.at - a.at
    return Window(
        ingest_cpu=100 * (b.ingest - a.ingest) / dt,
        ingest_own_cpu=100 * (b.ingest_own - a.ingest_own) / dt,
        ingest_rss=rss,
        peer_cpu=100 * (b.peer - a.peer) / dt,
        peer_rss=peer_rss,
        machine_busy=100 * (b.machine[0] - a.machine[0]) / max(1, b.machine[1] - a.machine[1]),
        recorded_per_second=(b.recorded_seconds - a.recorded_seconds) / dt,
        recorded_kbps=8 * (b.recorded_bytes - a.recorded_bytes) / dt / 1000,
        pushed_kbps=8 * (b.pushed_bytes - a.pushed_bytes) / dt / 1000,
    )


# --- a step: N viewers -----------------------------------------------------------------------------


@dataclass
class Step:
    server: str  # "ingest" or "nginx"
    mode: str  # "llhls" or "hls"
    viewers: int
    load: dict[str, Any]  # hlsload's JSON
    window: Window

    @property
    def limit_ms(self) -> float:
        """The p99 lag a passing step stays within (the module docstring says why)."""
        if self.mode == "llhls":
            return 2000 * float(self.load["part_target_s"] or 0.2)
        return 1000 * float(self.load["target_duration_s"] or 2)

    @property
    def complete(self) -> bool:
        return int(self.load["delivery"]["viewers_complete"]) == self.viewers

    @property
    def passed(self) -> bool:
        return self.complete and float(self.load["lag_ms"]["p99"]) <= self.limit_ms

    @property
    def saturated(self) -> bool:
        """The ingest's Python process used (nearly) a whole core: it cannot serve more."""
        return self.server == "ingest" and self.window.ingest_own_cpu >= SATURATED_PCT


def step(s: Stand, server: str, mode: str, viewers: int, args: argparse.Namespace) -> Step:
    url = s.static.url("ts/index.m3u8") if server == "nginx" else s.url(mode)
    peer = s.static.pid if server == "nginx" else None
    load, measured = hlsload(url, mode, viewers, args.ramp, args.window, f"{server}-{mode}-{viewers}",
                             lambda: window(s, args.window - 2, peer))  # fmt: skip
    result = Step(server, mode, viewers, load, measured)
    print(f"{server} {mode} {viewers}: " + summary(result), file=sys.stderr, flush=True)
    return result


def summary(r: Step) -> str:
    d, lag = r.load["delivery"], r.load["lag_ms"]
    return (
        f"complete {d['viewers_complete']}/{r.viewers}, lag p50 {lag['p50']} p99 {lag['p99']} ms, "
        f"ingest {r.window.ingest_cpu:.0f} % (python {r.window.ingest_own_cpu:.0f} %), "
        f"nginx {r.window.peer_cpu:.0f} %, "
        f"client {r.load['client']['cpu_pct_of_core']} %, machine {r.window.machine_busy:.0f} %, "
        f"errors {r.load['errors']}, "
        f"{'pass' if r.passed else 'FAIL'}"
    )


def ramp(s: Stand, server: str, mode: str, counts: list[int], args: argparse.Namespace) -> list[Step]:
    """Steps of `counts` viewers until one fails or saturates the ingest (that one included), then
    one step halfway between the last good count and that one (--refine), ordered by viewers."""
    steps: list[Step] = []
    for n in counts:
        steps.append(step(s, server, mode, n, args))
        if not steps[-1].passed or steps[-1].saturated:
            break
    if args.refine and len(steps) >= 2 and not (steps[-1].passed and not steps[-1].saturated):
        mid = round((steps[-2].viewers + steps[-1].viewers) / 20) * 10
        if steps[-2].viewers < mid < steps[-1].viewers:
            steps.append(step(s, server, mode, mid, args))
    return sorted(steps, key=lambda r: r.viewers)


# --- the report -----------------------------------------------------------------------------------


def limit(steps: list[Step]) -> str:
    """The single-ingest limit: the largest passing step below the smallest failing one."""
    bad = [r.viewers for r in steps if not r.passed or r.saturated]
    good = [r.viewers for r in steps if r.passed and not r.saturated and (not bad or r.viewers < min(bad))]
    if not good:
        return f"fewer than {steps[0].viewers}" if steps else "not measured"
    if not bad:
        return f"at least {good[-1]} (the largest step; none failed)"
    return f"{good[-1]} (failed at {min(bad)})"


def per_viewer(value: float, base: float, viewers: int) -> float:
    return (value - base) / viewers


def step_rows(steps: list[Step], base: Window) -> list[list[str]]:
    rows = []
    for r in steps:
        w, load = r.window, r.load
        d, lag = load["delivery"], load["lag_ms"]
        nginx = r.server == "nginx"
        cpu, base_cpu = (w.peer_cpu, 0.0) if nginx else (w.ingest_cpu, base.ingest_cpu)
        rss, base_rss = (w.peer_rss, 0) if nginx else (w.ingest_rss, base.ingest_rss)
        server_cpu = f"{cpu:.1f} %" if nginx else f"{cpu:.1f} % ({w.ingest_own_cpu:.1f} %)"
        verdict = f"p99 ≤ {r.limit_ms:.0f} ms, all received " + ("✅" if r.passed else "❌")
        if r.saturated:
            verdict += " (ingest saturated)"
        rows.append([
            "nginx (static)" if nginx else "ingest",
            "LL-HLS" if r.mode == "llhls" else "HLS",
            str(r.viewers),
            f"{d['viewers_complete_pct']:.0f} % ({d['received']}/{d['expected']})",
            f"{lag['p50']:.0f} / {lag['p99']:.0f} ms",
            f"{load['max_gap_ms']['max'] / 1000:.1f} s",
            server_cpu,
            f"{per_viewer(cpu, base_cpu, r.viewers):.3f} %",
            f"{rss / MIB:.0f} MiB",
            f"{per_viewer(rss, base_rss, r.viewers) / 1024:.0f} KiB",
            f"{load['client']['cpu_pct_of_core']:.0f} % ({load['requests_per_s']:.0f} req/s)",
            f"{w.machine_busy:.0f} %",
            f"{w.recorded_per_second:.2f} s/s, {w.recorded_kbps / max(base.recorded_kbps, 1e-9):.2f}×",
            f"{w.pushed_kbps / max(base.pushed_kbps, 1e-9):.2f}×",
            verdict,
        ])  # fmt: skip
    return rows


STEP_HEADER = [
    "server", "mode", "viewers", "all parts/segments received (viewers; items)", "lag p50 / p99",
    "longest stall", "server CPU (tree; Python)", "CPU per viewer", "RSS", "RSS per viewer",
    "hlsload CPU", "machine busy", "recorder: recorded s per s, bytes vs baseline", "pusher bytes vs baseline",
    "verdict",
]  # fmt: skip


def ratio_rows(ingest: list[Step], nginx: list[Step], base: Window) -> list[list[str]]:
    theirs = {r.viewers: r for r in nginx}
    rows = []
    for r in ingest:
        peer = theirs.get(r.viewers)
        if peer is None:
            continue
        ours = per_viewer(r.window.ingest_cpu, base.ingest_cpu, r.viewers)
        own = per_viewer(r.window.ingest_own_cpu, base.ingest_own_cpu, r.viewers)
        their = peer.window.peer_cpu / r.viewers
        rows.append([
            str(r.viewers),
            f"{ours:.3f} % (Python {own:.3f} %)",
            f"{their:.3f} %",
            f"{ours / their:.1f}×" if their > 0 else "n/a",
        ])  # fmt: skip
    return rows


def ingest_section(
    base: Window, ll: list[Step], hls: list[Step], nginx: list[Step], args: argparse.Namespace, load_before: str
) -> list[str]:
    ll_limit, hls_limit = limit(ll), limit(hls)
    client = max((r.load["client"]["cpu_pct_of_core"] for r in [*ll, *hls, *nginx]), default=0)
    lines = [
        "# Playback benchmark: viewers of one stream",
        "",
        f"**One ingest Pod alone: {ll_limit} LL-HLS viewers, {hls_limit} HLS viewers on this machine** "
        "(every viewer received every part/segment, p99 lag ≤ 2 × PART-TARGET for LL-HLS, ≤ 1 segment for HLS; "
        "the load client on the same 2 cores).",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC} on {platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
        f"commit {commit()}; /proc/loadavg before: {load_before}, after: {loadavg()} (the machine is shared: "
        "'machine busy' below is all of its CPU over each window, this bench's processes included; the bench and "
        f"everything it starts ran at nice {os.getpriority(os.PRIO_PROCESS, 0)}).",
        "",
        "Stand (bench/playback.py): `streamops worker ingest` with LL-HLS on (2 s segments, 200 ms parts; cmaf/ is "
        "the LL-HLS playlist, ts/ FFmpeg's standard HLS), screenshots off, fed over RTMP with the synthetic "
        "publisher's stream (testsrc2 1280x720 30 fps, x264 veryfast 2.5 Mbit/s + AAC, 2 s GOP) encoded once and "
        "looped with -c copy (a live encode would take ≈40 % of a core from what is measured); a recorder and a pusher "
        "(to nginx-rtmp) on its feed; nginx (Debian's, 1 worker, sendfile, no access log) serving the same session "
        "directory's ts/ files. Load: hlsload (components/hlsload, Go), each viewer with its own keep-alive "
        f"connections and `_sid`; viewers join over {args.ramp:.0f} s, then a {args.window:.0f} s window "
        f"(CPU and RSS over its middle {args.window - 2:.0f} s). LL-HLS viewers do blocking reloads "
        "(`_HLS_msn`/`_HLS_part`, `_HLS_skip=YES` delta updates) and fetch each part as soon as it is hinted; HLS "
        "viewers reload the playlist every target duration / 2 and fetch each new segment. Static nginx cannot "
        "answer blocking reloads or preload hints, so the peer plays standard HLS only.",
        "",
        "Lag = the part's (segment's) last byte received − the playlist that first named it (preload hint or "
        "listed) received, by that viewer; a hinted part's lag includes its own production (≈ one part). "
        "Longest stall: the longest stretch any viewer went without a new part/segment. CPU is % of one core; "
        "per viewer = (step − no-viewer baseline) / viewers (nginx: its whole CPU / viewers). Recorder: recorded "
        "seconds per wall second (1.00: every frame kept up) and bytes written vs the baseline; pusher: bytes "
        "sent vs the baseline.",
        "",
        "Baseline, no viewers: "
        f"ingest {base.ingest_cpu:.1f} % of a core (Python {base.ingest_own_cpu:.1f} %), "
        f"RSS {base.ingest_rss / MIB:.0f} MiB; recorder {base.recorded_per_second:.2f} s/s, "
        f"{base.recorded_kbps:.0f} kbit/s; pusher "
        f"{base.pushed_kbps:.0f} kbit/s; machine busy {base.machine_busy:.0f} %.",
        "",
        *markdown_table(STEP_HEADER, step_rows([*ll, *hls, *nginx], base)),
        "",
        "CPU per HLS viewer, the ingest vs static nginx serving the same files at the same viewer counts:",
        "",
        *markdown_table(["viewers", "ingest", "nginx (static)", "ratio"], ratio_rows(hls, nginx, base)),
        "",
        f"The load client's own cost: at most {client:.0f} % of one core over a step (getrusage of hlsload, "
        "ramp and window), in the hlsload CPU column per step.",
        "",
    ]
    return lines


# --- the edge row -----------------------------------------------------------------------------------

EDGE_NAMESPACE, EDGE_STREAM = "bench", "cam"


def ingest_requests(ingest: Ingest) -> dict[tuple[str, str], float]:
    """The ingest's streamops_playback_requests_total by (kind, via)."""
    text = http_get(ingest.control + "/metrics")[1].decode()
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "streamops_playback_requests_total":
                key = (sample.labels["kind"], sample.labels["via"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


@dataclass
class EdgeStep:
    name: str
    viewers: int
    load: dict[str, Any]
    server_cpu: float  # % of one core: the edge's or static nginx's whole tree
    server_rss: int
    ingest_cpu: float
    ingest_rate: dict[str, float]  # requests per second the ingest served, by via (and kind)
    machine_busy: float


def edge_step(
    name: str, url: str, mode: str, viewers: int, server_pid: int | None, ingest: Ingest, args: argparse.Namespace
) -> EdgeStep:
    ingest_pid = ingest.process.pid if ingest.process else 0

    def readings() -> tuple[float, float, float, dict[tuple[str, str], float], tuple[int, int]]:
        server = proc_cpu_seconds(server_pid) if server_pid else 0.0
        return time.monotonic(), server, proc_cpu_seconds(ingest_pid), ingest_requests(ingest), machine_jiffies()

    def measure() -> tuple[tuple[Any, ...], tuple[Any, ...], int]:
        before, rss = readings(), 0
        while time.monotonic() - before[0] < args.window - 2:
            rss = max(rss, proc_rss_bytes(server_pid)) if server_pid else 0
            time.sleep(2)
        return before, readings(), rss

    load, ((t0, c0, i0, r0, m0), (t1, c1, i1, r1, m1), rss) = hlsload(
        url, mode, viewers, args.edge_ramp, args.window, f"edge-{mode}-{viewers}", measure
    )
    dt = t1 - t0
    rate: dict[str, float] = {}
    for (kind, via), value in r1.items():
        delta = (value - r0.get((kind, via), 0.0)) / dt
        rate[via] = rate.get(via, 0.0) + delta
        rate[f"{via}:{kind}"] = delta
    result = EdgeStep(name, viewers, load, 100 * (c1 - c0) / dt, rss, 100 * (i1 - i0) / dt, rate,
                      100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]))  # fmt: skip
    lag, d = load["lag_ms"], load["delivery"]
    print(f"{name} {viewers}: complete {d['viewers_complete']}/{viewers}, lag p50 {lag['p50']} p99 {lag['p99']} ms, "
          f"server {result.server_cpu:.0f} %, ingest {result.ingest_cpu:.0f} %, ingest req/s {rate}, "
          f"client {load['client']['cpu_pct_of_core']} %, errors {load['errors']}", file=sys.stderr,
          flush=True)  # fmt: skip
    return result


def edge_row(tmp: Path, args: argparse.Namespace) -> list[EdgeStep]:
    prefix = f"/streams/{EDGE_NAMESPACE}/{EDGE_STREAM}"
    with contextlib.ExitStack() as stack:
        (tmp / "ingest").mkdir()
        ingest = Ingest(tmp / "ingest", screenshots={"enabled": False}, hls={"latencyMode": "low"}, pathPrefix=prefix,
                        playback={"namespace": EDGE_NAMESPACE, "access": "public"})  # fmt: skip
        stack.callback(ingest.stop)
        ingest.start()
        stack.enter_context(Publisher(ingest.rtmp_url(), size="640x360", video_bitrate="800k",
                                      log_path=tmp / "publisher.log"))  # fmt: skip
        ingest.wait_live()
        playlist = wait_for(lambda: sorted((tmp / "ingest" / "media" / "sessions").glob("*/ts/index.m3u8")), 20)[-1]
        wait_for(lambda: playlist.read_text().count("#EXTINF") >= 3, 30)
        edge = Edge(
            tmp / "edge",
            EDGE_NAMESPACE,
            f"http://127.0.0.1:{ingest.http_port}",
            workers=2,
            routes={prefix: EDGE_STREAM},
        )
        stack.callback(edge.stop)
        edge.start()
        static = stack.enter_context(NginxStatic(playlist.parent.parent, tmp / "static", worker_processes=2))
        edge_pid = edge.process.pid if edge.process else None
        ll = f"{prefix}/hls/cmaf/index.m3u8"
        n = args.edge_viewers
        return [
            edge_step("one viewer, straight to the ingest", ingest.http + ll, "llhls", 1, None, ingest, args),
            edge_step("LL-HLS through the edge", edge.http + ll, "llhls", n, edge_pid, ingest, args),
            edge_step(
                "HLS through the edge", edge.http + f"{prefix}/hls/ts/index.m3u8", "hls", n, edge_pid, ingest, args
            ),
            edge_step("HLS from static nginx", static.url("ts/index.m3u8"), "hls", n, static.pid, ingest, args),
        ]


def edge_section(steps: list[EdgeStep], args: argparse.Namespace, load_before: str) -> list[str]:
    one, ll, hls, static = steps
    single = one.ingest_rate.get("direct", 0.0)
    via_edge = ll.ingest_rate.get("edge", 0.0)
    collapsing = via_edge / single if single else float("nan")
    rows = []
    for r in steps:
        d, lag = r.load["delivery"], r.load["lag_ms"]
        rps = float(r.load["requests_per_s"])
        rows.append([
            r.name, str(r.viewers),
            f"{d['viewers_complete_pct']:.0f} % ({d['received']}/{d['expected']})",
            f"{lag['p50']:.0f} / {lag['p99']:.0f} ms",
            f"{r.load['max_gap_ms']['max'] / 1000:.1f} s",
            f"{rps:.0f}",
            "—" if r is one else f"{r.server_cpu:.1f} %, {r.server_rss / MIB:.0f} MiB",
            "—" if r is one else f"{r.server_cpu / max(rps, 1e-9) * 1000:.2f} %",
            f"{r.ingest_cpu:.1f} %",
            f"{r.ingest_rate.get('edge', 0.0) + r.ingest_rate.get('direct', 0.0):.1f}",
            f"{r.load['client']['cpu_pct_of_core']:.0f} %",
            f"{r.machine_busy:.0f} %",
        ])  # fmt: skip
    part_ms = 1000 * float(ll.load["part_target_s"] or 0.2)
    ll_ok = ll.load["delivery"]["viewers_complete"] == ll.viewers and ll.load["lag_ms"]["p99"] <= 2 * part_ms
    per_request = (ll.server_cpu / max(ll.load["requests_per_s"], 1e-9)) / (
        static.server_cpu / max(static.load["requests_per_s"], 1e-9)
    ) if static.server_cpu else float("nan")  # fmt: skip
    same_load = hls.server_cpu / static.server_cpu if static.server_cpu else float("nan")
    return [
        EDGE_HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {commit()}; /proc/loadavg before: {load_before}, after: "
        f"{loadavg()}; nice {os.getpriority(os.PRIO_PROCESS, 0)}. A fresh public LL-HLS ingest (200 ms parts, "
        "2 s segments) of a 360p stream (testsrc2 640x360 30 fps, x264 800 kbit/s + AAC), the edge (nginx + Lua, "
        "2 workers) in front of it on 127.0.0.1, static nginx "
        f"(2 workers) serving the ingest's ts/ files; hlsload viewers joining over {args.edge_ramp:.0f} s, measured "
        f"over {args.window - 2:.0f} s. The ingest's request rate is its own counter "
        "(streamops_playback_requests_total, by via=edge|direct).",
        "",
        f"- {ll.viewers} LL-HLS viewers through one edge: every part to every viewer and p99 lag ≤ "
        f"{2 * part_ms:.0f} ms: {'✅' if ll_ok else '❌'} (p99 {ll.load['lag_ms']['p99']:.0f} ms).",
        f"- The ingest's request rate with them: {via_edge:.1f}/s vs {single:.1f}/s for one viewer straight to it: "
        f"{collapsing:.2f}× (target ≤ 2× per edge replica, one replica here) {'✅' if collapsing <= 2 else '❌'}.",
        f"- Edge CPU vs static nginx at the same load ({hls.viewers} HLS viewers each): {hls.server_cpu:.1f} % vs "
        f"{static.server_cpu:.1f} % of a core: {same_load:.2f}× (target ≤ 1.5×) {'✅' if same_load <= 1.5 else '❌'}; "
        f"LL-HLS through the edge per request vs static HLS per request: {per_request:.2f}×.",
        "",
        *markdown_table(
            [
                "row",
                "viewers",
                "all parts/segments received",
                "lag p50 / p99",
                "longest stall",
                "requests/s",
                "server CPU, RSS",
                "server CPU per 1,000 req/s",
                "ingest CPU",
                "ingest requests/s",
                "hlsload CPU",
                "machine busy",
            ],
            rows,
        ),
        "",
    ]


# --- the recorder row ----------------------------------------------------------------------------------


REFUSALS = "streamops_ingest_overload_refusals_total"
REQUESTS = "streamops_playback_requests_total"


def ingest_total(ingest: Ingest, name: str) -> float:
    """The ingest's counter `name` (REFUSALS, REQUESTS), summed over its labels."""
    text = http_get(ingest.internal + "/metrics")[1].decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


@dataclass
class RecorderStep:
    viewers: int
    window: Window
    load: dict[str, Any] | None  # hlsload's JSON (None: the baseline)
    refused: float  # requests the caps refused during the step
    loadavg: str


def recorder_row(s: Stand, args: argparse.Namespace) -> list[RecorderStep]:
    steps = [RecorderStep(0, window(s, args.baseline), None, 0.0, loadavg())]
    for n in parse_counts(args.recorder_steps):
        before = ingest_total(s.ingest, REFUSALS)
        load, measured = hlsload(s.url("hls"), "hls", n, args.ramp, args.window, f"recorder-hls-{n}",
                                 lambda: window(s, args.window - 2))  # fmt: skip
        steps.append(RecorderStep(n, measured, load, ingest_total(s.ingest, REFUSALS) - before, loadavg()))
        w = measured
        print(f"recorder row, {n} HLS viewers: recorder {w.recorded_per_second:.2f} s/s, pusher "
              f"{w.pushed_kbps:.0f} kbit/s, ingest {w.ingest_own_cpu:.0f} %, machine {w.machine_busy:.0f} %, "
              f"refused {steps[-1].refused:.0f}, errors {load['errors']}", file=sys.stderr, flush=True)  # fmt: skip
    return steps


def recorder_section(
    steps: list[RecorderStep], args: argparse.Namespace, load_before: str, seconds: float
) -> list[str]:
    base = steps[0].window
    rows = []
    for r in steps:
        w = r.window
        rec = w.recorded_per_second / max(base.recorded_per_second, 1e-9)
        push = w.pushed_kbps / max(base.pushed_kbps, 1e-9)
        served = "—"
        if r.load is not None:
            d = r.load["delivery"]
            served = f"{d['viewers_complete_pct']:.0f} % ({r.load['requests_per_s']:.0f} req/s)"
        rows.append([
            str(r.viewers) if r.viewers else "none (baseline)",
            f"{w.recorded_per_second:.2f} s/s ({rec:.2f}×)",
            f"{w.pushed_kbps:.0f} kbit/s ({push:.2f}×)",
            "✅" if rec >= 0.99 else "❌",
            f"{w.ingest_own_cpu:.0f} %",
            served,
            f"{r.refused:.0f}",
            f"{w.machine_busy:.0f} %",
            r.loadavg,
        ])  # fmt: skip
    return [
        RECORDER_HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {commit()}, {seconds / 60:.1f} min; /proc/loadavg "
        f"before: {load_before}, after: {loadavg()}; nice {os.getpriority(os.PRIO_PROCESS, 0)}. The stand of the "
        "first section (720p30 2.5 Mbit/s, LL-HLS on, a recorder and a pusher on the internal face's feed), HLS "
        f"viewers straight to the ingest (no edge), joining over {args.ramp:.0f} s, measured over "
        f"{args.window - 2:.0f} s. Recorder: recorded seconds per wall second, and its ratio against the no-viewer "
        "window of this run (target ≥ 0.99 at 1,600); pusher: bytes sent per second, likewise. Refused: requests "
        "the ingest's caps turned away (streamops_ingest_overload_refusals_total; the load client retries at "
        "once, a player backs off). Load average: at the end of each step.",
        "",
        *markdown_table(
            [
                "HLS viewers",
                "recorder",
                "pusher",
                "recorder ≥ 0.99×",
                "ingest Python CPU",
                "viewers complete (requests)",
                "refused",
                "machine busy",
                "loadavg",
            ],
            rows,
        ),
        "",
    ]


def parse_counts(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rows", choices=("all", *SECTIONS), default="ingest", help="which rows (the others stay in --out)"
    )
    parser.add_argument("--steps", default="50,100,200,400,800,1600", help="viewer counts, ascending")
    parser.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one step between the last good and the first bad count",
    )
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per step (after the ramp)")
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds over which a step's viewers join")
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of the no-viewer baseline")
    parser.add_argument("--edge-viewers", type=int, default=1000, help="edge row: LL-HLS (and HLS) viewers")
    parser.add_argument("--edge-ramp", type=float, default=10.0, help="edge row: seconds over which viewers join")
    parser.add_argument("--recorder-steps", default="200,800,1600", help="recorder row: HLS viewer counts")
    parser.add_argument("--flood-connections", type=int, default=64, help="flood row: h2load's connections")
    parser.add_argument("--flood-path", default="/hls/cmaf/index.m3u8", help="flood row: what the flood asks for")
    parser.add_argument("--flood-budget", type=float, help="flood row: the ingest's per-address requests/s")
    parser.add_argument("--ingest-code", type=Path, help="flood row: run the ingest from this checkout's operator/")
    parser.add_argument("--cluster-steps", default="250,500,1000", help="cluster row: LL-HLS viewer counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "playback.md")
    parser.add_argument(
        "--nice",
        type=int,
        default=-5,
        help="niceness of the bench and all it starts (root only): other work on a shared machine at 0 takes less "
        "from the measurement (CFS gives -5 about 3× the share of 0); 0 to measure as things come",
    )
    args = parser.parse_args()
    if args.nice and os.geteuid() == 0:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by the workers, FFmpeg, nginx and hlsload
    counts = parse_counts(args.steps)
    wanted = SECTIONS if args.rows == "all" else (args.rows,)
    measured: dict[str, list[str]] = {}
    hlsload_bin()  # built before anything starts (a no-op when built)
    if "ingest" in wanted:
        load_before = loadavg()
        with tempfile.TemporaryDirectory(prefix="streamops-playback-") as d, stand(Path(d)) as s:
            time.sleep(3)
            base = window(s, args.baseline)
            ll = ramp(s, "ingest", "llhls", counts, args)
            hls = ramp(s, "ingest", "hls", counts, args)
            nginx = [step(s, "nginx", "hls", r.viewers, args) for r in hls]
        measured["ingest"] = ingest_section(base, ll, hls, nginx, args, load_before)
    if "edge" in wanted:
        load_before = loadavg()
        with tempfile.TemporaryDirectory(prefix="streamops-playback-edge-") as d:
            measured["edge"] = edge_section(edge_row(Path(d), args), args, load_before)
    if "recorder" in wanted:
        load_before, started = loadavg(), time.monotonic()
        with tempfile.TemporaryDirectory(prefix="streamops-playback-rec-") as d, stand(Path(d)) as s:
            time.sleep(3)
            steps = recorder_row(s, args)
        measured["recorder"] = recorder_section(steps, args, load_before, time.monotonic() - started)
    if "flood" in wanted:
        load_before, started = loadavg(), time.monotonic()
        env = refusal_flood.ingest_env(args.ingest_code)
        overrides = refusal_flood.ingest_overrides(args.flood_budget, args.ingest_code)
        with (
            tempfile.TemporaryDirectory(prefix="streamops-playback-flood-") as d,
            stand(Path(d), env, overrides) as s,
        ):
            time.sleep(3)
            floods = refusal_flood.flood_row(s.ingest.http, args, lambda seconds: window(s, seconds),
                                             lambda: ingest_total(s.ingest, REFUSALS),
                                             lambda: ingest_total(s.ingest, REQUESTS))  # fmt: skip
        measured["flood"] = refusal_flood.flood_section(floods, args, load_before, time.monotonic() - started)
    if "cluster" in wanted:
        measured["cluster"] = playback_cluster.measure(args)
    previous = args.out.read_text() if args.out.exists() else ""
    report = merged_report(previous, measured, HEADINGS, SECTIONS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
