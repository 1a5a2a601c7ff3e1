"""Row `cluster` of bench/playback.py (`--rows cluster`): issue 27's target on the 2-node pod-network
cluster — 1,000 LL-HLS viewers of one stream through the edge tier, the ingest's request rate counted,
and the edge's CPU against static nginx at the same viewer count, in one run.

The stand: devtools.cluster.local_cluster (2 nodes, kube-proxy, CoreDNS, Traefik, metrics-server),
streamops installed with the chart and `edge.enabled: true` (the chart's HorizontalPodAutoscaler as it
ships: 2 to 10 replicas, 70 % of the 100m CPU request; devtools.cluster.edge_replicas logs its replicas
over the whole run, and the idle edge's utilization is read before the first viewer), one public
LL-HLS LiveStream (200 ms parts, 2 s segments, screenshots off) with an Ingress of class traefik,
fed over RTMP from the cluster's LAN with a 360p clip
(devtools.media.peers.Publisher: testsrc2 640x360 30 fps, x264 800 kbit/s + AAC 128 kbit/s,
encoded once and looped with -c copy). The edge Service is patched to NodePort for the bench (the
operator creates it when missing and leaves an existing one alone: checked at the end), and Debian's
nginx (the edge image's nginx-light, with a static configuration like devtools.media.nginx_static's)
runs as 2 Pods serving the ingest's ts/ files through a hostPath of its emptyDir (the nodes of this
cluster share the machine's disk), behind a NodePort Service.

Steps, each hlsload (on the LAN, through devtools.netns) joining over --edge-ramp and measured over
--window - 2 s:
- one LL-HLS viewer straight to the ingest's http nodePort: the single-viewer request rate;
- --cluster-steps LL-HLS viewers straight to the edge Service's NodePort (all of them: the target
  needs the largest), then the same through Traefik's NodePort (stopping at the first failing step);
- the largest count of standard HLS viewers through the edge, and of the static nginx Pods.

Per step: delivery and lag (hlsload), the edge's ready replicas, the Pods' CPU from their pod cgroups'
cpuacct.usage and their working set (memory cgroup: usage − inactive file) on the host, the ingest's
streamops_playback_requests_total by via (read from its internal /metrics inside its Pod), the machine's
busy and softirq %, and the processes that used the most CPU over the window (/proc, by command name).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.catalog import livestream
from devtools.cluster import in_pod
from devtools.cluster.addons import TRAEFIK_NAMESPACE
from devtools.cluster.controlplane import HPA_DOWNSCALE_STABILIZATION_SECONDS, HPA_SYNC_SECONDS
from devtools.cluster.edge_replicas import ReplicaLog
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.metrics_server import MetricsServer
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.processes import stat_fields
from devtools.waits import eventually
from prometheus_client.parser import text_string_to_metric_families
from streamops.contract.edge import EDGE_NAME

from bench.playback_traffic import MIB, hlsload
from bench.report_file import commit, loadavg, markdown_table

NAMESPACE, STREAM = "bench", "cam"
HEADING = "## On the 2-node cluster"  # its section of bench/results/playback.md
REPLICAS = 2  # the chart's edge.replicas: the autoscaler's minimum; the static nginx Pods
IDLE_SECONDS = 45  # the stream live, no viewer: the HPA's utilization read over three metrics-server scrapes
STATIC = "static-nginx"
CGROUP_FS = Path("/sys/fs/cgroup")
CPUACCT = ("cpuacct", "cpu,cpuacct")  # where cgroup v1 mounts the cpuacct controller, alone or with cpu
CLK_TCK = os.sysconf("SC_CLK_TCK")
GROUPS = ("edge", "static", "ingest", "traefik")  # the Pods whose cgroups are read


# --- the stand ------------------------------------------------------------------------------------


@dataclass
class PodCgroups:
    """A group of Pods' cgroup directories (cpuacct, memory) on this host."""

    names: list[str]
    nodes: list[str]
    cpu: list[Path]
    memory: list[Path]
    namespace: str
    selector: str
    name: str = ""

    def refreshed(self, cluster: LocalCluster) -> PodCgroups:
        """The same group's Pods now (the edge's come and go with its autoscaler)."""
        return pod_cgroups(cluster, self.namespace, self.selector, self.name)

    def restarts(self, cluster: LocalCluster) -> int:
        """Container restarts of these Pods so far (an OOM kill or a failed liveness probe shows here)."""
        pods = [p for p in cluster.list("pods", self.namespace, self.selector) if p["metadata"]["name"] in self.names]
        return sum(int(c.get("restartCount", 0)) for p in pods for c in p["status"].get("containerStatuses") or [])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far by Pod (a Pod gone since the listing is left out)."""
        out: dict[str, float] = {}
        for name, d in zip(self.names, self.cpu, strict=True):
            with contextlib.suppress(OSError):
                out[name] = int((d / "cpuacct.usage").read_text()) / 1e9
        return out

    def working_set(self) -> int:
        """What the kubelet calls the working set: usage − inactive file pages, summed over the Pods."""
        total = 0
        for d in self.memory:
            with contextlib.suppress(OSError):
                stat = dict(line.split() for line in (d / "memory.stat").read_text().splitlines())
                total += int((d / "memory.usage_in_bytes").read_text()) - int(stat.get("total_inactive_file", 0))
        return total


@dataclass
class Stand:
    cluster: LocalCluster
    urls: dict[str, str]  # path -> LL-HLS (or HLS: "*-hls") playlist URL as the LAN reaches it
    pods: dict[str, PodCgroups]
    placement: str
    edge_workers: str
    replicas: ReplicaLog
    idle_cpu_percent: list[int]  # the HPA's edge utilization with the stream live and no viewer


def pod_cgroup_dir(cluster: LocalCluster, pod: dict[str, Any], controllers: tuple[str, ...]) -> Path:
    """The Pod's cgroup directory in the first v1 hierarchy of `controllers` mounted here (the kubelet,
    cgroupfs driver, puts it at <node's cgroup root>/kubepods[/<qos>]/pod<uid>)."""
    root = cluster.node(pod["spec"]["nodeName"]).cgroup_root.lstrip("/")
    uid = pod["metadata"]["uid"]
    for controller in controllers:
        found = sorted((CGROUP_FS / controller / root).glob(f"kubepods*/**/pod{uid}"))
        if found:
            return found[0]
    raise RuntimeError(f"no cgroup v1 {'/'.join(controllers)} directory for pod {pod['metadata']['name']} ({uid})")


def pod_cgroups(cluster: LocalCluster, namespace: str, selector: str = "", name: str = "") -> PodCgroups:
    """The running Pods of `namespace` (by label `selector`, and/or exactly `name`). A Pod being
    deleted, or whose cgroups are not there (yet, or any more), is left out: the autoscaler's come
    and go while the bench reads them."""
    out = PodCgroups([], [], [], [], namespace, selector, name)
    for p in cluster.list("pods", namespace, selector):
        if p["status"].get("phase") != "Running" or p["metadata"].get("deletionTimestamp"):
            continue
        if name and p["metadata"]["name"] != name:
            continue
        try:
            cpu, memory = pod_cgroup_dir(cluster, p, CPUACCT), pod_cgroup_dir(cluster, p, ("memory",))
        except RuntimeError:
            continue
        out.names.append(p["metadata"]["name"])
        out.nodes.append(p["spec"]["nodeName"])
        out.cpu.append(cpu)
        out.memory.append(memory)
    if not out.names:
        raise RuntimeError(f"no running Pod in {namespace} ({selector or name or 'any'})")
    return out


def node_port(cluster: LocalCluster, name: str, port: str = "http") -> int:
    service = cluster.get("services", NAMESPACE, name)
    assert service is not None, f"no Service {name}"
    return int(next(p["nodePort"] for p in service["spec"]["ports"] if p["name"] == port))


def lan_ok(cluster: LocalCluster, url: str) -> bool:
    status, body = cluster.lan_get(url)
    return status == 200 and body.startswith(b"#EXTM3U")


STATIC_CONF = r"""worker_processes auto;
pid /tmp/nginx.pid;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4; video/iso.segment m4s; }
    server {
        listen 8080 backlog=4096;
        root /media;
        location ~ \.m3u8$ { add_header Cache-Control no-cache; }
    }
}
"""


def static_nginx(image: str, media: Path) -> list[dict[str, Any]]:
    """Debian's nginx (the edge image's nginx-light, its own static configuration: the settings of
    devtools.media.nginx_static, worker_processes auto like the edge) serving `media` (the ingest
    Pod's emptyDir on this host) from 2 Pods spread over the nodes, behind a NodePort Service."""
    labels = {"app": STATIC}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532},
            "containers": [{
                "name": "nginx", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["nginx", "-e", "/tmp/error.log", "-c", "/etc/static-nginx/nginx.conf", "-g", "daemon off;"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 2},
                "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
                "volumeMounts": [{"name": "conf", "mountPath": "/etc/static-nginx"},
                                 {"name": "tmp", "mountPath": "/tmp"},
                                 {"name": "media", "mountPath": "/media", "readOnly": True}],
            }],
            "volumes": [{"name": "conf", "configMap": {"name": STATIC}},
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "media", "hostPath": {"path": str(media), "type": "Directory"}}],
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": labels}}],
        },
    }  # fmt: skip
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": STATIC}, "data": {"nginx.conf": STATIC_CONF}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": STATIC},
         "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels}, "template": pod}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": STATIC},
         "spec": {"type": "NodePort", "selector": labels,
                  "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]}},
    ]  # fmt: skip


@contextlib.contextmanager
def stand(tmp: Path) -> Iterator[Stand]:
    """The cluster, the release, the stream live from the LAN, the edge Ready and reachable three
    ways, the static nginx Pods; everything stopped on the way out (the encoder by PID, the cluster
    by its teardown, which must leave nothing behind), whatever happened."""
    cluster = LocalCluster(tmp / "cluster", nodes=2)
    encoders: list[Publisher] = []
    try:
        began = time.monotonic()
        cluster.start()
        metrics_server = MetricsServer(cluster)
        metrics_server.start()  # comes up while the release does
        Release(cluster, {"edge": {"enabled": True, "replicas": REPLICAS}}).install()
        print(f"cluster and release up in {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
        cluster.kubectl("create", "namespace", NAMESPACE)
        spec = {"hls": {"latencyMode": "low"}, "screenshots": {"enabled": False},
                "playback": {"ingress": {"className": "traefik"}}}  # fmt: skip
        cluster.apply(NAMESPACE, livestream(STREAM, **spec))
        node1 = cluster.network.nodes[0].ip
        stream = cluster.wait_status(
            "lst", NAMESPACE, STREAM,
            lambda o: o["status"]["ingest"]["pushUrl"].startswith(f"rtmp://{node1}:")
            and (condition(o, "Ready") or {}).get("status") == "True",
            "Ready with push URLs on the LAN", timeout=180,
        )  # fmt: skip
        url = f"{stream['status']['ingest']['pushUrl']}/{cluster.stream_key(NAMESPACE, STREAM)}"
        attempts = itertools.count()
        cluster.publish_from_lan(url, encoders, make=lambda: Publisher(
            url, size="640x360", video_bitrate="800k", netns=cluster.network.outside,
            log_path=tmp / f"publisher-{next(attempts)}.log",
        ))  # fmt: skip
        cluster.wait_status("lst", NAMESPACE, STREAM, lambda o: o["status"].get("live"), "status.live", 60)
        cluster.wait_status(
            "deployments", NAMESPACE, EDGE_NAME,
            lambda o: (o.get("status") or {}).get("readyReplicas", 0) >= REPLICAS, f"{REPLICAS} edge replicas Ready",
            timeout=180,
        )  # fmt: skip
        cluster.kubectl("-n", NAMESPACE, "patch", "service", EDGE_NAME, "--type", "merge",
                        "-p", json.dumps({"spec": {"type": "NodePort"}}))  # fmt: skip
        ingest_pod = cluster.get("pods", NAMESPACE, f"{STREAM}-ingest")
        assert ingest_pod is not None, "no ingest Pod"
        kubelet = cluster.node(ingest_pod["spec"]["nodeName"]).kubelet_root
        media = kubelet / "pods" / ingest_pod["metadata"]["uid"] / "volumes" / "kubernetes.io~empty-dir" / "media"
        playlist = eventually(lambda: sorted(media.glob("sessions/*/ts/index.m3u8")), 30, 0.5, "the ts/ playlist")[-1]
        assert cluster.edge_image is not None
        cluster.apply(NAMESPACE, *static_nginx(cluster.image_ref(cluster.edge_image), media))
        cluster.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{STATIC}", "--timeout=120s")
        path = f"/streams/{NAMESPACE}/{STREAM}/hls"
        urls = {
            "ingest": f"http://{node1}:{node_port(cluster, f'{STREAM}-ingest')}{path}/cmaf/index.m3u8",
            "edge": f"http://{node1}:{node_port(cluster, EDGE_NAME)}{path}/cmaf/index.m3u8",
            "traefik": f"http://{cluster.ingress_address}{path}/cmaf/index.m3u8",
            "edge-hls": f"http://{node1}:{node_port(cluster, EDGE_NAME)}{path}/ts/index.m3u8",
            "static-hls": f"http://{node1}:{node_port(cluster, STATIC)}/{playlist.relative_to(media)}",
        }
        for which, u in urls.items():
            eventually(lambda u=u: lan_ok(cluster, u), 60, 0.5, f"the playlist {which} from the LAN")  # type: ignore[misc]
        pods = {
            "edge": pod_cgroups(cluster, NAMESPACE, "app.kubernetes.io/component=edge"),
            "static": pod_cgroups(cluster, NAMESPACE, f"app={STATIC}"),
            "ingest": pod_cgroups(cluster, NAMESPACE, name=f"{STREAM}-ingest"),
            "traefik": pod_cgroups(cluster, TRAEFIK_NAMESPACE),
        }  # fmt: skip
        placement = "; ".join(f"{k}: {', '.join(sorted(v.nodes))}" for k, v in pods.items())
        edge_pod = cluster.list("pods", NAMESPACE, "app.kubernetes.io/component=edge")[0]
        limits = (edge_pod["spec"]["containers"][0].get("resources") or {}).get("limits") or {}
        workers = f"CPU limit {limits.get('cpu', 'none')}, nginx workers auto ({os.cpu_count()} CPUs)"
        metrics_server.wait_ready()
        eventually(lambda: any(p.startswith(f"{EDGE_NAME}-") for p in metrics_server.pod_metrics(NAMESPACE)),
                   timeout=90, interval=2, what="the edge Pods' metrics")  # fmt: skip
        with ReplicaLog(cluster, NAMESPACE, interval=5) as replicas:
            replicas.phase = "idle"
            time.sleep(IDLE_SECONDS)
            idle = [int(x["cpu_percent"]) for x in replicas.in_phase("idle") if x["cpu_percent"] is not None]
            print(f"idle edge: {idle} % of its CPU request (HPA)", file=sys.stderr, flush=True)
            yield Stand(cluster, urls, pods, placement, workers, replicas, idle)
    finally:
        for encoder in encoders:
            with contextlib.suppress(Exception):
                encoder.stop()
        left = cluster.stop()
        for node in cluster.nodes:
            with contextlib.suppress(Exception):
                node.stop(purge=True)
        if left:
            print(f"left behind by the cluster: {left}", file=sys.stderr, flush=True)


# --- one window's readings ------------------------------------------------------------------------


def ingest_requests(cluster: LocalCluster) -> dict[str, float]:
    """The ingest's streamops_playback_requests_total by via (edge, direct), read from inside its Pod:
    /metrics is on the internal face, which nothing outside the pod network reaches (issue 37)."""
    body = in_pod.ingest_internal(cluster, NAMESPACE, STREAM, "/metrics")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "streamops_playback_requests_total":
                out[sample.labels["via"]] = out.get(sample.labels["via"], 0.0) + sample.value
    return out


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, softirq, total) jiffies of the whole machine, all cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, fields[6], sum(fields)


def process_ticks() -> dict[int, tuple[str, int]]:
    """Every process's command name and user + system CPU ticks."""
    out: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
                fields = stat_fields(int(entry.name))
                out[int(entry.name)] = (comm, int(fields[11]) + int(fields[12]))
    return out


@dataclass
class Reading:
    at: float
    cpu: dict[str, dict[str, float]]  # CPU seconds by Pod group, by Pod
    requests: dict[str, float]
    machine: tuple[int, int, int]
    ticks: dict[int, tuple[str, int]]


def reading(s: Stand) -> Reading:
    s.pods["edge"] = s.pods["edge"].refreshed(s.cluster)  # scaled by its autoscaler
    return Reading(
        at=time.monotonic(),
        cpu={k: v.cpu_seconds() for k, v in s.pods.items()},
        requests=ingest_requests(s.cluster),
        machine=machine_jiffies(),
        ticks=process_ticks(),
    )


@dataclass
class Window:
    cpu: dict[str, float]  # % of one core, by Pod group
    working_set: dict[str, int]  # peak bytes, by Pod group
    ingest_rate: dict[str, float]  # requests/s the ingest served, by via
    machine_busy: float  # % of all cores
    softirq: float  # % of all cores
    top: list[tuple[str, float]]  # (command, % of one core), the largest first
    restarts: dict[str, int]  # container restarts by Pod group since the stand was up


def window(s: Stand, seconds: float) -> Window:
    a, peaks = reading(s), dict.fromkeys(s.pods, 0)
    while (left := seconds - (time.monotonic() - a.at)) > 0:
        if s.replicas.samples and s.replicas.samples[-1]["ready"] != len(s.pods["edge"].names):
            s.pods["edge"] = s.pods["edge"].refreshed(s.cluster)
        for k, v in s.pods.items():
            peaks[k] = max(peaks[k], v.working_set())
        time.sleep(min(2.0, left))
    b = reading(s)
    dt = b.at - a.at
    by_command: dict[str, float] = {}
    for pid, (comm, ticks) in b.ticks.items():
        before = a.ticks.get(pid)
        used = ticks - (before[1] if before and before[0] == comm else 0)
        by_command[comm] = by_command.get(comm, 0.0) + 100 * used / CLK_TCK / dt
    total = b.machine[2] - a.machine[2]
    return Window(
        # A Pod started in the window counts from 0; one gone in it loses its last stretch.
        cpu={k: 100 * sum(v - a.cpu[k].get(pod, 0.0) for pod, v in b.cpu[k].items()) / dt for k in s.pods},
        working_set=peaks,
        ingest_rate={via: (n - a.requests.get(via, 0.0)) / dt for via, n in b.requests.items()},
        machine_busy=100 * (b.machine[0] - a.machine[0]) / max(1, total),
        softirq=100 * (b.machine[1] - a.machine[1]) / max(1, total),
        top=sorted(by_command.items(), key=lambda kv: -kv[1])[:6],
        restarts={k: v.restarts(s.cluster) for k, v in s.pods.items()},
    )


# --- steps ----------------------------------------------------------------------------------------

PATHS = {
    "ingest": "one viewer, straight to the ingest (its http nodePort)",
    "edge": "LL-HLS, straight to the edge Service (NodePort)",
    "traefik": "LL-HLS, through Traefik (NodePort) → edge",
    "edge-hls": "HLS, straight to the edge Service",
    "static-hls": "HLS, static nginx Pods (NodePort)",
}


@dataclass
class Step:
    path: str  # a key of PATHS
    viewers: int
    load: dict[str, Any]
    window: Window
    replicas: list[int]  # the edge's ready replicas, sampled over the step
    server: str = field(init=False)  # the Pod group serving the viewers

    def __post_init__(self) -> None:
        self.server = {"ingest": "ingest", "static-hls": "static"}.get(self.path, "edge")

    @property
    def mode(self) -> str:
        return "hls" if self.path.endswith("-hls") else "llhls"

    @property
    def limit_ms(self) -> float:
        """As bench/playback.py's Step: 2 part durations for LL-HLS (a hinted part's lag includes its
        own production), one segment for HLS."""
        if self.mode == "llhls":
            return 2000 * float(self.load["part_target_s"] or 0.2)
        return 1000 * float(self.load["target_duration_s"] or 2)

    @property
    def passed(self) -> bool:
        complete = int(self.load["delivery"]["viewers_complete"]) == self.viewers
        return complete and float(self.load["lag_ms"]["p99"]) <= self.limit_ms

    @property
    def mean_replicas(self) -> float:
        return sum(self.replicas) / len(self.replicas) if self.replicas else float(REPLICAS)

    @property
    def replicas_text(self) -> str:
        if not self.replicas:
            return "—"
        first, last, most = self.replicas[0], self.replicas[-1], max(self.replicas)
        return str(first) if first == last == most else f"{first} → {last} (max {most})"

    @property
    def rps(self) -> float:
        return float(self.load["requests_per_s"])

    @property
    def server_cpu_per_krps(self) -> float:
        return self.window.cpu[self.server] / max(self.rps, 1e-9) * 1000


def step(s: Stand, path: str, viewers: int, args: argparse.Namespace) -> Step:
    s.replicas.phase = f"{path} {viewers}"
    load, measured = hlsload(s.urls[path], "hls" if path.endswith("-hls") else "llhls", viewers, args.edge_ramp,
                             args.window, f"cluster-{path}-{viewers}", lambda: window(s, args.window - 2),
                             netns=s.cluster.network.outside)  # fmt: skip
    r = Step(path, viewers, load, measured, [x["ready"] for x in s.replicas.in_phase(s.replicas.phase)])
    d, lag, w = load["delivery"], load["lag_ms"], r.window
    print(f"{path} {viewers}: complete {d['viewers_complete']}/{viewers}, lag p50 {lag['p50']} p99 {lag['p99']} ms, "
          f"{r.rps:.0f} req/s, cpu {', '.join(f'{k} {v:.0f} %' for k, v in w.cpu.items())}, ingest req/s "
          f"{w.ingest_rate}, client {load['client']['cpu_pct_of_core']} %, machine {w.machine_busy:.0f} %, "
          f"edge replicas {r.replicas_text}, errors {load['errors']}, {'pass' if r.passed else 'FAIL'}",
          file=sys.stderr, flush=True)  # fmt: skip
    time.sleep(3)  # the last requests drain before the next step's window
    s.replicas.phase = f"after {path} {viewers}"
    return r


def run_steps(s: Stand, args: argparse.Namespace) -> list[Step]:
    counts = sorted({int(x) for x in args.cluster_steps.split(",") if x.strip()})
    steps, traefik_failed = [step(s, "ingest", 1, args)], False
    for n in counts:  # interleaved: a Traefik step never follows a failed (overloaded) edge step of more viewers
        steps.append(step(s, "edge", n, args))
        if not traefik_failed:
            steps.append(step(s, "traefik", n, args))
            traefik_failed = not steps[-1].passed
    steps += [step(s, "edge-hls", counts[-1], args), step(s, "static-hls", counts[-1], args)]
    return steps


# --- the report -----------------------------------------------------------------------------------


HEADER = [
    "path", "viewers", "edge replicas (ready)", "all parts/segments received", "lag p50 / p99", "longest stall",
    "requests/s",
    "server CPU, working set", "server CPU per 1,000 req/s", "Traefik CPU", "ingest CPU",
    "ingest req/s (edge / direct)", "ingest rate ÷ (1 viewer × mean replicas)", "hlsload CPU", "machine busy (softirq)",
    "client errors; Pod restarts", "passed",
]  # fmt: skip


def collapsing(r: Step, single: float) -> float:
    """The ingest's rate with these viewers / (one viewer's straight to it × the edge's mean ready
    replicas over the step: each replica asks the ingest on its own)."""
    return r.window.ingest_rate.get("edge", 0.0) / (single * r.mean_replicas) if single else float("nan")


def top_text(w: Window, n: int = 4) -> str:
    return ", ".join(f"{comm} {pct:.0f} %" for comm, pct in w.top[:n])


def errors_text(r: Step) -> str:
    errors = ", ".join(f"{kind} {n}" for kind, n in sorted(r.load["errors"].items())) or "none"
    restarts = ", ".join(f"{k} {n}" for k, n in r.window.restarts.items() if n) or "none"
    return f"{errors}; {restarts}"


def replica_row(x: dict[str, Any]) -> list[str]:
    cpu = "—" if x["cpu_percent"] is None else f"{x['cpu_percent']} %"
    return [f"{x['t']:.0f}", x["phase"] or "—", str(x["replicas"]), str(x["ready"]), cpu]


def verdict(ok: bool) -> str:
    return "✅" if ok else "❌"


def why(r: Step) -> str:
    """What the numbers say about a failed step: who used the cores."""
    w = r.window
    return (
        f"machine busy {w.machine_busy:.0f} % of 2 cores ({w.softirq:.0f} % softirq); the most CPU: {top_text(w)}; "
        f"edge Pods {w.cpu['edge']:.0f} %, Traefik {w.cpu['traefik']:.0f} %, "
        f"hlsload {r.load['client']['cpu_pct_of_core']:.0f} % (% of one core)"
    )


def section(steps: list[Step], s: Stand, args: argparse.Namespace, load_before: str, nodeport_kept: bool) -> list[str]:
    one = steps[0]
    single = one.window.ingest_rate.get("direct", 0.0)
    top = max(int(x) for x in args.cluster_steps.split(",") if x.strip())
    edge = next(r for r in steps if r.path == "edge" and r.viewers == top)
    traefik = [r for r in steps if r.path == "traefik"]
    edge_hls = next(r for r in steps if r.path == "edge-hls")
    static = next(r for r in steps if r.path == "static-hls")
    part_ms = 1000 * float(edge.load["part_target_s"] or 0.2)
    ratio = collapsing(edge, single)
    nan = float("nan")
    per_request = edge.server_cpu_per_krps / static.server_cpu_per_krps if static.window.cpu["static"] else nan
    same_load = edge_hls.window.cpu["edge"] / static.window.cpu["static"] if static.window.cpu["static"] else nan
    passing = [r.viewers for r in steps if r.path == "edge" and r.passed]
    best = max((r for r in steps if r.path == "edge" and r.passed), key=lambda r: r.viewers, default=None)
    bullets = [
        f"- **{top} LL-HLS viewers straight to the edge Service**, every part to every viewer and p99 lag ≤ "
        f"{2 * part_ms:.0f} ms: {verdict(edge.passed)} ({edge.load['delivery']['viewers_complete']}/{top} viewers "
        f"complete, p99 {edge.load['lag_ms']['p99']:.0f} ms; largest passing step: "
        f"{max(passing) if passing else 'none'})" + ("." if edge.passed else f": {why(edge)}."),
    ]
    if traefik:
        t = traefik[-1]
        bullets.append(
            f"- **Through Traefik** (what a LAN viewer of the Ingress URL gets), {t.viewers} viewers: "
            f"{verdict(t.passed)} ({t.load['delivery']['viewers_complete']}/{t.viewers} complete, p99 "
            f"{t.load['lag_ms']['p99']:.0f} ms)" + ("." if t.passed else f": {why(t)}.")
        )
    bullets += [
        f"- **The ingest's request rate** with {top} viewers through the edge: "
        f"{edge.window.ingest_rate.get('edge', 0):.1f}/s (its own counter, via=edge) vs {single:.1f}/s for one "
        f"viewer straight to it × {edge.mean_replicas:.1f} replicas (the mean ready over the step): "
        f"{ratio:.2f}× (target ≤ 2×) {verdict(ratio <= 2)}; via=direct meanwhile "
        f"{edge.window.ingest_rate.get('direct', 0):.1f}/s.",
        f"- **Edge CPU per 1,000 requests/s** ({top} LL-HLS viewers) vs static nginx per 1,000 requests/s ({top} HLS "
        f"viewers): {edge.server_cpu_per_krps:.1f} % vs {static.server_cpu_per_krps:.1f} % of a core: "
        f"{per_request:.2f}× (target ≤ 1.5×) {verdict(per_request <= 1.5)}. The same {top} HLS viewers through the "
        f"edge vs static nginx: {edge_hls.window.cpu['edge']:.1f} % vs {static.window.cpu['static']:.1f} %: "
        f"{same_load:.2f}×."
        + (
            ""
            if edge.passed or best is None
            else (
                f" The {top}-viewer step failed; at the largest passing one ({best.viewers} LL-HLS viewers, "
                f"{best.rps:.0f} requests/s) the edge used {best.server_cpu_per_krps:.1f} % per 1,000 requests/s: "
                f"{best.server_cpu_per_krps / static.server_cpu_per_krps:.2f}× static nginx's."
            )
        ),
        f"- **The autoscaler**: idle (the stream live, no viewer, over {IDLE_SECONDS} s) the edge used "
        f"{'/'.join(str(x) for x in s.idle_cpu_percent) or '?'} % of its CPU request by the HPA's reading, against "
        "the chart's 70 % target: an idle edge tier stays at its minimum "
        f"{verdict(bool(s.idle_cpu_percent) and max(s.idle_cpu_percent) < 70)}. Under the viewers it went to "
        f"{s.replicas.most} replicas wanted, and was at {s.replicas.last} at the end (the table below the CPU one).",
        f"- The edge Service patched to NodePort was {'still' if nodeport_kept else 'no longer'} NodePort at the end "
        "(the operator creates the Service when it is missing and leaves an existing one alone).",
    ]
    rows = []
    for r in sorted(steps, key=lambda r: (list(PATHS).index(r.path), r.viewers)):
        d, lag, w = r.load["delivery"], r.load["lag_ms"], r.window
        server = "—" if r.path == "ingest" else (
            f"{w.cpu[r.server]:.1f} %, {w.working_set[r.server] / MIB:.0f} MiB"
        )  # fmt: skip
        rows.append([
            PATHS[r.path], str(r.viewers), r.replicas_text,
            f"{d['viewers_complete_pct']:.0f} % ({d['received']}/{d['expected']})",
            f"{lag['p50']:.0f} / {lag['p99']:.0f} ms", f"{r.load['max_gap_ms']['max'] / 1000:.1f} s",
            f"{r.rps:.0f}", server, "—" if r.path == "ingest" else f"{r.server_cpu_per_krps:.2f} %",
            f"{w.cpu['traefik']:.1f} %", f"{w.cpu['ingest']:.1f} %",
            f"{w.ingest_rate.get('edge', 0):.1f} / {w.ingest_rate.get('direct', 0):.1f}",
            f"{collapsing(r, single):.2f}×" if r.path in ("edge", "traefik") else "—",
            f"{r.load['client']['cpu_pct_of_core']:.0f} %", f"{w.machine_busy:.0f} % ({w.softirq:.0f} %)",
            errors_text(r), verdict(r.passed),
        ])  # fmt: skip
    cpu_rows = [[PATHS[r.path], str(r.viewers), top_text(r.window, 6)] for r in steps]  # in the order run
    return [
        HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {commit()}; /proc/loadavg before: {load_before}, after: "
        f"{loadavg()}; the bench, the cluster and everything in it at nice {os.getpriority(os.PRIO_PROCESS, 0)}. "
        "The 2-node pod-network cluster (devtools.cluster.local_cluster: kube-proxy, CoreDNS, one Traefik) on this "
        "machine's 2 cores, streamops installed with the chart and `edge.enabled: true`, "
        f"the edge (nginx + Lua; {s.edge_workers}) scaled by the chart's HorizontalPodAutoscaler as it ships "
        f"({REPLICAS} to 10 replicas, 70 % of the 100m CPU request) on a real metrics-server (15 s resolution; "
        f"this controller-manager syncs HPAs every {HPA_SYNC_SECONDS} s and stabilises scale-in over "
        f"{HPA_DOWNSCALE_STABILIZATION_SECONDS} s). One public LL-HLS "
        "LiveStream (200 ms parts, 2 s segments, screenshots off, an Ingress of "
        "class traefik), fed over RTMP from the cluster's LAN: testsrc2 640x360 30 fps, x264 800 kbit/s + AAC "
        "128 kbit/s (≈0.93 Mbit/s), encoded once and looped with -c copy. Static nginx: Debian's nginx (the edge "
        f"image's nginx-light, a static configuration) as {REPLICAS} Pods serving the ingest's ts/ files through a "
        "hostPath of its emptyDir (the local nodes share this machine's disk). Pods by node: "
        f"{s.placement}. hlsload on the LAN (a network namespace of its own, like a viewer's machine), viewers "
        f"joining over {args.edge_ramp:.0f} s, measured over {args.window - 2:.0f} s. Pod CPU and working set from "
        "the pod cgroups on the host (cpuacct.usage; memory usage − inactive file), the ingest's request rate "
        "from its own counter (streamops_playback_requests_total by via), read inside its Pod (kubectl exec).",
        "",
        "Why two paths: straight to the edge Service (patched to NodePort; kube-proxy spreads each connection "
        "over both replicas) measures the edge tier itself; through Traefik's NodePort is what a viewer of the "
        "stream's Ingress URL gets, one more proxy on the same 2 cores, every request crossing it.",
        "",
        *bullets,
        "",
        *markdown_table(HEADER, rows),
        "",
        "Where the CPU went (per step in the order run, % of one core, by command name over the window, every "
        "process on the machine: other sessions' work on it included; `nginx` is the edge's and the static Pods' "
        "workers and any other nginx, `python` the ingest, the operator and any other Python):",
        "",
        *markdown_table(["path", "viewers", "the most CPU"], cpu_rows),
        "",
        "The edge's replicas over the run (devtools.cluster.edge_replicas, every 5 s; the rows where the wanted or "
        "ready count changed, and the last; the HPA's CPU utilization is the edge Pods' mean as % of their request):",
        "",
        *markdown_table(
            ["s since the stand was up", "phase", "replicas wanted", "ready", "HPA CPU utilization"],
            [replica_row(x) for x in s.replicas.changes()],
        ),
        "",
    ]


def measure(args: argparse.Namespace) -> list[str]:
    """Run the row; its section of bench/results/playback.md."""
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="streamops-playback-cluster-") as d, stand(Path(d)) as s:
        steps = run_steps(s, args)
        service = s.cluster.get("services", NAMESPACE, EDGE_NAME) or {}
        kept = service.get("spec", {}).get("type") == "NodePort"
    return section(steps, s, args, load_before, kept)
