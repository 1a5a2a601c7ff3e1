#!/usr/bin/env python3
"""End-to-end figures on the real local node (devtools.cluster.stack) and on the multi-node pod-network
cluster (devtools.cluster.local_cluster, streamops installed with the chart) -> bench/results/e2e.md.

    .venv/bin/python -m bench.e2e [--runs N] [--out bench/results/e2e.md]   (make bench-e2e)

Measures, with worker Pods really run by the kubelets, once per site — host network on 127.0.0.1
(one node, operator as a host process), and the pod network (two nodes, operator in a Pod, workers
behind NodePort Services, the publisher and the viewer on the cluster's LAN):
- the site's start with empty image stores (images imported) and with the images already there;
- LiveStream apply -> ingest Pod Running -> worker listening;
- RTMP publish -> status.live true; publish -> first HLS (CMAF) segment served over HTTP;
- Recording apply (stream live, claim bound) -> first bytes on the recordings volume, split into
  apply -> recorder Pod Running and Running -> first bytes; and the same when the stream keeps a
  warm recorder (recording.standby) that the Recording adopts;
- an HLS glass-to-glass estimate from when segments appear vs. their media end time.
Everything it starts is stopped by PID at the end (pass or fail).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.catalog import livestream, recording
from devtools.cluster.kubectl import Kubectl, condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.cluster.stack import Stack
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.versions import REPO
from devtools.waits import eventually

PORT_RANGE = "31900-31999"


@dataclass
class Site:
    """Where a run happens: the cluster's kubectl, how a namespace gets its recordings volume, how
    a viewer fetches, where the publisher runs."""

    name: str
    kube: Kubectl
    create_namespace: Callable[[str], Path]
    delete_namespace: Callable[[str], None]
    get: Callable[[str], tuple[int, bytes]]
    publisher_netns: str | None = None


def playlist_segments(url: str, get: Callable[[str], tuple[int, bytes]] = http_get) -> list[tuple[str, float]]:
    """(uri, EXTINF seconds) of a media playlist, following a master playlist's first variant."""
    status, body = get(url)
    if status != 200:
        return []
    text = body.decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any(ln.startswith("#EXT-X-STREAM-INF") for ln in lines):
        variant = next(ln for ln in lines if not ln.startswith("#"))
        return playlist_segments(url.rsplit("/", 1)[0] + "/" + variant, get)
    out, dur = [], 0.0
    for ln in lines:
        if ln.startswith("#EXTINF:"):
            dur = float(ln[8:].split(",")[0])
        elif not ln.startswith("#"):
            out.append((ln, dur))
    return out


def one_run(site: Site, figures: dict[str, list[float]]) -> None:
    stack = site.kube

    def add(name: str, value: float) -> None:
        figures.setdefault(f"{name} [{site.name}]", []).append(value)

    ns = f"bench-{uuid.uuid4().hex[:6]}"
    volume = site.create_namespace(ns)
    publisher: Publisher | None = None
    try:
        applied = time.monotonic()
        stack.apply(ns, livestream("cam", screenshots={"enabled": False}))
        eventually(lambda: stack.pod_running(ns, "cam-ingest"), timeout=60, what="ingest Running")
        add("LiveStream apply -> ingest Pod Running", time.monotonic() - applied)
        s = stack.wait_status("lst", ns, "cam", lambda o: o["status"]["playback"]["hlsCmafUrl"], "playback")
        hls = s["status"]["playback"]["hlsCmafUrl"]
        base = hls.split("/hls/")[0]
        eventually(lambda: site.get(f"{base}/healthz")[0] == 200, timeout=30, what="worker up")
        add("LiveStream apply -> ingest worker listening", time.monotonic() - applied)

        url = f"{s['status']['ingest']['pushUrl']}/{stack.stream_key(ns, 'cam')}"
        published = time.monotonic()
        publisher = Publisher(url, size="640x360", rate=30, netns=site.publisher_netns).start()
        seen: dict[str, float] = {}
        media_end: dict[str, float] = {}
        live_at = None
        deadline = published + 30
        while time.monotonic() < deadline and (live_at is None or len(seen) < 6):
            now = time.monotonic()
            if live_at is None:
                obj = stack.get("lst", ns, "cam")
                if obj and obj.get("status", {}).get("live"):
                    live_at = now
            total = 0.0
            for uri, dur in playlist_segments(hls, site.get):
                total += dur
                if uri not in seen:
                    seen[uri], media_end[uri] = now, total
            time.sleep(0.05)
        assert live_at is not None and seen, "stream never went live / no segments"
        add("RTMP publish -> status.live", live_at - published)
        first = min(seen.values())
        add("RTMP publish -> first HLS segment listed", first - published)
        # Wall time a segment appears minus the wall time its last frame was captured (publisher
        # start + media end time): an upper bound on packaging delay (includes ffmpeg's startup).
        delays = [seen[u] - (published + media_end[u]) for u in seen]
        add("HLS segment availability delay (upper bound)", statistics.median(delays))
        target = max(d for _, d in playlist_segments(hls, site.get)) or 2.0
        add("HLS target duration", target)

        applied = time.monotonic()
        stack.apply(ns, recording("rec", minDurationSeconds=1))
        eventually(lambda: stack.pod_running(ns, "rec-recorder"), timeout=60, interval=0.02, what="recorder")
        running = time.monotonic()
        eventually(
            lambda: any(p.is_file() and p.stat().st_size > 0 and p.suffix != ".json" for p in volume.rglob("*")),
            timeout=30,
            interval=0.02,
            what="first recorded bytes",
        )
        done = time.monotonic()
        add("Recording apply -> recorder Pod Running", running - applied)
        add("recorder Pod Running -> first bytes on disk", done - running)
        add("Recording apply -> first bytes on disk", done - applied)

        # The same with the stream's warm recorder (recording.standby): a second stream, its own
        # publisher; the Recording adopts the running standby instead of starting a Pod.
        stack.apply(ns, livestream("warm", screenshots={"enabled": False}, recording={"standby": True}))
        eventually(lambda: stack.pod_running(ns, "warm-recorder-1"), timeout=60, what="standby Running")
        w = stack.wait_status("lst", ns, "warm", lambda o: o["status"]["playback"]["hlsCmafUrl"], "warm playback")
        eventually(lambda: stack.pod_running(ns, "warm-ingest"), timeout=60, what="warm ingest Running")
        warm_base = w["status"]["playback"]["hlsCmafUrl"].split("/hls/")[0]
        eventually(lambda: site.get(f"{warm_base}/healthz")[0] == 200, timeout=30, what="warm ingest up")
        warm_url = f"{w['status']['ingest']['pushUrl']}/{stack.stream_key(ns, 'warm')}"
        warm_publisher = Publisher(warm_url, size="640x360", rate=30, netns=site.publisher_netns).start()
        try:
            stack.wait_status("lst", ns, "warm", lambda o: o["status"].get("live"), "warm live", 30)
            eventually(lambda: pod_ready(stack, ns, "warm-recorder-1"), timeout=30, what="standby Ready")
            applied = time.monotonic()
            stack.apply(ns, recording("fast", streamRef={"name": "warm"}, minDurationSeconds=1))
            eventually(
                lambda: any(p.is_file() and p.stat().st_size > 0 and p.suffix != ".json"
                            for p in volume.glob(f"{ns}/fast-*/**/*")),
                timeout=30,
                interval=0.02,
                what="first recorded bytes (warm)",
            )  # fmt: skip
            add("Recording apply -> first bytes on disk, warm recorder (recording.standby)", time.monotonic() - applied)
        finally:
            warm_publisher.stop()
    finally:
        if publisher is not None:
            publisher.stop()
        site.delete_namespace(ns)


def pod_ready(kube: Kubectl, ns: str, name: str) -> bool:
    """The kubelet's readiness probe says so (a standby recorder: ready to take a recording)."""
    return ((condition(kube.get("pods", ns, name), "Ready") or {}).get("status")) == "True"


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def host_network_site(tmp: Path, figures: dict[str, list[float]], runs: int) -> None:
    stack = Stack(tmp / "host", PORT_RANGE)
    try:
        began = time.monotonic()
        stack.start()
        figures["stack start, empty image store (control plane + node + operator) [host network]"] = [
            time.monotonic() - began
        ]
        stack.stop()
        began = time.monotonic()
        stack.start()
        figures["stack start, images already in the store [host network]"] = [time.monotonic() - began]
        for name, values in stack.timings.values.items():
            figures[f"{name} [{len(values)} starts: cold, warm]"] = values
        site = Site("host network", stack, stack.create_namespace, stack.delete_namespace, http_get)
        for i in range(runs):
            print(f"host network: run {i + 1}/{runs}", file=sys.stderr)
            one_run(site, figures)
    finally:
        left = stack.stop(purge=True)
        if left:
            print(f"left behind: {left}", file=sys.stderr)


def pod_network_site(tmp: Path, figures: dict[str, list[float]], runs: int) -> None:
    cluster = LocalCluster(tmp / "multinode", nodes=2)
    try:
        for start in ("empty image stores", "images already in the stores"):
            began = time.monotonic()
            cluster.start()
            figures[f"cluster start, 2 nodes, {start} [pod network]"] = [time.monotonic() - began]
            for step, seconds in cluster.timings.items():
                figures.setdefault(f"cluster start: {step} [cold, warm]", []).append(seconds)
            if start == "empty image stores":
                cluster.stop()
        release = Release(cluster).install()
        figures["helm install -> operator Pod available [pod network]"] = [release.install_seconds]

        def create_namespace(ns: str) -> Path:
            cluster.kubectl("create", "namespace", ns)
            return cluster.recordings_volume(ns, "node-1")

        def delete_namespace(ns: str) -> None:
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
            cluster.kubectl("delete", "pv", f"recordings-{ns}", "--wait=false", check=False)

        site = Site(
            "pod network", cluster, create_namespace, delete_namespace, cluster.lan_get, cluster.network.outside
        )
        for i in range(runs):
            print(f"pod network: run {i + 1}/{runs}", file=sys.stderr)
            one_run(site, figures)
    finally:
        left = cluster.stop()
        for node in cluster.nodes:
            node.stop(purge=True)
        if left:
            print(f"left behind: {left}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sites", default="host,pod", help="comma-separated: host (network), pod (network)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/e2e.md")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="streamops-bench-e2e-") as tmp:
        if "host" in args.sites:
            host_network_site(Path(tmp), figures, args.runs)
        if "pod" in args.sites:
            pod_network_site(Path(tmp), figures, args.runs)
    targets = [v for k in list(figures) if k.startswith("HLS target duration") for v in figures.pop(k)]
    target = statistics.median(targets)
    delays = [v for k, vs in figures.items() if k.startswith("HLS segment availability delay") for v in vs]
    delay = statistics.median(delays)
    lines = [f"| {name} | {fmt(v)} |" for name, v in figures.items()]
    lines.append(f"| glass-to-glass estimate, player 3 segments behind the edge (hls.js default): 3 x {target:g} s + "
                 f"delay | {3 * target + delay:.2f} |")  # fmt: skip
    lines.append(f"| glass-to-glass estimate, player 1 segment behind the edge | {target + delay:.2f} |")
    table = "\n".join(["| figure (seconds) | median (min, max) |", "|---|---|", *lines])
    print(table)
    args.out.with_suffix(".table.tmp").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
