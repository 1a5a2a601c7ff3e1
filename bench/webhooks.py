#!/usr/bin/env python3
"""`make bench-webhooks`: how fast StreamWebhook events reach a healthy receiver, and what webhooks
cost the operator at 500 streams (issue 28). Writes bench/results/webhooks.md.

One local control plane (etcd + kube-apiserver + kube-controller-manager, CRDs from crds/), one
`streamops operator -n <namespace>` process per round under its own ServiceAccount (the ClusterRole
of rbac.py), hostNetwork workers, default settings; the receiver is devtools.media.webhook_receiver
(aiohttp + the CloudEvents SDK, its own process on 127.0.0.1, logging each request's arrival time).

Latency round: N streams (default 10) with real ingest workers as local processes
(devtools.cluster.local_pods) and synthetic RTMP publishers started and stopped in cycles; one
StreamWebhook to the receiver. A raw watch of the LiveStreams turns every status it sees into the
webhook facts with the operator's own functions (control/webhook/events.py), so each event the
operator should send has the wall-clock time its status change became visible in the API. Latency =
the receiver's arrival time − that time. Beside it: the operator's own histogram
(streamops_webhook_delivery_latency_seconds: outbox written → 2xx) and the peer, the stream's
Kubernetes Event (WentLive / WentOffline) as a watcher of Events sees it, from the same moment.

Cost rounds at 500 LiveStreams, Pods Pending (no kubelet, as bench/operator.py), resync pushed past
the round: one round without a StreamWebhook, one with a StreamWebhook selecting all 500 (created
once the streams are Ready: the time until all 500 outboxes exist; then 20 watch events of it). Each:
an idle window, then status churn: the 500 ingest Pods are bound to a Node object kept alive by a
Lease heartbeat (BenchNode), set Running, and a stand-in for their workers' /status
(bench/ingest_telemetry.py, one process) makes stream i live for --on s of every --period s,
staggered, so the operator writes real status transitions without 500 FFmpeg processes. Per window:
the operator's CPU seconds (utime+stime), its RSS and peak RSS (VmHWM), and the API server's own
count of writes (all clients; the bench writes nothing inside a window but its node's Lease).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
from devtools.catalog import livestream
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.local_pods import LocalPods, set_pod_status
from devtools.cluster.operator_process import OperatorProcess
from devtools.cluster.suite import Cluster, operator_kubeconfig
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.media.webhook_receiver import WebhookReceiver
from devtools.ports import free_port
from devtools.versions import REPO as ROOT
from devtools.waits import eventually
from streamops.api import GROUP, LIVESTREAM, VERSION
from streamops.control.livestream.reasons import WENT_LIVE, WENT_OFFLINE
from streamops.control.webhook.events import changes_between, stream_facts
from streamops.control.webhook.outbox import OUTBOX_SELECTOR

from bench import operator as ops  # its Sampler, raw Watch, API counts, host line
from bench.report_file import commit, loadavg, write_report

RESULTS = ROOT / "bench" / "results" / "webhooks.md"
SECRET = "whsec-bench-6fK2pQ9x"
# hostNetwork port slices of their own. Latency: above the cluster suite's 20000-28999 (tests may
# run beside the bench), below the kernel's ephemeral range (32768-). Cost rounds: an ingest takes 5
# ports (http, rtmp, srt, webrtc udp + tcp), the operator learns every allocation in the cluster,
# so each round has a slice of its own, below free_port()'s 10300-19999 (devtools/ports.py); only
# the http ports are bound (by the stand-in).
LATENCY_PORTS = "29000-29099"
COST_PORTS = {False: "2100-4999", True: "5000-7899"}  # by round: with a StreamWebhook or not
# The cost rounds' resync period: past their end, so that no window holds the periodic reconcile of
# all 500 streams (each POSTs its key Secret, 409) in one round and not in the other.
COST_RESYNC_SECONDS = "600"
TOUCHES = 20  # the subscription's watch events of the touch window, 1 s apart
TARGET_P99 = 2.0
# The Pod IP of the cost rounds' ingest Pods (TEST-NET-1: nothing is reached there). Endpoints refuse
# loopback addresses; the operator reads a hostNetwork worker at its probe's host, 127.0.0.1 here.
NODE_IP = "192.0.2.1"
# A histogram as scraped: cumulative (le, count) buckets, sum, count.
Histogram = tuple[list[tuple[float, float]], float, float]
EVENT_PREFIX = "dev.streamops."


def operator_env(ports: str, **more: str) -> dict[str, str]:
    return {
        **more,
        "STREAMOPS_HOST_NETWORK": "true",
        "STREAMOPS_PORT_RANGE": ports,
        "STREAMOPS_WORKER_ADDRESS": "127.0.0.1",
        "STREAMOPS_WORKER_BIND_ADDRESS": "127.0.0.1",
        # The receivers are on loopback, which the egress guard refuses unless allow-listed.
        "STREAMOPS_EGRESS_ALLOW_CIDRS": '["127.0.0.1/32"]',
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- watching


@dataclass
class Transition:
    """A change of a stream's webhook facts seen by our watch: the event it makes, when (wall clock)."""

    stream: str
    type: str
    stamp: str | None  # startedAtPrimary (active) or finishedAtPrimary (idle): to find its event
    at: float


def stamp_of(event_type: str, fields: dict[str, Any]) -> str | None:
    key = "finishedAtPrimary" if event_type == "stream.idle" else "startedAtPrimary"
    value = fields.get(key)
    return str(value) if value is not None else None


class StreamFacts:
    """The LiveStreams' webhook facts as a watcher sees them, and every transition (events.py's own
    comparison, from the quiet facts a new stream's outbox starts with)."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, Any]] = {}
        self.ready: dict[str, float] = {}
        self.transitions: list[Transition] = []
        self.lock = threading.Lock()

    def on_event(self, kind: str, obj: dict[str, Any], _: float) -> None:
        if kind not in ("ADDED", "MODIFIED"):
            return
        at = time.time()
        name, status = obj["metadata"]["name"], obj.get("status") or {}
        new = stream_facts(status)
        with self.lock:
            if ops.ready(obj):
                self.ready.setdefault(name, time.monotonic())
            old = self.facts.get(name) or stream_facts({})
            if new != old:
                for change in changes_between("LiveStream", name, old, new, status):
                    self.transitions.append(Transition(name, change.type, stamp_of(change.type, status), at))
            self.facts[name] = new

    def on_air(self, name: str) -> str | None:
        with self.lock:
            return (self.facts.get(name) or {}).get("onAir")

    def since(self, start: float, end: float = float("inf")) -> list[Transition]:
        with self.lock:
            return [t for t in self.transitions if start <= t.at < end]


class StreamEvents:
    """The Kubernetes Events WentLive / WentOffline of LiveStreams, when a watcher first sees each."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.lock = threading.Lock()

    def on_event(self, kind: str, obj: dict[str, Any], _: float) -> None:
        involved = obj.get("involvedObject") or {}
        if (
            kind == "ADDED"
            and involved.get("kind") == LIVESTREAM.kind
            and obj.get("reason") in (WENT_LIVE, WENT_OFFLINE)
        ):
            with self.lock:
                self.seen[involved["name"], obj["reason"]].append(time.time())


def watch_livestreams(custom: Any, ns: str, handler: Callable[[str, dict[str, Any], float], None]) -> Any:
    rv = custom.list_namespaced_custom_object(GROUP, VERSION, ns, LIVESTREAM.plural, limit=1)["metadata"][
        "resourceVersion"
    ]
    w = ops.Watch(
        lambda: custom.list_namespaced_custom_object(
            GROUP, VERSION, ns, LIVESTREAM.plural, watch=True, resource_version=rv, timeout_seconds=1800,
            _preload_content=False,
        ),
        handler,
    )  # fmt: skip
    w.start()
    return w


def watch_core(list_call: Callable[..., Any], ns: str, handler: Callable[..., None], selector: str = "") -> Any:
    rv = list_call(ns, limit=1, label_selector=selector).metadata.resource_version
    w = ops.Watch(
        lambda: list_call(
            ns, watch=True, resource_version=rv, timeout_seconds=1800, label_selector=selector, _preload_content=False
        ),
        handler,
    )
    w.start()
    return w


# ------------------------------------------------------------------------------- measuring


def received(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Each event once (its first arrival), in arrival order: {type, stream, stamp, arrived, id}."""
    out: list[dict[str, Any]] = []
    ids: set[str] = set()
    for entry in receiver.entries():
        event = entry.get("event")
        if not event or event["id"] in ids:
            continue
        ids.add(event["id"])
        kind = event["type"].removeprefix(EVENT_PREFIX)
        data = event.get("data") or {}
        out.append(
            {"type": kind, "stream": data.get("stream"), "stamp": stamp_of(kind, data), "arrived": entry["arrived"]}
        )
    return out


def duplicates(receiver: WebhookReceiver) -> int:
    ids = [e["event"]["id"] for e in receiver.entries() if e.get("event")]
    return len(ids) - len(set(ids))


def matched(transitions: list[Transition], events: list[dict[str, Any]]) -> list[tuple[Transition, float]]:
    """(transition, receiver arrival − transition seen) for each delivered event that one made."""
    waiting: dict[tuple[str, str, str | None], deque[Transition]] = defaultdict(deque)
    for t in transitions:
        waiting[t.stream, t.type, t.stamp].append(t)
    out = []
    for e in events:
        queue = waiting.get((e["stream"], e["type"], e["stamp"]))
        if queue:
            t = queue.popleft()
            out.append((t, e["arrived"] - t.at))
    return out


def histogram(metrics_text: str, family: str, namespace: str) -> Histogram:
    """(cumulative (le, count) buckets, sum, count) of one histogram family for a namespace."""
    buckets: dict[float, float] = defaultdict(float)
    total = count = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith(family) or f'namespace="{namespace}"' not in line:
            continue
        head, _, value = line.rpartition(" ")
        if head.startswith(f"{family}_bucket"):
            le = re.search(r'le="([^"]+)"', head)
            if le:
                buckets[float(le.group(1))] += float(value)
        elif head.startswith(f"{family}_sum"):
            total += float(value)
        elif head.startswith(f"{family}_count"):
            count += float(value)
    return sorted(buckets.items()), total, count


def minus(after: Histogram, before: Histogram) -> Histogram:
    prior = dict(before[0])
    return [(le, c - prior.get(le, 0.0)) for le, c in after[0]], after[1] - before[1], after[2] - before[2]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile: linear within the bucket the rank falls in."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return lower_le
            return lower_le + (le - lower_le) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_le, lower_count = le, count
    return None


def share_within(buckets: list[tuple[float, float]], limit: float) -> str:
    total = buckets[-1][1] if buckets else 0
    within = dict(buckets).get(limit)
    return f"{100 * within / total:.0f} %" if total and within is not None else "—"


def summary(values: list[float]) -> str:
    if not values:
        return "— / — / — / —"
    return " / ".join(f"{ops.pct(values, q):.2f}" for q in (50, 95, 99)) + f" / {max(values):.2f} s"


def metrics_of(op: OperatorProcess) -> str:
    status, body = http_get(op.metrics_url, timeout=5)
    return body.decode() if status == 200 else ""


@dataclass
class Window:
    """What the operator and the API server did between two moments."""

    label: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_kb: int = 0
    hwm_kb: int = 0
    writes: dict[str, float] = field(default_factory=dict)
    operator_requests: float = 0.0
    load: str = ""

    def writes_total(self) -> float:
        return sum(v for k, v in self.writes.items() if k.split(" ")[0] in ops.WRITE_VERBS)

    def writes_by_what(self) -> str:
        shown = sorted(((v, k) for k, v in self.writes.items() if k.split(" ")[0] in ops.WRITE_VERBS and v >= 1))
        return ", ".join(f"{k} {v:.0f}" for v, k in reversed(shown)) or "none"


class Meter:
    """Opens and closes windows over the operator process and the API server's counters."""

    def __init__(self, cluster: Cluster, pid: int) -> None:
        self.cluster = cluster
        self.sampler = ops.Sampler(pid)
        self.sampler.start()

    def open(self) -> tuple[float, float, dict[str, float], str]:
        return (
            time.monotonic(),
            ops.proc_cpu_seconds(self.sampler.pid, include_children=False),
            ops.api_counts(self.cluster),
            loadavg(),
        )

    def close(self, label: str, opened: tuple[float, float, dict[str, float], str]) -> Window:
        began, cpu, counts, load = opened
        after = ops.api_counts(self.cluster)
        pid = self.sampler.pid
        return Window(
            label=label,
            seconds=time.monotonic() - began,
            cpu_seconds=ops.proc_cpu_seconds(pid, include_children=False) - cpu,
            rss_kb=ops.proc_status_kb(pid, "VmRSS"),
            hwm_kb=ops.proc_status_kb(pid, "VmHWM"),
            writes={k: after[k] - counts.get(k, 0.0) for k in after if k not in ("writes", "reads", "operator")},
            operator_requests=after["operator"] - counts["operator"],
            load=f"{load} → {loadavg()}",
        )

    def stop(self) -> None:
        self.sampler.stop()


def webhook_manifest(name: str, url: str, **spec: Any) -> dict[str, Any]:
    body = {"url": url, "secretRef": {"name": "hook-secret"}, **spec}
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "StreamWebhook", "metadata": {"name": name}, "spec": body}


def new_namespace(cluster: Cluster, ns: str, with_secret: bool) -> None:
    cluster.kubectl("create", "namespace", ns)
    if with_secret:
        cluster.kubectl("create", "secret", "generic", "hook-secret", "-n", ns, f"--from-literal=secret={SECRET}")
        cluster.allow_reference(ns, "hook-secret")


# ---------------------------------------------------------------------------- latency round


@dataclass
class LatencyResult:
    streams: int
    cycles: int
    transitions: int = 0
    delivered: int = 0
    duplicates: int = 0
    latency: list[float] = field(default_factory=list)
    by_type: dict[str, list[float]] = field(default_factory=dict)
    peer: list[float] = field(default_factory=list)
    peer_missing: int = 0
    histogram: Histogram = ([], 0.0, 0.0)
    seconds: float = 0.0
    load: str = ""
    uptime_before: str = ""
    uptime_after: str = ""


def latency_round(
    cluster: Cluster, op_kubeconfig: Path, workdir: Path, streams: int, cycles: int, hold: float, gap: float
) -> LatencyResult:
    ns = "wh-latency"
    result = LatencyResult(streams, cycles, uptime_before=uptime())
    load_before = loadavg()
    new_namespace(cluster, ns, with_secret=True)
    receiver = WebhookReceiver("127.0.0.1", free_port(), workdir / "latency-receiver.jsonl", [SECRET])
    operator = OperatorProcess(
        op_kubeconfig, workdir / "operator-latency.log", operator_env(LATENCY_PORTS), args=("-n", ns)
    )
    pods = LocalPods(cluster, workdir / "pods")
    publishers: list[Publisher] = []
    facts, kube_events = StreamFacts(), StreamEvents()
    watches = [
        watch_livestreams(cluster.custom, ns, facts.on_event),
        watch_core(cluster.core.list_namespaced_event, ns, kube_events.on_event),
    ]
    names = [f"cam{i:02d}" for i in range(streams)]
    try:
        receiver.start()
        operator.start()
        cluster.apply(ns, webhook_manifest("hooks", receiver.url, events=["stream.*"]))
        push = {"push": {"protocols": ["rtmp"]}}
        cluster.apply(ns, *(livestream(n, source=push, screenshots={"enabled": False}) for n in names))
        urls = {}
        for n in names:
            ingest = pods.start(ns, f"{n}-ingest")
            urls[n] = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{cluster.stream_key(ns, n)}"
        # Every stream has its outbox (the subscription knows it) before its first session.
        eventually(lambda: len(cluster.list("configmaps", ns, OUTBOX_SELECTOR)) == streams, timeout=60, what="outboxes")
        log(f"latency: {streams} ingests up, {cycles} publish cycles each")
        began = time.monotonic()

        def cycle(index: int, name: str) -> None:
            time.sleep(index * (hold + gap) / streams)  # staggered: sessions start all along
            for _ in range(cycles):
                publisher = Publisher(urls[name], size="320x180", rate=15, log_path=workdir / f"pub-{name}.log")
                publishers.append(publisher)
                publisher.start()
                eventually(lambda: facts.on_air(name), timeout=45, interval=0.05, what=f"{name} on air")
                time.sleep(hold)
                publisher.stop()
                eventually(lambda: not facts.on_air(name), timeout=45, interval=0.05, what=f"{name} idle")
                time.sleep(gap)

        with ThreadPoolExecutor(max_workers=streams) as pool:
            for future in [pool.submit(cycle, i, n) for i, n in enumerate(names)]:
                future.result()
        transitions = facts.since(0.0)
        result.transitions = len(transitions)

        def all_delivered() -> bool:
            return len(matched(transitions, received(receiver))) >= len(transitions)

        try:
            eventually(all_delivered, timeout=30, interval=0.5, what="every event delivered")
        except AssertionError as e:
            log(f"latency: {e}")
        result.seconds = time.monotonic() - began
        pairs = matched(transitions, received(receiver))
        result.delivered = len(pairs)
        result.duplicates = duplicates(receiver)
        result.latency = [d for _, d in pairs]
        for t, d in pairs:
            result.by_type.setdefault(t.type, []).append(d)
        # The peer: the k-th WentLive / WentOffline Event of a stream against its k-th active / idle.
        reasons = {"stream.active": WENT_LIVE, "stream.idle": WENT_OFFLINE}
        per_stream: dict[tuple[str, str], list[Transition]] = defaultdict(list)
        for t in transitions:
            if t.type in reasons:
                per_stream[t.stream, reasons[t.type]].append(t)
        time.sleep(2)  # (Events are posted in the background: the last ones a moment later)
        with kube_events.lock:
            for key, ts in per_stream.items():
                seen = kube_events.seen.get(key, [])
                result.peer += [at - t.at for t, at in zip(ts, seen, strict=False)]
                result.peer_missing += max(0, len(ts) - len(seen))
        result.histogram = histogram(metrics_of(operator), "streamops_webhook_delivery_latency_seconds", ns)
        result.load = f"{load_before} → {loadavg()}"
        result.uptime_after = uptime()
        return result
    finally:
        for p in publishers:
            p.stop()
        pods.stop_all()
        operator.stop()
        receiver.stop()
        for w in watches:
            w.close()


# ------------------------------------------------------------------------------- cost rounds


@dataclass
class CostResult:
    webhook: bool
    n: int
    create_seconds: float = 0.0
    windows: dict[str, Window] = field(default_factory=dict)
    outboxes_seconds: float | None = None
    outboxes: int = 0
    transitions: int = 0
    delivered: int = 0
    duplicates: int = 0
    churn_latency: list[float] = field(default_factory=list)
    histogram: Histogram = ([], 0.0, 0.0)
    uptime_before: str = ""
    uptime_after: str = ""


class Standin:
    """bench/ingest_telemetry.py as a child process in its own session, stopped by PID."""

    def __init__(self, ports: list[int], t0: float, period: float, on: float, workdir: Path) -> None:
        path = workdir / "standin-ports.json"
        path.write_text(json.dumps(ports))
        command = [sys.executable, "-m", "bench.ingest_telemetry", "--ports", str(path)]
        command += ["--t0", str(t0), "--period", str(period), "--on", str(on)]
        self.proc = subprocess.Popen(  # from the repository's root, where the package bench/ is found
            command,
            stdout=subprocess.PIPE,
            stderr=(workdir / "standin.log").open("ab"),
            start_new_session=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        if not ready or self.proc.stdout.readline().strip() != b"ready":
            self.stop()
            raise RuntimeError("the ingest telemetry stand-in did not start (see standin.log)")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class BenchNode:
    """A Node object kept healthy by a kubelet's heartbeat (its Lease renewed) and nothing else. The
    cost rounds bind their ingest Pods to it before setting them Running at NODE_IP: the endpoints
    controllers refuse a Running Pod without a node or at a loopback address and retry with Events,
    a storm at 500 Services that would be the harness's load, not the operator's."""

    def __init__(self, cluster: Cluster, name: str = "bench-node") -> None:
        self.cluster, self.name = cluster, name
        api = kubernetes.config.new_client_from_config(config_file=str(cluster.plane.kubeconfig))
        self.core, self.leases = kubernetes.client.CoreV1Api(api), kubernetes.client.CoordinationV1Api(api)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def start(self) -> BenchNode:
        now = datetime.now(UTC)
        self.core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": self.name}})
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "bench stand-in"}
        status = {
            "conditions": [{**ready, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}],
            "addresses": [{"type": "InternalIP", "address": NODE_IP}],
        }
        self.core.patch_node_status(self.name, {"status": status})
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": self._micro()},
        }
        self.leases.create_namespaced_lease("kube-node-lease", lease)
        self._thread.start()
        return self

    @staticmethod
    def _micro() -> str:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _beat(self) -> None:
        while not self._halt.wait(10):
            try:
                self.leases.patch_namespaced_lease(self.name, "kube-node-lease", {"spec": {"renewTime": self._micro()}})
            except Exception as e:  # the API server is stopping: the next beat or the end
                log(f"node heartbeat: {e}")

    def bind(self, namespace: str, pod: str) -> None:
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}}
        binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": self.name}
        self.core.create_namespaced_pod_binding(pod, namespace, binding, _preload_content=False)

    def stop(self) -> None:
        self._halt.set()
        self._thread.join(timeout=5)


def http_port(pod: Any) -> int:
    ports = pod.spec.containers[0].ports
    return next(p.container_port for p in ports if p.name == "http")


def cost_round(
    cluster: Cluster, node: BenchNode, op_kubeconfig: Path, workdir: Path, n: int, webhook: bool,
    args: argparse.Namespace, churn: float,
) -> CostResult:  # fmt: skip
    idle, period, on = args.idle, args.period, args.on
    ns = "wh-cost-hooks" if webhook else "wh-cost-plain"
    result = CostResult(webhook, n, uptime_before=uptime())
    new_namespace(cluster, ns, with_secret=webhook)
    label = "webhook" if webhook else "plain"
    receiver = WebhookReceiver("127.0.0.1", free_port(), workdir / f"cost-{label}-receiver.jsonl", [SECRET])
    operator = OperatorProcess(
        op_kubeconfig,
        workdir / f"operator-cost-{label}.log",
        operator_env(COST_PORTS[webhook], STREAMOPS_RESYNC_SECONDS=COST_RESYNC_SECONDS),
        args=("-n", ns),
    )
    facts = StreamFacts()
    outboxes: dict[str, float] = {}

    def on_config_map(kind: str, obj: dict[str, Any], _: float) -> None:
        if kind == "ADDED":
            outboxes.setdefault(obj["metadata"]["name"], time.monotonic())

    watches = [
        watch_livestreams(cluster.custom, ns, facts.on_event),
        watch_core(cluster.core.list_namespaced_config_map, ns, on_config_map, OUTBOX_SELECTOR),
    ]
    standin: Standin | None = None
    meter: Meter | None = None
    names = [f"s{i:04d}" for i in range(n)]
    try:
        if webhook:
            receiver.start()
        operator.start()
        meter = Meter(cluster, operator.pid)
        local = threading.local()

        def create(name: str) -> None:
            if not hasattr(local, "custom"):
                api = kubernetes.config.new_client_from_config(config_file=str(cluster.plane.kubeconfig))
                local.custom = kubernetes.client.CustomObjectsApi(api)
            body = livestream(name, source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False})
            local.custom.create_namespaced_custom_object(GROUP, VERSION, ns, LIVESTREAM.plural, body)

        began = time.monotonic()
        opened = meter.open()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(create, names))
        eventually(lambda: len(facts.ready) >= n, timeout=300, interval=0.5, what=f"{n} LiveStreams Ready")
        result.create_seconds = time.monotonic() - began
        result.windows["create"] = meter.close("create", opened)
        log(f"cost {label}: {n} streams Ready in {result.create_seconds:.1f} s")
        # The controller-manager's Endpoints and EndpointSlices of the 500 Services made before the
        # idle window opens (they trail the operator by seconds).
        slices = kubernetes.client.DiscoveryV1Api(cluster.core.api_client)

        def endpoints_made() -> bool:
            endpoints = len(cluster.core.list_namespaced_endpoints(ns).items)
            return endpoints >= n and len(slices.list_namespaced_endpoint_slice(ns).items) >= n

        eventually(endpoints_made, timeout=120, interval=1, what="Endpoints and EndpointSlices")
        time.sleep(5)

        opened = meter.open()
        time.sleep(idle)
        result.windows["idle"] = meter.close("idle", opened)

        if webhook:
            opened = meter.open()
            asked = time.monotonic()
            cluster.apply(ns, webhook_manifest("hooks", receiver.url))
            try:
                eventually(lambda: len(outboxes) >= n, timeout=180, interval=0.2, what=f"{n} outboxes")
                result.outboxes_seconds = max(outboxes.values()) - asked
            except AssertionError as e:
                log(f"cost: {e}")
            result.outboxes = len(outboxes)
            time.sleep(2)
            result.windows["subscribe"] = meter.close("subscribe", opened)
            log(f"cost: {result.outboxes} outboxes in {result.outboxes_seconds} s")
            opened = meter.open()
            time.sleep(idle)
            result.windows["idle-webhook"] = meter.close("idle-webhook", opened)
            # What one watch event of the subscription costs (its own status writes, every 2 s while
            # it delivers, are such events too): its annotation patched, 1 s apart.
            opened = meter.open()
            for i in range(TOUCHES):
                patch = {"metadata": {"annotations": {"bench.streamops.dev/touch": str(i)}}}
                cluster.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "streamwebhooks", "hooks", patch)
                time.sleep(1)
            result.windows["touch"] = meter.close("touch", opened)

        # Churn: the ingest Pods Running at 127.0.0.1 (what a kubelet would write), then their
        # /status from the stand-in. The Pods' own settling happens before the window opens.
        ingest_pods = {p.metadata.name: p for p in cluster.core.list_namespaced_pod(ns).items}
        ports = [http_port(ingest_pods[f"{name}-ingest"]) for name in names]

        def run_pod(name: str) -> None:  # what the scheduler and a kubelet would write
            node.bind(ns, f"{name}-ingest")
            set_pod_status(cluster, ns, f"{name}-ingest", "Running", True, NODE_IP)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(run_pod, names))
        t0 = time.time() + 10
        standin = Standin(ports, t0, period, on, workdir)
        time.sleep(max(0.0, t0 - time.time()))
        before_metrics = metrics_of(operator)
        opened = meter.open()
        start_wall = time.time()
        time.sleep(churn)
        result.windows["churn"] = meter.close("churn", opened)
        end_wall = time.time()
        transitions = facts.since(start_wall, end_wall)
        result.transitions = len(transitions)
        if webhook:
            time.sleep(10)  # the last events of the window on their way
            pairs = matched(transitions, received(receiver))
            result.delivered = len(pairs)
            result.duplicates = duplicates(receiver)
            result.churn_latency = [d for _, d in pairs]
            family = "streamops_webhook_delivery_latency_seconds"
            result.histogram = minus(histogram(metrics_of(operator), family, ns), histogram(before_metrics, family, ns))
        log(
            f"cost {label}: churn {result.transitions} transitions, delivered {result.delivered}, "
            f"CPU {result.windows['churn'].cpu_seconds:.1f} s"
        )
        result.uptime_after = uptime()
        return result
    finally:
        if standin is not None:
            standin.stop()
        if meter is not None:
            meter.stop()
        operator.stop()
        receiver.stop()
        for w in watches:
            w.close()


# ---------------------------------------------------------------------------------- report


def mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def fmt_q(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "—"


def report(
    lat: LatencyResult, plain: CostResult, hooks: CostResult, started: str, wall: float, host: str, versions: str,
    args: argparse.Namespace,
) -> str:  # fmt: skip
    buckets, total, count = lat.histogram
    p99 = ops.pct(lat.latency, 99) if lat.latency else None
    ok = p99 is not None and p99 <= TARGET_P99 and lat.delivered == lat.transitions
    out = [
        "# Webhook benchmark",
        "",
        f"Run {started} on {host}; {versions}; commit {commit('operator', 'bench/webhooks.py')}.",
        f"Whole run {wall:.0f} s wall. The machine is shared: its load (uptime) is quoted with each",
        "part; the figures hold for that load.",
        "",
        "## Delivery latency, healthy receiver",
        "",
        f"{lat.streams} LiveStreams, each with a real ingest worker (local process, real FFmpeg) and a",
        f"synthetic RTMP publisher (320x180 15 fps) started and stopped {lat.cycles} times ({args.hold:g} s on",
        f"air, {args.gap:g} s off, streams staggered); one StreamWebhook (`stream.*`) to a receiver on",
        "127.0.0.1 (aiohttp + CloudEvents SDK, its own process, answering 200 at once). Moment 0 = a",
        "raw watch of the LiveStreams sees the status change that makes the event (status.activeIngest",
        "set / unset, compared with the operator's own webhook facts); the event's time = the receiver's",
        "arrival time (same clock). Default operator settings (worker /status read every 0.5 s: that",
        "part of glass-to-event is before moment 0 and not counted here).",
        f"Load (uptime) before: `{lat.uptime_before}`; after: `{lat.uptime_after}`.",
        "",
        "| | p50 / p95 / p99 / max | events | target |",
        "|---|---|---|---|",
        f"| status change seen → receiver has the event | {summary(lat.latency)} | "
        f"{lat.delivered} of {lat.transitions} | p99 ≤ {TARGET_P99:g} s {mark(ok)} |",
    ]
    for kind, values in sorted(lat.by_type.items()):
        out.append(f"| … {kind} only | {summary(values)} | {len(values)} | — |")
    quantiles = " / ".join(fmt_q(histogram_quantile(q, buckets)) for q in (0.5, 0.95, 0.99))
    mean = f"{total / count:.3f} s" if count else "—"
    out += [
        f"| the operator's own figure (histogram: outbox written → 2xx; interpolated p50 / p95 / p99) | "
        f"{quantiles}; mean {mean}; ≤ 1 s {share_within(buckets, 1.0)}, ≤ 2 s {share_within(buckets, 2.0)} | "
        f"{count:.0f} | — |",
        f"| **peer**: status change seen → the stream's Kubernetes Event (WentLive / WentOffline) seen by "
        f"a watch | {summary(lat.peer)} | {len(lat.peer)} ({lat.peer_missing} not seen) | — |",
        f"| duplicates received | {lat.duplicates} | — | — |",
        f"| load average before → after | {lat.load} | — | — |",
        "",
        f"## Operator cost at {plain.n} streams",
        "",
        f"{plain.n} LiveStreams (push rtmp), created by 4 client threads, Pods Pending (no kubelet) until",
        "the churn. Two rounds, each a fresh namespace and a fresh operator: without any StreamWebhook,",
        f"and with one StreamWebhook selecting all {plain.n} streams (created once they are Ready). Idle",
        f"windows {args.idle:g} s. Churn ({args.churn:g} s window): the ingest Pods bound to a Node object kept",
        f"alive by a Lease heartbeat (no kubelet behind it) and set Running (Pod IP {NODE_IP}, workers read",
        "at 127.0.0.1 as hostNetwork workers bound there are),",
        "and their /status answered by bench/ingest_telemetry.py (one process standing in for the",
        f"workers, the contract's IngestStatus): stream i live {args.on:g} s of every {args.period:g} s,",
        "staggered, so about "
        f"{plain.n * (1 + min(1.0, args.on / args.period)) * args.churn / args.period:.0f} transitions in the window, "
        "real status writes and real deliveries; no FFmpeg. CPU = the operator's utime+stime over the",
        "window; writes = the API server's apiserver_request_total deltas (all clients: the bench writes",
        "nothing inside a window but its node's Lease; endpoints, endpointslices and leases are the",
        "controller-manager's, the rest the operator's); the operator's requests = APF's",
        "`service-accounts` flow schema (its ServiceAccount alone).",
        f"Load (uptime): plain round `{plain.uptime_before}` → `{plain.uptime_after}`; webhook round "
        f"`{hooks.uptime_before}` → `{hooks.uptime_after}`.",
        "",
        "| | no StreamWebhook | one StreamWebhook, all streams |",
        "|---|---|---|",
    ]

    def row(label: str, cell: Callable[[CostResult], str]) -> None:
        out.append(f"| {label} | {cell(plain)} | {cell(hooks)} |")

    def window(name: str, cell: Callable[[Window], str]) -> Callable[[CostResult], str]:
        return lambda r: cell(r.windows[name]) if name in r.windows else "—"

    def cpu(w: Window) -> str:
        return f"{w.cpu_seconds:.1f} s over {w.seconds:.0f} s ({100 * w.cpu_seconds / w.seconds:.1f} % of a core)"

    def writes(w: Window) -> str:
        return f"{w.writes_total():.0f} ({w.writes_total() / w.seconds:.1f}/s): {w.writes_by_what()}"

    row(f"create {plain.n} LiveStreams → all Ready", lambda r: f"{r.create_seconds:.1f} s")
    row("… operator CPU", window("create", cpu))
    row("idle: operator CPU", window("idle", cpu))
    row("idle: API writes", window("idle", writes))
    row(
        "idle: the operator's API requests (reads too)",
        window("idle", lambda w: f"{w.operator_requests:.0f} ({w.operator_requests / w.seconds:.1f}/s)"),
    )
    row(
        f"StreamWebhook created → all {plain.n} outbox ConfigMaps exist",
        lambda r: (
            "—"
            if not r.webhook
            else (f"{r.outboxes_seconds:.1f} s" if r.outboxes_seconds is not None else f"{r.outboxes} only")
        ),
    )
    row("… operator CPU (until then + 2 s)", window("subscribe", cpu))
    row("… API writes", window("subscribe", writes))
    row("idle with the subscription: operator CPU", window("idle-webhook", cpu))
    row("idle with the subscription: API writes", window("idle-webhook", writes))
    row(
        f"{TOUCHES} watch events of the subscription (annotation patched, 1 s apart): operator CPU",
        window("touch", cpu),
    )
    row("churn: stream transitions seen (active + idle)", lambda r: str(r.transitions))
    row(
        "churn: events delivered (of those)",
        lambda r: f"{r.delivered}, {r.duplicates} duplicates" if r.webhook else "—",
    )
    row("churn: operator CPU", window("churn", cpu))
    row("churn: API writes", window("churn", writes))
    row(
        "churn: the operator's API requests (reads too)",
        window("churn", lambda w: f"{w.operator_requests:.0f} ({w.operator_requests / w.seconds:.1f}/s)"),
    )
    row(
        "churn: status change seen → receiver, p50 / p95 / p99 / max",
        lambda r: summary(r.churn_latency) if r.webhook else "—",
    )
    row(
        "churn: the operator's figure (outbox → 2xx), p50 / p99",
        lambda r: (
            f"{fmt_q(histogram_quantile(0.5, r.histogram[0]))} / {fmt_q(histogram_quantile(0.99, r.histogram[0]))}"
            if r.webhook
            else "—"
        ),
    )
    row("operator RSS after idle", window("idle", lambda w: f"{w.rss_kb / 1024:.0f} MB"))
    row(
        "operator RSS after idle with the subscription",
        window("idle-webhook", lambda w: f"{w.rss_kb / 1024:.0f} MB"),
    )
    row("operator peak RSS (VmHWM, end of churn)", window("churn", lambda w: f"{w.hwm_kb / 1024:.0f} MB"))
    row("load average over the churn", window("churn", lambda w: w.load))
    out += ["", "MB = MiB. p99 is nearest-rank; the histogram's quantiles are interpolated in its buckets.", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=10, help="latency round: streams with real ingests")
    parser.add_argument("--cycles", type=int, default=6, help="latency round: publish cycles per stream")
    parser.add_argument("--hold", type=float, default=2.0, help="latency round: seconds on air per cycle")
    parser.add_argument("--gap", type=float, default=1.0, help="latency round: seconds off air per cycle")
    parser.add_argument("--count", type=int, default=500, help="cost rounds: LiveStreams")
    parser.add_argument("--idle", type=float, default=20.0, help="cost rounds: idle window seconds")
    parser.add_argument("--churn", type=float, default=60.0, help="cost rounds: churn window seconds")
    parser.add_argument("--period", type=float, default=60.0, help="churn: each stream's session period")
    parser.add_argument("--on", type=float, default=30.0, help="churn: seconds live per period")
    parser.add_argument("--rows", default="all", choices=("all", "latency"), help="latency: skip the cost rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    t_start = time.monotonic()
    log(f"load: {uptime()}")
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        workdir = Path(tmp)
        plane = ControlPlane(workdir / "cp")
        try:
            plane.start()
            cluster = Cluster(plane)
            cluster.apply_crds()
            op_kubeconfig = operator_kubeconfig(cluster, workdir / "operator.kubeconfig", duration="2h")
            lat = latency_round(cluster, op_kubeconfig, workdir, args.streams, args.cycles, args.hold, args.gap)
            log(
                f"latency: {lat.delivered}/{lat.transitions} events, p50/p95/p99/max {summary(lat.latency)}; "
                f"peer {summary(lat.peer)}"
            )
            if args.rows == "latency":
                print(json.dumps({"latency": lat.latency, "peer": lat.peer, "histogram": lat.histogram}))
                return 0
            node = BenchNode(cluster).start()
            try:
                rounds = [
                    cost_round(cluster, node, op_kubeconfig, workdir, args.count, webhook, args, args.churn)
                    for webhook in (False, True)
                ]
            finally:
                node.stop()
            plain, hooks = rounds
            text = report(lat, plain, hooks, started, time.monotonic() - t_start, ops.host(), ops.versions(plane), args)
        except BaseException:
            for path in sorted(workdir.glob("operator-*.log")):
                print(f"# last lines of {path.name}:", file=sys.stderr)
                print("\n".join(path.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
            raise
        finally:
            plane.stop()
    write_report(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
