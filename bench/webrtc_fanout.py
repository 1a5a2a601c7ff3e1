#!/usr/bin/env python3
"""The WebRTC fan-out row of `make bench-media` (issue 26): the ingest worker (`streamops worker
ingest` with `webrtc`: its WHEP feeder sends an RTMP source to the streamops-webrtc it runs),
streamops-webrtc alone (components/webrtc) and Janus (Debian's 1.1.2, streaming plugin) serving
the same encode to 1, 50, 200 receive-only viewers, in the same run, on loopback only. Writes
bench/results/webrtc-fanout.md.

Every process runs in a network namespace made for the run (devtools.media.janus.janus_namespace:
`lo`, plus a veth pair with both ends inside holding 127.0.0.2/32, the one address Janus 1.1.2 can be made to
gather ICE candidates on; it skips loopback interfaces) and deleted after it. The component, the
encoder's RTP, both HTTP APIs and the viewers use 127.0.0.1; Janus's candidates are 127.0.0.2; the
load client refuses any server candidate off 127.0.0.0/8. Janus's viewers gather on 127.0.0.2 as
well (libnice, in Janus, never connects 127.0.0.2 with 127.0.0.1), the component's on 127.0.0.1.

- One FFmpeg encode (testsrc2 1280x720 30 fps, x264 veryfast `-tune zerolatency -bf 0`, 2.5 Mbit/s,
  a keyframe every 2 s; audio encoded twice, Opus 64 kbit/s and AAC 128 kbit/s) sent through the
  tee muxer to five destinations: RTP (H.264 + Opus) to the component's input ports and to the
  Janus mountpoint's ports, and an RTMP push (FLV: the same H.264 + AAC) to the ingest worker, whose
  WHEP feeder (FFmpeg: its served feed, video copied, AAC → Opus) sends it as RTP to the component
  it runs. Same video bitstream everywhere, one encode.
- Baseline: every server fed, no viewer, CPU over the window.
- For each N and each server in turn (the component alone, the ingest, Janus): the load client
  (components/webrtc/cmd/whep-load, pion: receive + SRTP decrypt, no decode; WHEP for the
  component and the ingest, Janus's HTTP API for Janus) opens N viewers; once every viewer is
  connected (+ a settle time), the server's CPU (% of one core, from /proc/PID/stat; for the ingest
  its whole process tree: the worker, streamops-webrtc, every FFmpeg, and what they reaped) is
  taken over the same window the load client counts packets in (it prints `window-start` and
  `result` lines); peak RSS (the tree's sum for the ingest) sampled each second. Per-viewer CPU =
  (CPU with N − CPU with 0) / N. "Full frame rate": every viewer connected and its video
  timestamps changing ≥ 29 times a second (the source makes 30), audio ≥ 45 packets/s (Opus 20 ms: 50).
- The load client's and the encoder's CPU are reported too: all of it shares the same cores.

Bounded: each load run ≤ 60 s (join timeout + settle + window), every process (encoder, component,
Janus, load client) is a devtools `_Peer` stopped by PID, also on failure.

  python -m bench.webrtc_fanout [--counts 1,50,200] [--window 20] [--out bench/results/webrtc-fanout.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from devtools.media.ingest_webrtc import component_status, ingest_status, process_roles, start_ingest
from devtools.media.janus import AUDIO_PT, ICE_ADDRESS, VIDEO_PT, Janus, janus_namespace
from devtools.media.peers import _Peer
from devtools.media.webrtc import WebRtcComponent, whep_load_bin
from devtools.media.workers import Ingest
from devtools.ports import LOOPBACK
from devtools.processes import proc_cpu_seconds, proc_rss_bytes
from devtools.versions import REPO as ROOT
from devtools.waits import wait_for

from bench.report_file import commit, loadavg, write_report

FPS = 30
MIN_FPS = 29.0  # over a ≥ 20 s window a viewer of a 30 fps source counts 600 ± 1 frames
MIN_AUDIO_PPS = 45.0
JOIN_TIMEOUT = 25.0
SETTLE = 2.0


# --- the load client ------------------------------------------------------------------------------


class LoadClient(_Peer):
    """One whep-load run; its JSON lines land in `out` (polled: `wait_event`)."""

    def __init__(
        self, binary: Path, workdir: Path, target: str, url: str, viewers: int, window: float, netns: str, side: str
    ) -> None:
        super().__init__(workdir / f"load-{side}-{viewers}.log", netns=netns)
        self.out = workdir / f"load-{side}-{viewers}.jsonl"
        # Janus's viewers gather on its ICE address too: libnice (in Janus) never connects its
        # 127.0.0.2 candidate with a viewer's 127.0.0.1 one (ICE fails; same address: it connects).
        ice_ip = ICE_ADDRESS if target == "janus" else LOOPBACK
        self.argv = [str(binary), "--target", target, "--url", url, "--viewers", str(viewers), "--window",
                     f"{window}s", "--settle", f"{SETTLE}s", "--join-timeout", f"{JOIN_TIMEOUT}s",
                     "--ice-ip", ice_ip]  # fmt: skip

    def command(self) -> list[str]:
        return self.argv

    def _stdout(self) -> IO[bytes] | int:
        return open(self.out, "wb")  # closed in stop()

    def events(self) -> list[dict[str, Any]]:
        try:
            lines = self.out.read_text().splitlines()
        except OSError:
            return []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            found = [e for e in self.events() if e.get("event") == name]
            if found:
                return found[0]
            self._check_alive()
            return None

        return wait_for(seen, timeout=timeout, interval=0.01, what=f"whep-load's {name!r}")


# --- the encoder ----------------------------------------------------------------------------------


class RtpEncoder(_Peer):
    """One live x264 encode with its audio as Opus and as AAC: RTP (H.264 + Opus) sent to every
    (video port, audio port) pair given, on 127.0.0.1, and the same H.264 with the AAC pushed over
    RTMP to `rtmp_url` when given, through the tee muxer (one encode, one packetisation per
    destination). Output streams: 0 video, 1 Opus, 2 AAC."""

    def __init__(
        self, workdir: Path, destinations: list[tuple[int, int]], seconds: float, netns: str, rtmp_url: str | None
    ) -> None:
        super().__init__(workdir / "encoder.log", netns=netns)
        self.destinations = destinations
        self.seconds = seconds
        self.rtmp_url = rtmp_url

    def command(self) -> list[str]:
        slaves = []
        for video, audio in self.destinations:
            # payload_type pinned to what the Janus mountpoint announces (FFmpeg's defaults anyway)
            # 1200-byte packets, as WebRTC senders make them; sockets bound to 127.0.0.1, not 0.0.0.0
            query = f"localaddr={LOOPBACK}&pkt_size=1200"
            slaves.append(f"[select=0:f=rtp:payload_type={VIDEO_PT}]rtp://{LOOPBACK}:{video}?{query}")
            slaves.append(f"[select=1:f=rtp:payload_type={AUDIO_PT}]rtp://{LOOPBACK}:{audio}?{query}")
        if self.rtmp_url:
            # the ingest's push: the video and the AAC (FLV takes no Opus); a broken push must not
            # stop the RTP (the ingest's runs then report it)
            slaves.append(f"[select=\\'0,2\\':f=flv:onfail=ignore]{self.rtmp_url}")
        return [
            "ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning",
            "-re", "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}",
            "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", str(self.seconds), "-map", "0:v", "-map", "1:a", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline",
            "-pix_fmt", "yuv420p", "-bf", "0", "-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0",
            "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "1250k",
            "-c:a:0", "libopus", "-b:a:0", "64k", "-c:a:1", "aac", "-b:a:1", "128k", "-ar", "48000", "-ac", "2",
            "-f", "tee", "|".join(slaves),
        ]  # fmt: skip


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Window:
    """CPU (% of one core) of named processes over one window, and each one's peak RSS."""

    pids: dict[str, int]
    cpu0: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    last_cpu: dict[str, float] = field(default_factory=dict)  # sampled each second: a process gone at end()
    busy: float = 0.0  # the whole machine's busy share of all cores over the window, %
    _stat0: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def start(self) -> Window:
        self.cpu0 = {k: proc_cpu_seconds(p) for k, p in self.pids.items()}
        self._stat0 = machine_ticks()
        self.t0 = time.monotonic()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while True:
            for k, p in self.pids.items():
                self.rss[k] = max(self.rss.get(k, 0), proc_rss_bytes(p))
                self.last_cpu[k] = max(self.last_cpu.get(k, 0.0), proc_cpu_seconds(p))
            if self._stop.wait(1.0):
                return

    def end(self) -> Window:
        elapsed = time.monotonic() - self.t0
        # a process that ended meanwhile (the load client closing its sessions) reads 0: its last sample
        now = {k: max(proc_cpu_seconds(p), self.last_cpu.get(k, 0.0)) for k, p in self.pids.items()}
        self.cpu = {k: 100 * (now[k] - self.cpu0[k]) / elapsed for k in self.pids}
        stat1 = machine_ticks()
        total = sum(stat1) - sum(self._stat0)
        idle = (stat1[3] + stat1[4]) - (self._stat0[3] + self._stat0[4])
        self.busy = 100 * (total - idle) / total if total else 0.0
        self._stop.set()
        if self._sampler:
            self._sampler.join()
        return self


def machine_ticks() -> list[int]:
    """The `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal …)."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


SIDES = ("component", "ingest", "janus")
SERVER_NAMES = {"component": "streamops-webrtc", "ingest": "ingest (worker tree)", "janus": "Janus"}
# the ingest tree's parts (devtools.media.ingest_webrtc.process_roles), in the breakdown's order
INGEST_PARTS = ("streamops-webrtc", "ffmpeg: session", "ffmpeg: WHEP feeder")
PART = "part: "  # Window keys of the ingest's parts: "part: <role> <pid>"


@dataclass
class Run:
    side: str  # "component", "ingest" or "janus"
    n: int
    window: Window | None = None
    result: dict[str, Any] = field(default_factory=dict)
    joined: dict[str, Any] = field(default_factory=dict)
    server_viewers: int | None = None  # what the server counted during the window
    dropped: int | None = None  # the component's viewerPacketsDropped over the run
    error: str = ""
    load_before: str = ""
    load_after: str = ""

    @property
    def full_rate(self) -> bool:
        r = self.result
        return (
            bool(r)
            and r["connected"] == self.n
            and r["fpsMin"] >= MIN_FPS
            and r["audioPacketsPerSecondMin"] >= MIN_AUDIO_PPS
        )


def run_load(
    side: str,
    n: int,
    binary: Path,
    workdir: Path,
    url: str,
    server_pid: int,
    netns: str,
    others: dict[str, int],
    window: float,
    server_viewers: Callable[[], int],
    settle_down: Callable[[], bool],
) -> Run:
    run = Run(side, n, load_before=loadavg())
    target = "janus" if side == "janus" else "whep"
    load = LoadClient(binary, workdir, target, url, n, window, netns, side)
    try:
        with load:
            assert load.pid is not None
            run.joined = load.wait_event("joined", JOIN_TIMEOUT + 10)
            load.wait_event("window-start", SETTLE + 10)
            run.window = Window({"server": server_pid, "load client": load.pid, **others}).start()
            time.sleep(window / 2)
            run.server_viewers = server_viewers()
            run.result = load.wait_event("result", window + 10)
            run.window.end()
            load.wait(10)
    except Exception as exc:  # reported in the table: where it broke
        run.error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        if run.window and not run.window.cpu:
            run.window.end()
    # the next run starts from a server without viewers
    try:
        wait_for(settle_down, timeout=20, interval=0.2, what=f"{side}'s viewers to leave")
    except Exception as exc:
        run.error += f" (viewers still there 20 s after the run: {exc})"
    run.load_after = loadavg()
    return run


def janus_viewers(janus: Janus) -> int:
    return int(janus.mountpoint_info().get("viewers", -1))


def janus_fed(janus: Janus) -> bool:
    media = janus.mountpoint_info().get("media", [])
    return len(media) == 2 and all(0 <= m.get("age_ms", 10**9) < 500 for m in media)


def ingest_parts(ingest: Ingest) -> dict[str, int]:
    """Window keys for the ingest's children worth naming (the component, the session's FFmpeg,
    the WHEP feeder), each its own process (no children)."""
    return {f"{PART}{role} {pid}": pid for pid, role in process_roles(ingest).items() if role in INGEST_PARTS}


def ingest_feeding(ingest: Ingest, ns: str) -> bool:
    status = ingest_status(ingest, ns)
    return bool(status["live"] and (status.get("webrtc") or {}).get("whepLive") and component_status(ingest, ns))


# --- report ---------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{x:.1f} %"


def mib(x: int) -> str:
    return f"{x / 1024 / 1024:.1f} MiB"


def run_row(run: Run, base_cpu: float) -> str:
    w, r = run.window, run.result
    name = SERVER_NAMES[run.side]
    if not r or w is None:
        return f"| {run.n} | {name} | — | — | — | — | — | — | — | — | — | — | broke: {run.error} |"
    per = (w.cpu["server"] - base_cpu) / run.n
    ok = "✅" if run.full_rate else "❌"
    fps = f"{r['fpsMin']:.1f} / {r['fpsMedian']:.1f}"
    note = run.error or ""
    lossy = [v["lost"] for v in r["perViewer"] if v["lost"]]
    if lossy:
        note += f" losses at {len(lossy)} viewers (max {max(lossy)})"
    if run.dropped:
        note += f" {run.dropped} packets dropped for slow viewers"
    return (
        f"| {run.n} | {name} | {pct(w.cpu['server'])} | {mib(w.rss['server'])} | {per:.2f} % "
        f"| {r['connected']} of {run.n} (server: {run.server_viewers}) | {fps} {ok} "
        f"| {r['audioPacketsPerSecondMin']:.0f} "
        f"| {r['mbitPerViewer']:.2f} ({r['mbitTotal']:.0f} total) | {r['lostPackets']} "
        f"| {pct(w.cpu['load client'])} | {pct(w.cpu['encoder'])}, machine {w.busy:.0f} % busy "
        f"| {run.load_before} → {run.load_after} {note}|"
    )


def per_viewer(run: Run | None, base: float) -> float | None:
    if run is None or not run.result or run.window is None:
        return None
    return (run.window.cpu["server"] - base) / run.n


def rss_per_viewer(run: Run | None, base: Window, key: str) -> str:
    if run is None or run.window is None or not run.result:
        return "n/a"
    return f"{(run.window.rss['server'] - base.rss[key]) / run.n / 1024:.0f} KiB"


def ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs <= 0:
        return "n/a"
    ok = "✅" if ours <= theirs else "❌"
    return f"{ours:.3f} % / {theirs:.3f} % = **{ours / theirs:.2f}×** {ok}"


def breakdown(window: Window, server: str) -> dict[str, float]:
    """The ingest tree's CPU by part over a window: the component, the session's FFmpeg, the WHEP
    feeder, and the worker itself (with what it reaped: the tree's rest)."""
    parts = {role: 0.0 for role in INGEST_PARTS}
    for key, cpu in window.cpu.items():
        if key.startswith(PART):
            parts[key.removeprefix(PART).rsplit(" ", 1)[0]] += cpu
    return {"worker (Python)": window.cpu[server] - sum(parts.values()), **parts}


def report(args: argparse.Namespace, base: Window, runs: list[Run], meta: dict[str, str]) -> str:
    bases = {"component": base.cpu["component"], "ingest": base.cpu["ingest"], "janus": base.cpu["janus"]}
    lines = [
        "# WebRTC fan-out: the ingest worker and streamops-webrtc vs Janus",
        "",
        "`make bench-media` (its last row; alone: `make bench-media FANOUT_ONLY=1`, or",
        "`.venv/bin/python -m bench.webrtc_fanout`), written by bench/webrtc_fanout.py. Issue 26's fan-out row:",
        "one 720p30 stream, N receive-only WebRTC viewers, three servers in turn, same run, same machine:",
        "the **ingest worker** (`streamops worker ingest` with `webrtc`: the stream published to it over RTMP,",
        "its WHEP feeder sends it as RTP to the streamops-webrtc it runs; measured as its whole process tree:",
        "the worker, the component, the session's FFmpeg, the feeder's FFmpeg), **streamops-webrtc alone**",
        "(components/webrtc, fed by the encoder's RTP on its input ports: the component's own cost) and",
        "**Janus** (Debian's 1.1.2, streaming plugin, an rtp mountpoint fed with the same encode). Everything",
        "runs in a network namespace made for the run: `lo` (127.0.0.1: the ingest, the component, RTP, RTMP,",
        "every HTTP API, the viewers of both streamops servers) and a veth pair (both ends inside) holding",
        f"{ICE_ADDRESS}/32, Janus's only ICE address (Janus 1.1.2 skips loopback interfaces when it gathers:",
        "devtools/devtools/media/janus.py); Janus's viewers use it too (libnice never pairs it with 127.0.0.1);",
        "the load client refuses any server candidate off 127.0.0.0/8.",
        "",
        f"Run {meta['date']} on {platform.machine()}, {os.cpu_count()} cores; commit {meta['commit']};",
        f"load average (1, 5, 15 min) before {meta['load_before']}, after {meta['load_after']}; {meta['go']};",
        f"{meta['janus']}; {meta['ffmpeg']}.",
        "Source: one FFmpeg encode (testsrc2 1280x720 30 fps, x264 veryfast baseline `-tune zerolatency",
        "-bf 0`, 2.5 Mbit/s, keyframe every 2 s; Opus 64 kbit/s and AAC 128 kbit/s), sent by the tee muxer",
        "as RTP (H.264 + Opus) to the component and Janus and as RTMP (the same H.264 + AAC) to the ingest",
        "(config: `webrtc: {}`, screenshots off, everything else the worker's defaults; its feeder copies the",
        "video and encodes the AAC to Opus). Load client: components/webrtc/cmd/whep-load (pion; receive + SRTP",
        "decrypt, no decode, no NACK/RTCP; WHEP for the component and the ingest (POST /whep on the worker),",
        "Janus's HTTP API: create, attach, `watch`, answer with `start`, keepalives), one process per run, 4",
        f"joins in flight. Window: {args.window:.0f} s once all N viewers are connected + {SETTLE:.0f} s, the",
        "same window for the server's CPU (utime + stime from /proc/PID/stat, % of one core; the ingest: its",
        "process tree, with what it reaped) and the viewers' counters; RSS: peak over the window (the ingest:",
        "the tree's sum). CPU per viewer = (CPU with N − CPU with 0 viewers) / N. Full frame rate (✅): every",
        "viewer connected, ≥ 29 video frames/s (timestamp changes; the source has 30) and ≥ 45 audio",
        "packets/s. The load client and the encoder run on the same cores (their CPU in the table);",
        '"machine busy": all cores, over the window.',
        "",
        f"Baseline (every server fed, no viewer, {args.window:.0f} s): ingest tree {pct(bases['ingest'])}, "
        f"{mib(base.rss['ingest'])}; streamops-webrtc alone {pct(bases['component'])}, {mib(base.rss['component'])}; "
        f"Janus {pct(bases['janus'])}, {mib(base.rss['janus'])}; encoder {pct(base.cpu['encoder'])}; "
        f"machine {base.busy:.0f} % busy.",
        "",
        "| viewers | server | server CPU | server RSS | CPU per viewer | connected | video fps min / median "
        "| audio pkt/s min | Mbit/s per viewer | lost packets | load client CPU | encoder CPU | load avg |",
        "|---:|---|---:|---:|---:|---|---|---:|---|---:|---:|---|---|",
    ]
    for run in runs:
        lines.append(run_row(run, bases[run.side]))

    def find(side: str, n: int) -> Run | None:
        return next((r for r in runs if r.side == side and r.n == n), None)

    lines += [
        "",
        "| viewers | CPU per viewer: ingest tree / Janus (target ≤ 1.0×) | streamops-webrtc alone / Janus "
        "| RSS per viewer (Δ over 0 viewers / N): ingest tree / streamops-webrtc / Janus |",
        "|---:|---|---|---|",
    ]
    for n in args.counts:
        pv = {side: per_viewer(find(side, n), bases[side]) for side in SIDES}
        rss = " / ".join(rss_per_viewer(find(side, n), base, side) for side in SIDES)
        lines.append(f"| {n} | {ratio(pv['ingest'], pv['janus'])} | {ratio(pv['component'], pv['janus'])} | {rss} |")
    lines += [
        "",
        "The ingest tree by part (CPU % of one core over each window; the worker: the Python process with what it "
        "reaped, i.e. the tree less the named parts):",
        "",
        "| viewers | " + " | ".join(["worker (Python)", *INGEST_PARTS]) + " | tree |",
        "|---:|" + "---:|" * (len(INGEST_PARTS) + 2),
    ]
    for label, window in [("0", base), *((str(r.n), r.window) for r in runs if r.side == "ingest" and r.result)]:
        if window is None:
            continue
        server = "ingest" if window is base else "server"
        parts = breakdown(window, server)
        lines.append(f"| {label} | " + " | ".join(pct(v) for v in parts.values()) + f" | {pct(window.cpu[server])} |")
    broke = [r for r in runs if not r.full_rate]
    lines.append("")
    if broke:
        lines.append(
            "Not served at full rate: "
            + "; ".join(f"{SERVER_NAMES[r.side]} at N={r.n} ({why(r)})" for r in broke)
            + "."
        )
    else:
        lines.append("Every run served every viewer at full frame rate.")
    lines.append("")
    return "\n".join(lines)


def why(run: Run) -> str:
    r = run.result
    if not r:
        return run.error or "no result"
    parts = []
    if r["connected"] < run.n:
        parts.append(
            f"{r['connected']} of {run.n} connected, {r['joinErrors']} join errors: {r.get('firstJoinError', '')}"
        )
    if r["fpsMin"] < MIN_FPS:
        slow = sum(1 for v in r["perViewer"] if v["frames"] / r["windowSeconds"] < MIN_FPS)
        parts.append(f"{slow} viewers below {MIN_FPS:g} fps, min {r['fpsMin']:.1f}")
    if r["audioPacketsPerSecondMin"] < MIN_AUDIO_PPS:
        parts.append(f"audio min {r['audioPacketsPerSecondMin']:.0f} pkt/s")
    return ", ".join(parts)


def versions() -> dict[str, str]:
    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    janus = "Janus " + out(["dpkg-query", "-W", "-f", "${Version}", "janus"]) + " (Debian)"
    return {
        "commit": commit("components/webrtc", "operator/streamops/media", "devtools/devtools/media", "bench"),
        "go": out(["go", "version"]).strip(),
        "janus": janus.strip(),
        "ffmpeg": out(["ffmpeg", "-version"]).split("\n")[0].split(" Copyright")[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,50,200", help="viewer counts, comma-separated")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of steady state (20 to 30)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "webrtc-fanout.md")
    args = parser.parse_args()
    args.counts = [int(c) for c in args.counts.split(",") if c.strip()]
    if not 20 <= args.window <= 30:
        parser.error("--window: 20 to 30 s (each load run stays under 60 s)")

    meta = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}", "load_before": loadavg(), **versions()}
    binary = whep_load_bin()
    runs: list[Run] = []
    # the encoder runs the whole benchmark: baseline + counts x 3 runs of ≤ 60 s (+ settling)
    seconds = 120 + len(args.counts) * len(SIDES) * 90
    with (
        tempfile.TemporaryDirectory(prefix="streamops-fanout-") as d,
        janus_namespace(f"sofanout{os.getpid()}") as ns,
    ):
        tmp = Path(d)
        (tmp / "janus").mkdir()
        ingest = start_ingest(ns, tmp / "ingest", screenshots={"enabled": False})
        try:
            with (
                WebRtcComponent(
                    tmp, whip_out=False, ice_tcp=False, extra_args=["--log-level", "warn"], netns=ns
                ) as comp,
                Janus(tmp / "janus", netns=ns) as janus,
            ):
                assert comp.rtp_in_ports is not None and ingest.process is not None
                feeds = [comp.rtp_in_ports, (janus.video_port, janus.audio_port)]
                with RtpEncoder(tmp, feeds, seconds, ns, ingest.rtmp_url()) as encoder:
                    wait_for(lambda: comp.status().get("rtpInLive"), timeout=15, what="RTP at the component")
                    wait_for(lambda: janus_fed(janus), timeout=15, what="RTP at Janus's mountpoint")
                    wait_for(lambda: ingest_feeding(ingest, ns), timeout=30, what="the ingest live, feeding WHEP")
                    time.sleep(3)  # past the encoder's and the feeder's start-up
                    assert comp.pid and janus.pid and encoder.pid
                    worker = ingest.process.pid
                    pids = {"component": comp.pid, "janus": janus.pid, "encoder": encoder.pid, "ingest": worker}
                    base = Window({**pids, **ingest_parts(ingest)}).start()
                    time.sleep(args.window)
                    base.end()
                    print(f"baseline: {base.cpu} busy {base.busy:.0f} %", flush=True)
                    for n in args.counts:
                        dropped0 = comp.status().get("viewerPacketsDropped", 0)
                        run = run_load(
                            "component", n, binary, tmp, comp.control_url, comp.pid, ns,
                            {"janus": janus.pid, "encoder": encoder.pid, "ingest": worker}, args.window,
                            lambda: int(comp.status().get("viewers", -1)),
                            lambda: comp.status().get("viewerSessions") == 0,
                        )  # fmt: skip
                        run.dropped = comp.status().get("viewerPacketsDropped", 0) - dropped0
                        runs.append(run)
                        print(run_row(run, base.cpu["component"]), flush=True)

                        dropped0 = component_status(ingest, ns).get("viewerPacketsDropped", 0)
                        run = run_load(
                            "ingest", n, binary, tmp, ingest.http, worker, ns,
                            {"component": comp.pid, "janus": janus.pid, "encoder": encoder.pid,
                             **ingest_parts(ingest)}, args.window,
                            lambda: int(component_status(ingest, ns).get("viewers", -1)),
                            lambda: component_status(ingest, ns).get("viewerSessions") == 0,
                        )  # fmt: skip
                        run.dropped = component_status(ingest, ns).get("viewerPacketsDropped", 0) - dropped0
                        runs.append(run)
                        print(run_row(run, base.cpu["ingest"]), flush=True)

                        run = run_load(
                            "janus", n, binary, tmp, janus.api_url, janus.pid, ns,
                            {"component": comp.pid, "encoder": encoder.pid, "ingest": worker}, args.window,
                            lambda: janus_viewers(janus),
                            lambda: janus_viewers(janus) == 0,
                        )  # fmt: skip
                        runs.append(run)
                        print(run_row(run, base.cpu["janus"]), flush=True)
                        for proc in (comp, janus, encoder):
                            proc._check_alive()
                        if not ingest_feeding(ingest, ns):
                            raise RuntimeError(f"the ingest stopped feeding WHEP:\n{ingest.logs()[-3000:]}")
        finally:
            ingest.stop()
    meta["load_after"] = loadavg()
    text = report(args, base, runs, meta)
    write_report(args.out, text)
    print(text)
    return 0 if all(r.full_rate for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
