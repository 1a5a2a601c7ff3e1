"""`make bench-density` (issue 53, deliverable 4): how many live streams the 2-node pod-network cluster
holds, each with a Recording and a Restream, against nginx-rtmp doing the same jobs (record, push,
HLS) on one node of the same cluster, in one run -> bench/results/density.md.

The stand: devtools.cluster.local_cluster (2 nodes, kube-proxy, CoreDNS; no ingress controller, no
overlay image: nothing here uses them), streamops installed with the chart. On the cluster's LAN (a
network namespace of its own, like the machines around a real cluster): one publisher per stream
(devtools.media.peers.Publisher: testsrc2 640x360 30 fps, x264 800 kbit/s + AAC, encoded once and
looped with -c copy), one nginx-rtmp receiving every Restream (the target), and the light HLS client
(bench.hls_watch) reading every stream's playlist once a second.

streamops: stream i is a LiveStream `s<i>` (screenshots off: nginx-rtmp takes none; everything else
as it ships: standard HLS), a Recording to the namespace's recordings claim (a local volume on
node-1: every recorder runs there) and a Restream to the LAN target (its key from a Secret). The
light client reads the ingest's ts/ playlist through its http nodePort on node-1.

nginx-rtmp: one nginx (1 worker, as nginx-rtmp is run: its live streams do not cross workers) started
in node-1's network namespace (the node's address, as a process of the node outside any Pod: the
kubelet's neighbour), application `live` with `record all` (FLV into a directory of the host),
`hls on` (2 s fragments) and `push` to the same LAN target, the same publishers pushing to it.

N is raised (`--steps doubling`: 2, 4, 8, … then bisected between the last that held and the first
that failed, down to --resolution; or an explicit list, in order, stopping at the first failure).
A step holds when, over --window seconds after every stream is live, recording and restreaming and
--settle seconds have passed: every stream's HLS output kept up (bench.hls_watch's speed ≥ 0.98:
media seconds appearing per wall second, what says the ingest's FFmpeg keeps up with a real-time
publisher, the same measure for both servers), no segment was missed, every Restream is publishing at
the target and every recording is growing. status.transcodingSpeed (the ingest's own 3 s rate) is
shown beside it, not judged: one sample of a 3 s rate per stream.

Per step: CPU (% of one core) and PSS per stream by role, from the Pods' cgroups on the host
(cpuacct.usage over the window; PSS from smaps_rollup of every process in the Pod's memory cgroup,
sampled 3 times, the largest), Pods per stream (by the streamops.io stream label), the machine's busy
% over the window and /proc/loadavg. For nginx-rtmp the same from its process tree.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.address_plan import OUTSIDE_IP
from devtools.catalog import livestream, recording, restream
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.peers import NginxRtmp, Publisher
from devtools.processes import cpu_seconds, proc_tree, pss_bytes
from devtools.waits import eventually

from bench.hls_watch import Verdict, watching
from bench.playback_cluster import CPUACCT, machine_jiffies, pod_cgroup_dir
from bench.report_file import ROOT, commit, loadavg, markdown_table, write_report

NAMESPACE = "density"
REPORT = ROOT / "bench" / "results" / "density.md"
MIB = 1024 * 1024
SPEED = 0.98  # below it a stream's output falls behind its real-time publisher
ROLES = ("ingest", "recorder", "pusher")
COMPONENT = "app.kubernetes.io/component"
STREAM_LABEL = "streaming.streamops.dev/stream"
RECORDING_DIR = re.compile(r"r(\d+)-[0-9a-f]+")  # a Recording's directory on the claim


def publisher(url: str, netns: str, log_path: Path) -> Publisher:
    """A stream's encoder on the LAN: bench/playback_cluster.py's (the cached 640x360 clip, copied)."""
    return Publisher(url, size="640x360", video_bitrate="800k", netns=netns, log_path=log_path)


# --- the search -------------------------------------------------------------------------------------


def search(held: Callable[[int], bool], steps: str, most: int, resolution: int) -> int:
    """The largest N that held: `steps` "doubling" (2, 4, 8, … up to `most`, then bisecting between
    the last that held and the first that failed until they are `resolution` apart) or a comma list
    run in order until one fails. 0 when the first failed."""
    if steps != "doubling":
        good = 0
        for n in (int(x) for x in steps.split(",") if x.strip()):
            if not held(n):
                break
            good = n
        return good
    good, bad, n = 0, None, 2
    while n <= most:
        if not held(n):
            bad = n
            break
        good, n = n, min(2 * n, most) if n < most else most + 1
    while bad is not None and bad - good > resolution:
        mid = (good + bad) // 2
        if held(mid):
            good = mid
        else:
            bad = mid
    return good


# --- readings ---------------------------------------------------------------------------------------


@dataclass
class Usage:
    """CPU seconds and peak PSS bytes of a group of processes (a role's Pods, or nginx)."""

    cpu: float = 0.0
    pss: int = 0


@dataclass
class Step:
    side: str  # "streamops" or "nginx-rtmp"
    n: int
    verdicts: dict[str, Verdict]
    cpu: dict[str, float]  # % of one core per stream, by role
    pss: dict[str, float]  # bytes per stream, by role
    pods: dict[str, int]  # Pods by role (streamops)
    restreams_live: int
    recordings_growing: int
    reported_speed: list[float]  # status.transcodingSpeed (streamops)
    busy: float  # % of the machine's cores over the window
    load: str
    restarts: int = 0
    node_pods: dict[str, int] = field(default_factory=dict)  # every Pod on each node (the kubelet's max: 110)
    client: float = float("nan")  # the light HLS client's CPU, % of one core
    failure: str = ""  # the step's streams never all ran (nothing measured)

    @property
    def min_speed(self) -> float:
        speeds = [v.speed for v in self.verdicts.values()]
        return min(speeds) if speeds and not any(math.isnan(s) for s in speeds) else float("nan")

    @property
    def missed(self) -> int:
        return sum(v.missed for v in self.verdicts.values())

    @property
    def held(self) -> bool:
        return not self.why

    @property
    def why(self) -> str:
        """What failed, empty when the step held."""
        if self.failure:
            return self.failure
        out = []
        slow = sorted(k for k, v in self.verdicts.items() if not v.speed >= SPEED)
        if slow:
            out.append(f"speed < {SPEED}: {', '.join(slow[:4])}{' …' if len(slow) > 4 else ''}")
        if len(self.verdicts) < self.n:
            out.append(f"{self.n - len(self.verdicts)} playlists not read")
        if self.missed:
            out.append(f"{self.missed} segments missed")
        if self.restreams_live < self.n:
            out.append(f"{self.n - self.restreams_live} restreams not at the target")
        if self.recordings_growing < self.n:
            out.append(f"{self.n - self.recordings_growing} recordings not growing")
        return "; ".join(out)


def unready(side: str, n: int, error: Exception) -> Step:
    """A step whose streams did not all run in time: failed, nothing measured."""
    why = f"not all running: {(str(error).splitlines() or [type(error).__name__])[0][:160]}"
    print(f"{side} N={n}: FAILED; {why}", file=sys.stderr, flush=True)
    return Step(side, n, {}, {}, {}, {}, 0, 0, [], float("nan"), loadavg(), failure=why)


def window_usage(
    groups: Callable[[], dict[str, list[tuple[str, Path, Path]]]], seconds: float
) -> tuple[dict[str, float], dict[str, int], float]:
    """Over `seconds`: % of one core and peak PSS by group, and the machine's busy %. A group is a list of
    (key, cpuacct dir, memory dir) — Pods' cgroups, or ("nginx", pid) through nginx_usage instead."""
    before = groups()
    c0 = {k: {key: cpuacct(cpu) for key, cpu, _ in v} for k, v in before.items()}
    m0, t0 = machine_jiffies(), time.monotonic()
    peak = dict.fromkeys(before, 0)
    for _ in range(3):
        time.sleep(seconds / 3)
        for k, v in groups().items():
            peak[k] = max(peak.get(k, 0), pss_bytes(pid for _, _, memory in v for pid in cgroup_pids(memory)))
    after, dt, m1 = groups(), time.monotonic() - t0, machine_jiffies()
    cpu = {
        k: 100 * sum(cpuacct(d) - c0.get(k, {}).get(key, cpuacct(d)) for key, d, _ in v) / dt for k, v in after.items()
    }
    return cpu, peak, 100 * (m1[0] - m0[0]) / max(1, m1[2] - m0[2])


def cpuacct(d: Path) -> float:
    try:
        return int((d / "cpuacct.usage").read_text()) / 1e9
    except OSError:
        return 0.0


def cgroup_pids(d: Path) -> list[int]:
    pids: list[int] = []
    for procs in d.glob("**/cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(x) for x in procs.read_text().split()]
    return pids


# --- streamops ------------------------------------------------------------------------------------


@dataclass
class Stand:
    cluster: LocalCluster
    tmp: Path
    target: NginxRtmp  # on the LAN: every Restream's (and nginx-rtmp's push) destination
    node: str  # node-1's name: the recorders' (the recordings volume's) and nginx-rtmp's node
    node_ip: str
    node_netns: str
    publishers: dict[int, list[Publisher]] = field(default_factory=dict)  # stream -> every one started

    def stop_publisher(self, i: int) -> None:
        for p in self.publishers.pop(i, []):
            with contextlib.suppress(Exception):
                p.stop()

    def stop_publishers(self) -> None:
        for i in list(self.publishers):
            self.stop_publisher(i)


def objects(i: int, target: NginxRtmp) -> list[dict[str, Any]]:
    name = f"s{i}"
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"key-{name}",
              "labels": {"streaming.streamops.dev/allow-reference": "true"}},
              "stringData": {"streamKey": f"so-{name}"}}  # fmt: skip
    return [
        secret,
        livestream(name, screenshots={"enabled": False}),
        recording(f"r{i}", streamRef={"name": name}, minDurationSeconds=1),
        restream(f"o{i}", streamRef={"name": name}, uri=target.app_url(), streamKeySecretRef={"name": f"key-{name}"}),
    ]


def ingest_port(s: Stand, i: int, port: str) -> int:
    service = s.cluster.get("services", NAMESPACE, f"s{i}-ingest")
    assert service is not None, f"no Service s{i}-ingest"
    return int(next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == port))


def playlist_url(s: Stand, i: int) -> str:
    return f"http://{s.node_ip}:{ingest_port(s, i, 'http')}/streams/{NAMESPACE}/s{i}/hls/ts/index.m3u8"


def start_streams(s: Stand, streams: list[int]) -> None:
    """Streams live from the LAN, recording and restreaming: every object applied at once (their Pods
    start together), then each stream's publisher once its push URL is there."""
    s.cluster.apply(NAMESPACE, *(o for i in streams for o in objects(i, s.target)))
    lan = s.cluster.network.outside
    for i in streams:
        lst = s.cluster.wait_status(
            "lst", NAMESPACE, f"s{i}", lambda o: o["status"]["ingest"]["pushUrl"].startswith(f"rtmp://{s.node_ip}:"),
            "push URL on the LAN", timeout=300,
        )  # fmt: skip
        url = f"{lst['status']['ingest']['pushUrl']}/{s.cluster.stream_key(NAMESPACE, f's{i}')}"
        started = s.publishers.setdefault(i, [])
        s.cluster.publish_from_lan(url, started, make=lambda url=url, i=i, started=started: publisher(  # type: ignore[misc]
            url, lan, s.tmp / f"publisher-s{i}-{len(started)}.log"))  # fmt: skip


def wait_running(s: Stand, streams: range) -> None:
    for i in streams:
        s.cluster.wait_status("lst", NAMESPACE, f"s{i}", lambda o: o["status"].get("live"), "live", 120)
        s.cluster.wait_status("rec", NAMESPACE, f"r{i}", lambda o: o["status"].get("recording"), "recording", 180)
        s.cluster.wait_status("rst", NAMESPACE, f"o{i}", lambda o: o["status"].get("live"), "restream live", 180)


def stop_stream(s: Stand, i: int) -> None:
    s.stop_publisher(i)
    for kind, name in (("rst", f"o{i}"), ("rec", f"r{i}"), ("lst", f"s{i}"), ("secret", f"key-s{i}")):
        s.cluster.kubectl("delete", kind, name, "-n", NAMESPACE, "--ignore-not-found", "--wait=false")


def stream_pods(s: Stand, n: int | None = None) -> list[dict[str, Any]]:
    """The Running Pods of streams 1..n (None: of any stream)."""
    pods = []
    for p in s.cluster.list("pods", NAMESPACE):
        stream = (p["metadata"].get("labels") or {}).get(STREAM_LABEL, "")
        if not stream or p["status"].get("phase") != "Running" or p["metadata"].get("deletionTimestamp"):
            continue
        if n is None or (stream[1:].isdigit() and int(stream[1:]) <= n):
            pods.append(p)
    return pods


def role_cgroups(s: Stand, n: int) -> dict[str, list[tuple[str, Path, Path]]]:
    out: dict[str, list[tuple[str, Path, Path]]] = {r: [] for r in ROLES}
    for p in stream_pods(s, n):
        role = p["metadata"]["labels"].get(COMPONENT, "other")
        with contextlib.suppress(RuntimeError):
            dirs = pod_cgroup_dir(s.cluster, p, CPUACCT), pod_cgroup_dir(s.cluster, p, ("memory",))
            out.setdefault(role, []).append((p["metadata"]["uid"], *dirs))
    return out


def recorded_bytes(s: Stand, n: int) -> dict[int, int]:
    """Bytes of each stream's recording on the recordings volume (the recorder's directory per
    Recording, <namespace>/r<i>-<hash>: the videos and the parts being written)."""
    root = s.cluster.dir / "recordings" / NAMESPACE
    out = dict.fromkeys(range(1, n + 1), 0)
    for f in root.rglob("*"):
        with contextlib.suppress(OSError):
            if f.is_file():
                for part in f.relative_to(root).parts[:-1]:
                    if (m := RECORDING_DIR.fullmatch(part)) and int(m[1]) in out:
                        out[int(m[1])] += f.stat().st_size
    return out


def streamops_step(s: Stand, n: int, running: list[int], args: argparse.Namespace) -> Step:
    """Scale to n streams (adding or removing the highest), settle, measure one window."""
    new = list(range(len(running) + 1, n + 1))
    running += new  # before they start: a failed start's streams are removed with the others
    while len(running) > n:
        stop_stream(s, running.pop())
    try:
        if new:
            start_streams(s, new)
        wait_running(s, range(1, n + 1))
        eventually(lambda: len(stream_pods(s)) == len(stream_pods(s, n)), 180, 2, "the removed streams' Pods gone")
    except (AssertionError, subprocess.SubprocessError) as e:
        # The cluster did not get them all running in time, or its API server could not take the step's
        # objects (kubectl timed out at load 25 at N = 32, 2026-11-29): this N did not hold.
        return unready("streamops", n, e)
    urls = {f"s{i}": playlist_url(s, i) for i in running}
    return measured("streamops", n, s, urls, args, role_cgroups=lambda: role_cgroups(s, n))


def measured(
    side: str,
    n: int,
    s: Stand,
    urls: dict[str, str],
    args: argparse.Namespace,
    *,
    role_cgroups: Callable[[], dict[str, list[tuple[str, Path, Path]]]] | None = None,
    nginx: NginxRecordPush | None = None,
) -> Step:
    load = loadavg()
    with watching(urls, s.cluster.network.outside) as watch:
        time.sleep(args.settle)
        since, client0 = time.monotonic(), watch.cpu_seconds
        bytes0 = recorded_bytes(s, n) if nginx is None else nginx.recorded_bytes(n)
        if role_cgroups is not None:
            cpu, pss, busy = window_usage(role_cgroups, args.window)
        else:
            assert nginx is not None
            cpu, pss, busy = nginx_usage(nginx, args.window)
        until = time.monotonic()
        verdicts = watch.verdicts(since, until)
        client = 100 * (watch.cpu_seconds - client0) / (until - since)
    bytes1 = recorded_bytes(s, n) if nginx is None else nginx.recorded_bytes(n)
    growing = sum(1 for i in range(1, n + 1) if bytes1.get(i, 0) > bytes0.get(i, 0))
    if nginx is None:
        live_at_target = len({f"so-s{i}" for i in range(1, n + 1)} & s.target.publishing())
        streams = [o for o in s.cluster.list("lst", NAMESPACE) if o["metadata"]["name"] in urls]
        reported = [float((o.get("status") or {}).get("transcodingSpeed") or 0) for o in streams]
        pods = {role: len(v) for role, v in (role_cgroups() if role_cgroups else {}).items()}
        restarts = sum(
            int(c.get("restartCount", 0)) for p in stream_pods(s, n) for c in p["status"].get("containerStatuses") or []
        )
    else:
        live_at_target = len({f"s{i}" for i in range(1, n + 1)} & s.target.publishing())
        reported, pods, restarts = [], {}, 0
    step = Step(
        side, n, verdicts,
        cpu={k: v / n for k, v in cpu.items()}, pss={k: v / n for k, v in pss.items()}, pods=pods,
        restreams_live=live_at_target, recordings_growing=growing, reported_speed=reported, busy=busy,
        load=f"{load} → {loadavg()}", restarts=restarts, client=client,
        node_pods={node.name: len(s.cluster.pods_on(node.name)) for node in s.cluster.nodes},
    )  # fmt: skip
    print(
        f"{side} N={n}: {'held' if step.held else 'FAILED'}; min speed {step.min_speed:.3f}, missed {step.missed}, "
        f"restreams at the target {live_at_target}/{n}, recordings growing {growing}/{n}, "
        f"cpu/stream {', '.join(f'{k} {v:.1f} %' for k, v in step.cpu.items())}, machine {busy:.0f} %, "
        f"load {step.load}",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    return step


# --- nginx-rtmp -------------------------------------------------------------------------------------


class NginxRecordPush(NginxRtmp):
    """nginx-rtmp's application doing the streamops stream's jobs: `record all` (FLV, one file per
    publish), `hls on` and `push` to the target (NginxRtmp's configuration with record on)."""

    def __init__(self, *, record_dir: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self.record_dir = record_dir

    def config(self) -> str:
        self.record_dir.mkdir(parents=True, exist_ok=True)
        record = f"record all;\n            record_path {self.record_dir};\n            record_unique on;"
        return super().config().replace("record off;", record, 1)

    def recorded_bytes(self, n: int) -> dict[int, int]:
        return {i: sum(f.stat().st_size for f in self.record_dir.glob(f"s{i}-*.flv")) for i in range(1, n + 1)}


def nginx_usage(nginx: NginxRtmp, seconds: float) -> tuple[dict[str, float], dict[str, int], float]:
    assert nginx.pid is not None
    c0, m0, t0 = cpu_seconds(proc_tree(nginx.pid)), machine_jiffies(), time.monotonic()
    peak = 0
    for _ in range(3):
        time.sleep(seconds / 3)
        peak = max(peak, pss_bytes(proc_tree(nginx.pid)))
    dt, m1 = time.monotonic() - t0, machine_jiffies()
    cpu = 100 * (cpu_seconds(proc_tree(nginx.pid)) - c0) / dt
    return {"nginx": cpu}, {"nginx": peak}, 100 * (m1[0] - m0[0]) / max(1, m1[2] - m0[2])


def nginx_step(s: Stand, nginx: NginxRecordPush, n: int, running: list[int], args: argparse.Namespace) -> Step:
    for i in range(len(running), n):
        url = nginx.rtmp_url(name=f"s{i + 1}")
        started = s.publishers.setdefault(i + 1, [])
        started.append(publisher(url, s.cluster.network.outside, s.tmp / f"nginx-publisher-s{i + 1}.log").start())
        running.append(i + 1)
    while len(running) > n:
        s.stop_publisher(running.pop())
    want = {f"s{i}" for i in running}
    try:
        eventually(lambda: want <= nginx.publishing() and want <= s.target.publishing(), 60, 1, "publishing, pushed")
    except AssertionError as e:
        return unready("nginx-rtmp", n, e)
    urls = {f"s{i}": f"http://{s.node_ip}:{nginx.http_port}/hls/s{i}.m3u8" for i in running}
    return measured("nginx-rtmp", n, s, urls, args, nginx=nginx)


# --- the run ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def stand(tmp: Path) -> Iterator[Stand]:
    """The cluster, the release, the namespace with its recordings volume on node-1, the LAN target;
    all stopped on the way out (publishers and nginx by PID, the cluster by its teardown)."""
    cluster = LocalCluster(tmp / "cluster", nodes=2, ingress_controller=False, overlay=False)
    target: NginxRtmp | None = None
    s: Stand | None = None
    try:
        began = time.monotonic()
        cluster.start()
        Release(cluster).install()
        print(f"cluster and release up in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
        cluster.kubectl("create", "namespace", NAMESPACE)
        node = cluster.network.nodes[0]
        cluster.recordings_volume(NAMESPACE, cluster.nodes[0].name)
        target = NginxRtmp(workdir=tmp / "target", address=OUTSIDE_IP, netns=cluster.network.outside).start()
        s = Stand(cluster, tmp, target, cluster.nodes[0].name, node.ip, node.netns)
        yield s
    finally:
        if s is not None:
            s.stop_publishers()
        if target is not None:
            with contextlib.suppress(Exception):
                target.stop()
        left = cluster.stop()
        for n in cluster.nodes:
            with contextlib.suppress(Exception):
                n.stop(purge=True)
        if left:
            print(f"left behind by the cluster: {left}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, tmp: Path, steps: list[Step]) -> tuple[int, int]:
    """Both searches, each step appended to `steps` as it ends; (N streamops, N nginx-rtmp)."""
    with stand(tmp) as s:
        running: list[int] = []

        def held_streamops(n: int) -> bool:
            steps.append(streamops_step(s, n, running, args))
            return steps[-1].held

        ours = search(held_streamops, args.steps, args.most, args.resolution)
        while running:
            stop_stream(s, running.pop())
        eventually(lambda: not stream_pods(s), 300, 2, "every stream's Pods gone")  # nginx-rtmp gets the cores
        with NginxRecordPush(record_dir=tmp / "nginx-recordings", workdir=tmp / "nginx", hls=True,
                             push=s.target.app_url(), address=s.node_ip, netns=s.node_netns) as nginx:  # fmt: skip

            def held_nginx(n: int) -> bool:
                steps.append(nginx_step(s, nginx, n, running, args))
                return steps[-1].held

            theirs = search(held_nginx, args.steps, args.most, args.resolution)
            s.stop_publishers()
    return ours, theirs


def largest_held(steps: list[Step], side: str) -> int:
    return max((r.n for r in steps if r.side == side and r.held), default=0)


# --- the report -------------------------------------------------------------------------------------


def mib(x: float) -> str:
    return f"{x / MIB:.1f}"


def row(r: Step) -> list[str]:
    if r.failure:
        return [r.side, str(r.n), "❌", *["—"] * (len(HEADER) - 5), r.load, r.why]
    roles = ROLES if r.side == "streamops" else ("nginx",)
    cpu_total, pss_total = sum(r.cpu.values()), sum(r.pss.values())
    pods = sum(r.pods.values())
    speed = "—" if not r.reported_speed else f"{min(r.reported_speed):.2f}–{max(r.reported_speed):.2f}"
    return [
        r.side, str(r.n), "✅" if r.held else "❌", f"{r.min_speed:.3f}", speed, str(r.missed),
        f"{r.restreams_live}/{r.n}", f"{r.recordings_growing}/{r.n}",
        " / ".join(f"{r.cpu.get(k, 0):.1f}" for k in roles) + f" = {cpu_total:.1f} %",
        " / ".join(mib(r.pss.get(k, 0)) for k in roles) + f" = {mib(pss_total)} MiB",
        "—" if r.side != "streamops" else f"{pods / r.n:.1f} ({', '.join(f'{k} {v}' for k, v in r.pods.items() if v)})",
        str(r.restarts) if r.side == "streamops" else "—", " / ".join(str(v) for v in r.node_pods.values()),
        f"{r.busy:.0f} % ({r.client:.1f} %)", r.load, r.why or "—",
    ]  # fmt: skip


HEADER = [
    "server", "N", "held", "HLS speed (slowest stream)", "status.transcodingSpeed (min–max)", "segments missed",
    "restreams at the target", "recordings growing",
    "CPU per stream, % of a core (ingest / recorder / pusher; nginx: all)", "PSS per stream (same roles)",
    "Pods per stream", "container restarts", "Pods on node-1 / node-2 (all)",
    "machine busy (2 cores; the light client's CPU)", "load before → after", "why not held",
]  # fmt: skip


def cost_bullet(steps: list[Step]) -> list[str]:
    """Per-stream cost side by side at the largest N that held on both sides."""
    held = {side: {r.n: r for r in steps if r.held and r.side == side} for side in ("streamops", "nginx-rtmp")}
    both = held["streamops"].keys() & held["nginx-rtmp"].keys()
    if not both:
        return []
    n = max(both)
    ours, theirs = held["streamops"][n], held["nginx-rtmp"][n]
    cpu, pss = sum(ours.cpu.values()), sum(ours.pss.values())
    cpu_n, pss_n = sum(theirs.cpu.values()), sum(theirs.pss.values())
    return [
        f"- Per stream at N = {n} (both held): CPU {cpu:.1f} % vs {cpu_n:.1f} % of a core "
        f"({cpu / cpu_n if cpu_n else float('nan'):.1f}×), PSS {mib(pss)} vs {mib(pss_n)} MiB "
        f"({pss / pss_n if pss_n else float('nan'):.0f}×), {sum(ours.pods.values()) / n:.1f} Pods per stream."
    ]


def report(
    steps: list[Step], ours: int, theirs: int, args: argparse.Namespace, load_before: str, minutes: float
) -> str:
    ratio = ours / theirs if theirs else float("nan")
    return "\n".join(
        [
            "# Stream density on the 2-node cluster: streamops vs nginx-rtmp",
            "",
            f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {commit()}, `python -m bench.density "
            f"{' '.join(sys.argv[1:])}`; /proc/loadavg before: {load_before}, after: {loadavg()}; nice "
            f"{os.getpriority(os.PRIO_PROCESS, 0)}; {os.cpu_count()} CPUs; the run took {minutes:.0f} min. A new "
            "bench: no before/after (issue 53 asks for N against nginx-rtmp's in the same run).",
            "",
            "Each stream: one RTMP publisher on the cluster's LAN (testsrc2 640x360 30 fps, x264 800 kbit/s + AAC "
            "128 kbit/s, encoded once, looped with -c copy), recorded, restreamed to one nginx-rtmp on the LAN, its "
            "HLS read once a second by a light client on the LAN. streamops: the chart's release on the 2-node "
            "pod-network cluster (devtools.cluster.local_cluster), a LiveStream (screenshots off, standard HLS), a "
            "Recording to the recordings claim (a local volume on node-1) and a Restream per stream. nginx-rtmp: one "
            "nginx (1 worker) in node-1's network namespace with `record all`, `hls on` (2 s fragments) and `push` "
            "to the same target, the same publishers. Every process shares this machine's cores: the publishers "
            "(≈1 % of a core each) and the light client are on both sides' bill alike.",
            "",
            f"A step holds when over {args.window:.0f} s (after {args.settle:.0f} s settling) every stream's HLS "
            f"output kept up (media seconds per wall second ≥ {SPEED}, the slope through every new segment's first "
            "sighting), no segment was missed (a sequence gap, a discontinuity, a segment > 1.5 × the target "
            "duration), every Restream was publishing at the target and every recording grew. Steps: "
            f"{args.steps} (up to {args.most}, bisected to {args.resolution}).",
            "",
            f"- **N (streamops) = {ours}, N (nginx-rtmp) = {theirs}: {ratio:.2f}×** (target ≥ 0.5×) "
            f"{'✅' if ratio >= 0.5 else '❌'}.",
            *cost_bullet(steps),
            "",
            *markdown_table(HEADER, [row(r) for r in steps]),
            "",
            "CPU from the Pods' cgroups (cpuacct.usage) over the window, PSS the largest of 3 samples of smaps_rollup "
            "over every process in each Pod's memory cgroup, divided by N; nginx-rtmp's from its process tree. "
            "Pods per stream: the Running Pods labelled with the stream, by app.kubernetes.io/component.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="doubling", help='"doubling" (then bisecting) or a list: "1,2"')
    parser.add_argument("--most", type=int, default=128, help="the largest N tried")
    parser.add_argument("--resolution", type=int, default=2, help="bisect until pass and fail are this close")
    parser.add_argument("--window", type=float, default=60, help="seconds measured per step")
    parser.add_argument("--settle", type=float, default=15, help="seconds after the step's streams run")
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args()
    load_before, began = loadavg(), time.monotonic()
    steps: list[Step] = []
    try:
        with tempfile.TemporaryDirectory(prefix="streamops-density-") as d:
            ours, theirs = run(args, Path(d), steps)
    except Exception as e:  # the steps measured so far are still written, saying why the run stopped
        if steps:
            text = report(steps, largest_held(steps, "streamops"), largest_held(steps, "nginx-rtmp"), args,
                          load_before, (time.monotonic() - began) / 60)  # fmt: skip
            stopped = f"**The run stopped early** ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]})."
            write_report(args.output, text.replace("\n\n", f"\n\n{stopped}\n\n", 1))
            print(f"-> {args.output} (partial)", file=sys.stderr)
        raise
    write_report(args.output, report(steps, ours, theirs, args, load_before, (time.monotonic() - began) / 60))
    print(f"-> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
