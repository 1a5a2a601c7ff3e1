#!/usr/bin/env python3
"""`make bench-operator`: the operator against a real API server at 1, 100 and 500 LiveStreams
(each with a Restream and a Recording). Writes bench/results/operator.md.

One local control plane (devtools.cluster.controlplane: etcd + kube-apiserver + kube-controller-manager,
CRDs from crds/), no kubelet: worker Pods stay Pending, which is all this measures. Per round a
fresh namespace and a fresh `streamops operator -n <namespace>` process, run as in the cluster
suite (its own ServiceAccount bound to the ClusterRole of streamops.control.runtime.rbac, hostNetwork
workers with a private port range, default resync), so each round starts from an idle operator
and only sees its own objects.

Measured per round, on a client-side monotonic clock (t0 = when the create request for the
LiveStream was sent; the objects are created by a few threads with the Python client, the
Restream right after its stream):
- t0 → the ingest Pod `<stream>-ingest` seen by a Pod watch (ADDED);
- t0 → the LiveStream seen by a watch with a `Ready` condition and status.observedGeneration ==
  metadata.generation;
- t(Restream create) → its pusher Pod seen by the Pod watch;
- t(Recording create) → the Recording seen by a watch with status.observedGeneration ==
  metadata.generation (its stream is not live: the Recording waits, with its recorder ready);
- the operator's RSS (/proc/<pid>/status VmRSS, peak = VmHWM) and CPU (utime+stime from
  /proc/<pid>/stat, % of one core) sampled every 0.25 s, over the busy window (first create →
  everything Ready) and an idle window after it.

`--before REV`: each round is run twice in the same run, first with the operator of commit REV
(its `operator/` tree, `git archive`d into the run's directory and put first on the operator's
PYTHONPATH), then with this tree's: the before → after of the same machine at the same load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
from devtools.catalog import livestream, recording, restream
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.kubectl import Kubectl
from devtools.cluster.operator_process import OperatorProcess
from devtools.cluster.suite import Cluster, operator_kubeconfig
from devtools.processes import proc_cpu_seconds
from devtools.versions import REPO as ROOT
from streamops.api import GROUP, LIVESTREAM, RECORDING, RESTREAM, VERSION

from bench.operator_replay import Replay, capture, replay
from bench.report_file import loadavg, write_report

RESULTS = ROOT / "bench" / "results" / "operator.md"
# Nothing binds these (no kubelet): the operator only hands them out. Wide enough for every round:
# a pair takes 8 (the ingest 6, the pusher and the recorder 1 each), a round's objects stay, and the
# default run's rounds take 12,016; 10,000 ran out in its last round and the operator went into the
# port seed storm (docs/design/operator-scale.md).
OPERATOR_ENV = {
    "STREAMOPS_HOST_NETWORK": "true",
    "STREAMOPS_PORT_RANGE": "10000-59999",
    "STREAMOPS_WORKER_ADDRESS": "127.0.0.1",
    "STREAMOPS_WORKER_BIND_ADDRESS": "127.0.0.1",
}
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
TARGET_P99 = 1.0  # one pair created at a time, with the N in place
TARGET_BURST_P99 = 5.0  # issue 15: Ready p99 of the 500 + 500 burst
TARGET_WRITE_SHARE = 80.0  # issue 15: writes/s during the burst, % of what the API server alone takes
TARGET_RSS_MB = 150.0
AIM_RSS_MB = 100.0  # issue 53: 500 streams and 500 Recordings
CHILDREN = ("restream", "recording")
SAMPLE_SECONDS = 0.25
TICKS = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------------- helpers


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 100 values is the 99th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(rank) - 1]


def proc_wait_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU (schedstat, all tasks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------ cluster bits


def api_counts(kubectl: Kubectl) -> dict[str, float]:
    """Cumulative counts from the API server's /metrics: requests by kind (writes = POST, PUT,
    PATCH, DELETE) and those of the operator, whose ServiceAccount's requests are dispatched
    under API Priority and Fairness's `service-accounts` flow schema (the benchmark client and the
    controller-manager authenticate otherwise)."""
    counts = {"writes": 0.0, "reads": 0.0, "operator": 0.0}
    for line in kubectl.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if not line.startswith(("apiserver_request_total{", "apiserver_flowcontrol_dispatched_requests_total{")):
            continue
        head, _, value = line.rpartition(" ")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if line.startswith("apiserver_request_total"):
            verb = labels.get("verb", "")
            kind = "writes" if verb in WRITE_VERBS else "reads"
            counts[kind] += float(value)
            if kind == "writes":  # by what: "POST pods", "PATCH livestreams/status", ...
                what = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
                counts[f"{verb} {what}"] = counts.get(f"{verb} {what}", 0.0) + float(value)
        elif labels.get("flow_schema") == "service-accounts":
            counts["operator"] += float(value)
    return counts


def writes_by_what(before: dict[str, float], after: dict[str, float], pairs: int) -> str:
    """All clients' writes during the burst per pair, by verb and resource, largest first (the
    benchmark client's own are its 2 creates: POST livestreams and POST restreams, 1 each)."""
    per = {k: (after[k] - before.get(k, 0.0)) / pairs for k in after if k.split(" ")[0] in WRITE_VERBS}
    shown = sorted(((v, k) for k, v in per.items() if v >= 0.05), reverse=True)
    return ", ".join(f"{k} {v:.1f}" for v, k in shown) or "—"


def api_write_capacity(plane: ControlPlane, kubectl: Kubectl, n: int = 1000, threads: int = 8) -> float:
    """The peer: creates per second this API server + etcd take from the benchmark client alone
    (ConfigMaps, `threads` client threads, no operator running) on the same machine."""
    kubectl.kubectl("create", "namespace", "bench-capacity")
    local = threading.local()

    def create(i: int) -> None:
        if not hasattr(local, "core"):
            local.core = kubernetes.client.CoreV1Api(
                kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
            )
        body = {"metadata": {"name": f"c{i:05d}"}, "data": {"k": "v"}}
        local.core.create_namespaced_config_map("bench-capacity", body)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(create, range(n)))
    rate = n / (time.monotonic() - began)
    kubectl.kubectl("delete", "namespace", "bench-capacity", "--wait=true", "--timeout=120s")
    return rate


def operator_process(kubeconfig: Path, namespace: str, log: Path, source: Path | None = None) -> OperatorProcess:
    """`streamops operator -n <namespace>` as a real process in its own session; `source`: another
    tree's `operator/` directory to run instead of this one (first on its PYTHONPATH)."""
    env = dict(OPERATOR_ENV, PYTHONPATH=str(source)) if source is not None else OPERATOR_ENV
    return OperatorProcess(kubeconfig, log, env, args=("-n", namespace))


def operator_source(rev: str, workdir: Path) -> Path:
    """The `operator/` tree of commit `rev`, extracted under `workdir` (git archive: read only)."""
    out = workdir / f"operator-{rev}"
    out.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "operator"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out / "operator"


# ------------------------------------------------------------------------------ measurement


class Sampler(threading.Thread):
    """(monotonic time, cpu seconds, rss kB, run-queue wait seconds) of one pid every SAMPLE_SECONDS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float, int, float]] = []
        self.hwm_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                now, cpu, rss = (
                    time.monotonic(),
                    proc_cpu_seconds(self.pid, include_children=False),
                    proc_status_kb(self.pid, "VmRSS"),
                )
                self.samples.append((now, cpu, rss, proc_wait_seconds(self.pid)))
                self.hwm_kb = proc_status_kb(self.pid, "VmHWM")
            except (FileNotFoundError, ProcessLookupError):
                return
            self._halt.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def window(self, start: float, end: float) -> tuple[float, float, int, float]:
        """(mean CPU %, peak CPU % over ~1 s, peak RSS kB, run-queue wait as % of wall) in [start, end]."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return 0.0, 0.0, max((s[2] for s in inside), default=0), 0.0
        wall = inside[-1][0] - inside[0][0]
        mean = 100 * (inside[-1][1] - inside[0][1]) / wall
        waited = 100 * (inside[-1][3] - inside[0][3]) / wall
        step = max(1, round(1 / SAMPLE_SECONDS))
        peak = max(
            100 * (b[1] - a[1]) / (b[0] - a[0])
            for a, b in zip(inside, inside[step:], strict=False)
            if b[0] > a[0]
        ) if len(inside) > step else mean  # fmt: skip
        return mean, peak, max(s[2] for s in inside), waited


@dataclass
class Seen:
    """First time (monotonic) each name reached the watched condition."""

    times: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def mark(self, name: str, at: float) -> None:
        with self.lock:
            if name not in self.times:
                self.times[name] = at
                self.changed.notify_all()

    def count(self) -> int:
        with self.lock:
            return len(self.times)


def lines(resp: Any) -> Iterator[bytes]:
    buf = b""
    for chunk in resp.stream(1 << 16, decode_content=False):
        buf += chunk
        *done, buf = buf.split(b"\n")
        yield from (line for line in done if line.strip())


class Watch(threading.Thread):
    """A raw watch (no model deserialisation, so the client keeps up at 500 objects)."""

    def __init__(self, open_stream: Callable[[], Any], on_event: Callable[[str, dict[str, Any], float], None]) -> None:
        super().__init__(daemon=True)
        self.resp = open_stream()
        self.on_event = on_event
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for line in lines(self.resp):
                now = time.monotonic()
                event = json.loads(line)
                self.on_event(event["type"], event["object"], now)
        except Exception as e:  # closed by close(), or a real failure (reported if it matters)
            self.error = e

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.resp.shutdown()
        self.resp.release_conn()


def ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    return status.get("observedGeneration") == generation and any(
        c.get("type") == "Ready" for c in status.get("conditions") or []
    )


@dataclass
class Round:
    n: int
    label: str = ""  # the column's heading (the operator's commit with --before)
    children: tuple[str, ...] = ("restream",)
    apply_seconds: float = 0.0
    pod: list[float] = field(default_factory=list)
    ready: list[float] = field(default_factory=list)
    pusher: list[float] = field(default_factory=list)
    recorded: list[float] = field(default_factory=list)  # Recording create → its status written
    missing: dict[str, int] = field(default_factory=dict)
    baseline_rss_kb: int = 0
    busy: tuple[float, float, int, float] = (0.0, 0.0, 0, 0.0)
    idle: tuple[float, float, int, float] = (0.0, 0.0, 0, 0.0)
    idle_seconds: float = 0.0
    hwm_kb: int = 0
    total_seconds: float = 0.0
    load_before: str = ""
    load_after: str = ""
    after: str = ""  # --after: the commit the second operator ran (else this tree)
    api_operator: float = 0.0  # the operator's API requests during the burst
    api_writes: float = 0.0  # all clients' writes during the burst
    api_by_what: str = ""  # those writes per pair, by verb and resource
    steady_n: int = 0
    steady_rate: float = 0.0
    steady_pod: list[float] = field(default_factory=list)
    steady_ready: list[float] = field(default_factory=list)
    steady_pusher: list[float] = field(default_factory=list)
    replay: Replay | None = None  # the same writes with no operator (bench/operator_replay.py)
    steady_busy: tuple[float, float, int, float] = (0.0, 0.0, 0, 0.0)
    restart_hwm_kb: int = 0  # --restart: a fresh operator over everything the round made (VmHWM)
    restart_seconds: float = 0.0  # its start → every object's first reconcile


def run_round(  # noqa: C901 (listed in ruff.toml: split it when next changed)
    n: int, plane: ControlPlane, kubectl: Kubectl, op_kubeconfig: Path, workdir: Path, threads: int, idle: float,
    timeout: float, profile: str | None = None, steady: int = 0, rate: float = 2.0,
    children: tuple[str, ...] = CHILDREN, source: Path | None = None, label: str = "", restart: bool = False,
    ns: str = "",
) -> Round:  # fmt: skip
    ns = ns or f"bench-{n}{'-' + label if label else ''}"
    kubectl.kubectl("create", "namespace", ns)
    result = Round(n, label=label, children=children, load_before=loadavg())
    api = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
    core, custom = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)

    pods_seen, ready_seen, recorded_seen = Seen(), Seen(), Seen()

    def on_pod(kind: str, obj: dict[str, Any], at: float) -> None:
        if kind == "ADDED":
            pods_seen.mark(obj["metadata"]["name"], at)

    def on_stream(kind: str, obj: dict[str, Any], at: float) -> None:
        if kind in ("ADDED", "MODIFIED") and ready(obj):
            ready_seen.mark(obj["metadata"]["name"], at)

    def on_recording(kind: str, obj: dict[str, Any], at: float) -> None:
        observed = (obj.get("status") or {}).get("observedGeneration")
        if kind in ("ADDED", "MODIFIED") and observed == obj["metadata"].get("generation"):
            recorded_seen.mark(obj["metadata"]["name"], at)

    pod_rv = core.list_namespaced_pod(ns, limit=1).metadata.resource_version
    lst_rv = custom.list_namespaced_custom_object(GROUP, VERSION, ns, LIVESTREAM.plural, limit=1)["metadata"][
        "resourceVersion"
    ]
    rec_rv = custom.list_namespaced_custom_object(GROUP, VERSION, ns, RECORDING.plural, limit=1)["metadata"][
        "resourceVersion"
    ]
    watches = [
        Watch(
            lambda: core.list_namespaced_pod(
                ns, watch=True, resource_version=pod_rv, timeout_seconds=900, _preload_content=False
            ),
            on_pod,
        ),
        Watch(
            lambda: custom.list_namespaced_custom_object(
                GROUP, VERSION, ns, LIVESTREAM.plural, watch=True, resource_version=lst_rv,
                timeout_seconds=900, _preload_content=False,
            ),
            on_stream,
        ),
        Watch(
            lambda: custom.list_namespaced_custom_object(
                GROUP, VERSION, ns, RECORDING.plural, watch=True, resource_version=rec_rv,
                timeout_seconds=900, _preload_content=False,
            ),
            on_recording,
        ),
    ]  # fmt: skip
    for w in watches:
        w.start()

    operator = operator_process(op_kubeconfig, ns, workdir / f"operator-{ns}.log", source)
    sampler: Sampler | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        operator.start()
        if profile is not None:  # py-spy (not a project dependency): collapsed stacks of CPU (not idle) time per round
            spy = subprocess.Popen(
                [profile, "record", "-p", str(operator.pid), "-r", "50", "-f", "raw", "--threads", "--nonblocking",
                 "-o", str(Path(tempfile.gettempdir()) / f"operator-{ns}.pyspy.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        sampler = Sampler(operator.pid)
        sampler.start()
        time.sleep(3)  # settle: the baseline is the idle operator with its watches open
        result.baseline_rss_kb = proc_status_kb(operator.pid, "VmRSS")

        before = api_counts(kubectl)
        names = [f"s{i:04d}" for i in range(n)]
        sent: dict[str, float] = {}
        restream_sent: dict[str, float] = {}
        recording_sent: dict[str, float] = {}
        local = threading.local()

        def create(name: str) -> None:
            if not hasattr(local, "custom"):
                local.custom = kubernetes.client.CustomObjectsApi(
                    kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
                )
            sent[name] = time.monotonic()
            local.custom.create_namespaced_custom_object(GROUP, VERSION, ns, LIVESTREAM.plural, livestream(name))
            if "restream" in children:
                restream_sent[name] = time.monotonic()
                body = restream(f"{name}-out", streamRef={"name": name}, uri=f"rtmp://127.0.0.1/live/{name}")
                local.custom.create_namespaced_custom_object(GROUP, VERSION, ns, RESTREAM.plural, body)
            if "recording" in children:
                recording_sent[name] = time.monotonic()
                body = recording(f"{name}-rec", streamRef={"name": name})
                local.custom.create_namespaced_custom_object(GROUP, VERSION, ns, RECORDING.plural, body)

        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(create, names))
        result.apply_seconds = time.monotonic() - began

        def wait_until_done(count: int, deadline: float) -> None:
            pods = (2 if "restream" in children else 1) * count
            recorded = count if "recording" in children else 0

            def done() -> bool:
                return ready_seen.count() >= count and pods_seen.count() >= pods and recorded_seen.count() >= recorded

            while not done() and time.monotonic() < deadline:
                if operator.process is not None and operator.process.poll() is not None:
                    raise RuntimeError(f"operator exited with {operator.process.returncode}: see {operator.log}")
                for w in watches:
                    if not w.is_alive():
                        raise RuntimeError(f"a watch ended early: {w.error!r}")
                time.sleep(0.05)

        wait_until_done(n, began + timeout)
        busy_end = time.monotonic()
        result.total_seconds = busy_end - began
        after = api_counts(kubectl)
        result.api_operator = after["operator"] - before["operator"]
        result.api_writes = after["writes"] - before["writes"]
        result.api_by_what = writes_by_what(before, after, n)
        time.sleep(idle)
        idle_end = time.monotonic()

        def latencies(which: list[str]) -> tuple[list[float], list[float], list[float]]:
            pod, ready_, pusher = [], [], []
            for name in which:
                if (t := recorded_seen.times.get(f"{name}-rec")) is not None and name in names:
                    result.recorded.append(t - recording_sent[name])
                if (t := pods_seen.times.get(f"{name}-ingest")) is not None:
                    pod.append(t - sent[name])
                if (t := ready_seen.times.get(name)) is not None:
                    ready_.append(t - sent[name])
                if (t := pods_seen.times.get(f"{name}-pusher")) is not None:
                    pusher.append(t - restream_sent[name])
            return pod, ready_, pusher

        result.pod, result.ready, result.pusher = latencies(names)
        if steady:
            # At scale, not in a burst: with the N pairs in place, `steady` more pairs applied one
            # after the other at `rate` pairs/s (each LiveStream, then its Restream), as streams
            # are created in a running platform.
            extra = [f"t{i:04d}" for i in range(steady)]
            steady_began = time.monotonic()
            for i, name in enumerate(extra):
                time.sleep(max(0.0, steady_began + i / rate - time.monotonic()))
                create(name)
            wait_until_done(n + steady, time.monotonic() + timeout)
            time.sleep(1)
            result.steady_n, result.steady_rate = steady, rate
            result.steady_pod, result.steady_ready, result.steady_pusher = latencies(extra)
            result.steady_busy = sampler.window(steady_began, time.monotonic())
        sampler.stop()

        result.missing = {
            k: (n if wanted else 0) - len(v)
            for k, v, wanted in (
                ("pod", result.pod, True),
                ("ready", result.ready, True),
                ("pusher", result.pusher, "restream" in children),
                ("recording", result.recorded, "recording" in children),
            )
        }
        result.missing["steady"] = (3 if "restream" in children else 2) * steady - sum(
            len(v) for v in (result.steady_pod, result.steady_ready, result.steady_pusher)
        )
        result.busy = sampler.window(began, busy_end)
        result.idle = sampler.window(busy_end + 1, idle_end)
        result.idle_seconds = idle_end - busy_end - 1
        result.hwm_kb = sampler.hwm_kb
        if restart:
            objects = n + steady
            objects *= 1 + len(children)
            operator.stop()
            operator = operator_process(op_kubeconfig, ns, workdir / f"operator-{ns}-restart.log", source)
            result.restart_seconds, result.restart_hwm_kb = restarted(operator, objects, idle, timeout)
        result.load_after = loadavg()
        return result
    finally:
        operator.stop()  # first: whatever else fails, the process goes (py-spy ends with it)
        if spy is not None:
            try:
                spy.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(spy.pid, signal.SIGKILL)
                spy.wait(timeout=5)
        if sampler is not None:
            sampler.stop()
        for w in watches:
            w.close()
        api.close()


def reconciled_ok(operator: OperatorProcess) -> int:
    """Successful reconciles so far, all kinds (the operator's own /metrics; 0 while it does not
    answer: its loop is busy with the listing)."""
    try:
        with urllib.request.urlopen(operator.metrics_url, timeout=10) as answer:
            text = answer.read().decode()
    except (OSError, TimeoutError):
        return 0
    pattern = r'^streamops_operator_reconciles_total\{[^}]*result="ok"[^}]*\} ([0-9.e+]+)$'
    return int(sum(float(v) for v in re.findall(pattern, text, re.M)))


def restarted(operator: OperatorProcess, objects: int, idle: float, timeout: float) -> tuple[float, int]:
    """A fresh operator over `objects` LiveStreams, Restreams and Recordings already there (kopf
    lists them all, and their worker Pods, Services and slices, at once): seconds until each has
    had its first reconcile, and its peak RSS (VmHWM) then and through `idle` seconds more."""
    began = time.monotonic()
    operator.start()
    sampler = Sampler(operator.pid)
    sampler.start()
    try:
        while reconciled_ok(operator) < objects:
            if time.monotonic() - began > timeout:
                raise RuntimeError(f"restarted operator: not every object reconciled in {timeout:.0f} s")
            time.sleep(0.25)
        seconds = time.monotonic() - began
        time.sleep(idle)  # (the status loops' first ticks and writes come after the reconciles)
        return seconds, sampler.hwm_kb
    finally:
        sampler.stop()


# ---------------------------------------------------------------------------------- report


def host() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = proc_status_kb_meminfo()
    ram = f"{mem_kb / 1024 / 1024:.1f} GiB RAM"
    return f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {ram}, Linux {platform.release()}"


def proc_status_kb_meminfo() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def versions(plane: ControlPlane) -> str:
    import kopf

    api = subprocess.run(
        [str(plane.bin_dir / "kube-apiserver"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    etcd = subprocess.run(
        [str(plane.etcd_bin or shutil.which("etcd")), "--version"], capture_output=True, text=True, check=False
    )
    etcd_v = etcd.stdout.splitlines()[0] if etcd.stdout else "etcd ?"
    return f"{api}, {etcd_v}, Python {platform.python_version()}, kopf {kopf.__version__}"


def fmt_s(values: list[float], q: float) -> str:
    return f"{pct(values, q):.2f} s" if values else "—"


def mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def disk(path: Path) -> str:
    """The filesystem under path, as `df` names it (device, type)."""
    out = subprocess.run(["df", "--output=source,fstype", str(path)], capture_output=True, text=True, check=False)
    rows = out.stdout.split("\n")[1:2]
    return " ".join(rows[0].split()) if rows and rows[0] else "unknown"


def followers(children: tuple[str, ...]) -> str:
    return " and ".join({"restream": "a Restream", "recording": "a Recording"}[c] for c in children)


def heading(r: Round) -> str:
    streams = f"{r.n} stream{'s' if r.n > 1 else ''}"
    return f"{streams} (before: {r.label})" if r.label else f"{streams} (after: {r.after})" if r.after else streams


def report(
    rounds: list[Round], host_text: str, versions_text: str, storage: str, started: str, wall: float, capacity: float
) -> str:
    out = [
        "# Operator benchmark",
        "",
        f"Run {started} on {host_text}; {versions_text}; {storage}.",
        f"Whole run {wall:.0f} s wall. Load average (1/5/15 min) before → after each round is in the",
        "table (other work on the machine shows there: quote it with the figures).",
        "",
        "Per round: a fresh namespace and a fresh `streamops operator -n <ns>` (ServiceAccount bound to",
        "the rbac.py ClusterRole, hostNetwork workers, default settings: resync 120 s, idle tick 10 s,",
        "16 API threads + 4 for status), one real kube-apiserver + etcd + kube-controller-manager, no",
        f"kubelet (Pods stay Pending). N LiveStreams, each followed by {followers(rounds[-1].children)},",
        "created at once by 4 client threads (a burst); after an idle window, more of them applied one by",
        "one at a steady rate with the N in place (at scale, not in a burst). Times from a client-side",
        "clock: create request sent → the Pod / the Ready condition / the status seen by a watch.",
        "RSS: /proc VmRSS sampled every 0.25 s (peak = VmHWM); CPU: % of one core, utime+stime.",
        "API requests: deltas of the API server's own /metrics over the burst (the operator's are its",
        "ServiceAccount's, APF flow schema `service-accounts`).",
        "",
        f"**Peer: this API server + etcd alone take {capacity:.0f} creates/s** (1000 ConfigMaps from 8",
        "client threads, no operator running): the ceiling for everything below.",
        "",
        "| | " + " | ".join(heading(r) for r in rounds) + " | target (500) |",
        "|---|" + "---|" * len(rounds) + "---|",
    ]
    last = rounds[-1]

    def row(label: str, cells: list[str], target: str = "—") -> None:
        out.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row(
        f"create N LiveStreams, each with {followers(last.children)} (wall)",
        [f"{r.apply_seconds:.2f} s" for r in rounds],
    )
    row("create → ingest Pod, p50", [fmt_s(r.pod, 50) for r in rounds])
    row("create → ingest Pod, p99", [fmt_s(r.pod, 99) for r in rounds])
    row("create → Ready + observedGeneration, p50", [fmt_s(r.ready, 50) for r in rounds])
    ok_ready = bool(last.ready) and pct(last.ready, 99) <= TARGET_BURST_P99 and not last.missing["ready"]
    row(
        "create → Ready + observedGeneration, p99",
        [fmt_s(r.ready, 99) for r in rounds],
        f"≤ {TARGET_BURST_P99:g} s {mark(ok_ready)}",
    )
    row("Restream create → pusher Pod, p50", [fmt_s(r.pusher, 50) for r in rounds])
    row("Restream create → pusher Pod, p99", [fmt_s(r.pusher, 99) for r in rounds])
    row("Recording create → its status (observedGeneration), p50", [fmt_s(r.recorded, 50) for r in rounds])
    row("Recording create → its status (observedGeneration), p99", [fmt_s(r.recorded, 99) for r in rounds])
    row("first create → everything done", [f"{r.total_seconds:.1f} s" for r in rounds])
    row("objects handled per second (2N / everything done)", [f"{2 * r.n / r.total_seconds:.0f}/s" for r in rounds])
    row("operator API requests per pair during the burst", [f"{r.api_operator / r.n:.1f}" for r in rounds])

    def per_second(count: float, r: Round) -> str:
        return f"{count / r.total_seconds:.0f}/s ({100 * count / r.total_seconds / capacity:.0f} % of the peer)"

    share = 100 * last.api_writes / last.total_seconds / capacity
    row(
        "API writes per second during the burst (all clients)",
        [per_second(r.api_writes, r) for r in rounds],
        f"≥ {TARGET_WRITE_SHARE:.0f} % {mark(share >= TARGET_WRITE_SHARE)}",
    )
    row("the operator's API requests per second during the burst", [per_second(r.api_operator, r) for r in rounds])
    replays = [r.replay for r in rounds]
    if all(replays):

        def replayed(cell: Callable[[Round, Replay], str]) -> list[str]:
            return [cell(r, r.replay) if r.replay else "—" for r in rounds]

        row(
            "**peer 2**, the same writes with no operator: first create → last write",
            replayed(lambda r, p: f"{p.seconds:.1f} s (operator: {r.total_seconds:.1f} s)"),
        )
        row(
            "peer 2: create → Ready written, p50 / p99",
            replayed(lambda r, p: f"{fmt_s(p.ready, 50)} / {fmt_s(p.ready, 99)}"),
        )
        row(
            "peer 2: API writes per second (all clients); the operator's burst as % of it",
            replayed(
                lambda r, p: (
                    f"{p.writes / p.seconds:.0f}/s; "
                    f"{100 * (r.api_writes / r.total_seconds) / (p.writes / p.seconds):.0f} %"
                )
            ),
        )
        row("peer 2: load average before → after", replayed(lambda r, p: f"{p.load_before} → {p.load_after}"))
    row("API writes per pair during the burst, by what (all clients)", [r.api_by_what for r in rounds])
    if last.steady_n:
        label = f"then {last.steady_n} more pairs at {last.steady_rate:g} pairs/s"
        row(f"{label}: create → ingest Pod, p50", [fmt_s(r.steady_pod, 50) for r in rounds])
        ok = bool(last.steady_pod) and pct(last.steady_pod, 99) <= TARGET_P99
        row(f"{label}: create → ingest Pod, p99", [fmt_s(r.steady_pod, 99) for r in rounds], f"≤ 1 s {mark(ok)}")
        row(f"{label}: create → Ready, p50", [fmt_s(r.steady_ready, 50) for r in rounds])
        ok = bool(last.steady_ready) and pct(last.steady_ready, 99) <= TARGET_P99
        row(f"{label}: create → Ready, p99", [fmt_s(r.steady_ready, 99) for r in rounds], f"≤ 1 s {mark(ok)}")
        row(f"{label}: Restream create → pusher Pod, p99", [fmt_s(r.steady_pusher, 99) for r in rounds])
        row(f"{label}: operator CPU, mean", [f"{r.steady_busy[0]:.0f} %" for r in rounds])
    missing = [
        f"{r.missing['pod']}/{r.missing['ready']}/{r.missing['pusher']}/{r.missing['recording']}/{r.missing['steady']}"
        for r in rounds
    ]
    row("not reached in time (pod/ready/pusher/recording/steady)", missing)
    row("operator RSS before creating (idle)", [f"{r.baseline_rss_kb / 1024:.0f} MB" for r in rounds])
    ok_rss = last.hwm_kb / 1024 <= (AIM_RSS_MB if "recording" in last.children else TARGET_RSS_MB)
    target_rss = f"≤ {AIM_RSS_MB:.0f} MB with Recordings (issue 53), else ≤ {TARGET_RSS_MB:.0f} MB {mark(ok_rss)}"
    row("operator peak RSS (VmHWM)", [f"{r.hwm_kb / 1024:.0f} MB" for r in rounds], target_rss)
    if any(r.restart_hwm_kb for r in rounds):
        row(
            "restarted over them: peak RSS (VmHWM); start → every object reconciled",
            [f"{r.restart_hwm_kb / 1024:.0f} MB; {r.restart_seconds:.1f} s" for r in rounds],
        )
    befores = {r.n: r for r in rounds if r.label}
    if befores:
        row(
            "operator peak RSS, after / before (same N, same run)",
            [f"{r.hwm_kb / befores[r.n].hwm_kb:.2f}" if not r.label and r.n in befores else "—" for r in rounds],
        )
    row("operator RSS at the end of the idle window", [f"{r.idle[2] / 1024:.0f} MB" for r in rounds])
    row("operator CPU while busy, mean", [f"{r.busy[0]:.0f} %" for r in rounds])
    row("operator CPU while busy, peak (1 s)", [f"{r.busy[1]:.0f} %" for r in rounds])
    row("operator runnable but waiting for a CPU, while busy", [f"{r.busy[3]:.0f} % of wall" for r in rounds])
    row("operator CPU idle afterwards, mean", [f"{r.idle[0]:.1f} % ({r.idle_seconds:.0f} s)" for r in rounds])
    row("load average before → after", [f"{r.load_before} → {r.load_after}" for r in rounds])
    out += ["", "MB = MiB. p99 is nearest-rank (of 1 value: that value).", ""]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--counts", default="1,100,500", help="streams per round (default 1,100,500)")
    parser.add_argument("--threads", type=int, default=4, help="client threads creating objects")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement after each round")
    parser.add_argument("--timeout", type=float, default=300.0, help="per-round limit for everything to be done")
    parser.add_argument("--steady", type=int, default=50, help="pairs applied at --rate after each burst (0: none)")
    parser.add_argument("--rate", type=float, default=2.0, help="pairs per second of the steady phase")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--children", default=",".join(CHILDREN), help="what follows each stream: restream, recording (default both)"
    )
    parser.add_argument("--before", default=None, help="a commit: each round also run first with its operator")
    parser.add_argument(
        "--after", default=None, help="a commit: the second operator of each round is its, not this tree's"
    )
    parser.add_argument(
        "--restart", action="store_true", help="after each round, a fresh operator over what it made: its peak RSS"
    )
    parser.add_argument("--no-replay", action="store_true", help="skip peer 2 (the writes replayed, no operator)")
    parser.add_argument("--etcd-tmpfs", action="store_true", help="etcd's data in /dev/shm instead of on disk")
    parser.add_argument(
        "--py-spy",
        default=None,
        help="py-spy binary: profile each round's operator into $TMPDIR/operator-<namespace>.pyspy.txt",
    )
    parser.add_argument(
        "--port-range",
        default=OPERATOR_ENV["STREAMOPS_PORT_RANGE"],
        help="the host ports the operators hand out (LOW-HIGH); a narrow one shows a full range",
    )
    parser.add_argument(
        "--keep-logs", type=Path, default=None, help="a directory: each round's operator log copied there at the end"
    )
    args = parser.parse_args()
    OPERATOR_ENV["STREAMOPS_PORT_RANGE"] = args.port_range
    counts = [int(c) for c in args.counts.split(",")]
    children = tuple(c for c in CHILDREN if c in args.children.split(","))
    # SIGTERM (timeout, make interrupted) unwinds like ^C: every finally stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    t_start = time.monotonic()
    rounds: list[Round] = []
    # --etcd-tmpfs: the control plane's directory (etcd's data and WAL) in /dev/shm, so that the
    # numbers show the operator rather than this disk's fdatasync latency.
    with tempfile.TemporaryDirectory(prefix="bench-operator-", dir="/dev/shm" if args.etcd_tmpfs else None) as tmp:
        workdir = Path(tmp)
        plane = ControlPlane(workdir / "cp")
        try:
            plane.start()
            kubectl = Cluster(plane)
            kubectl.apply_crds()
            op_kubeconfig = operator_kubeconfig(kubectl, workdir / "operator.kubeconfig", duration="2h")
            capacity = api_write_capacity(plane, kubectl)
            print(f"# peer: the API server alone takes {capacity:.0f} creates/s", file=sys.stderr, flush=True)
            before = operator_source(args.before, workdir) if args.before else None
            # --after REV: the second operator from a git archive too (not this tree's editable
            # install), e.g. the two in the other order to see what the order alone does.
            after = operator_source(args.after, workdir) if args.after else None
            # (the replay peer writes a Restream's children only: without Recordings in the burst)
            peer = not args.no_replay and children == ("restream",)
            seen: Counter[str] = Counter()
            for n, source in ((n, source) for n in counts for source in ((before, after) if before else (after,))):
                label = args.before if source is not None and source is before else ""
                # a count given twice (--counts 500,500) runs in a namespace of its own each time
                base = f"bench-{n}{'-' + label if label else ''}"
                seen[base] += 1
                ns = base if seen[base] == 1 else f"{base}-{seen[base]}"
                print(
                    f"# round {n}{' before ' + label if label else ''}: load {loadavg()}", file=sys.stderr, flush=True
                )
                r = run_round(
                    n, plane, kubectl, op_kubeconfig, workdir, args.threads, args.idle, args.timeout, args.py_spy,
                    args.steady, args.rate, children, source, label, args.restart, ns,
                )  # fmt: skip
                r.after = args.after if source is not None and source is after else ""
                rounds.append(r)
                if peer and not label:
                    api = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
                    try:
                        burst = [p for p in capture(api, ns) if p.stream["metadata"]["name"].startswith("s")]
                    finally:
                        api.close()
                    r.replay = replay(
                        burst, plane, kubectl, f"replay-{n}", args.threads, lambda: api_counts(kubectl), loadavg
                    )
                    print(
                        f"#   replay with no operator: {r.replay.seconds:.1f}s, ready p99 {fmt_s(r.replay.ready, 99)}, "
                        f"writes {r.replay.writes / r.replay.seconds:.0f}/s",
                        file=sys.stderr,
                        flush=True,
                    )
                print(
                    f"#   create {r.apply_seconds:.1f}s; pod p50/p99 {fmt_s(r.pod, 50)}/{fmt_s(r.pod, 99)}; "
                    f"ready p50/p99 {fmt_s(r.ready, 50)}/{fmt_s(r.ready, 99)}; missing {r.missing}; "
                    f"RSS peak {r.hwm_kb / 1024:.0f} MB; CPU busy {r.busy[0]:.0f}% idle {r.idle[0]:.1f}%; "
                    f"steady pod/ready p99 {fmt_s(r.steady_pod, 99)}/{fmt_s(r.steady_ready, 99)}; "
                    f"operator requests/pair {r.api_operator / r.n:.1f}, "
                    f"writes {r.api_writes / r.total_seconds:.0f}/s; restarted: RSS peak "
                    f"{r.restart_hwm_kb / 1024:.0f} MB, all reconciled in {r.restart_seconds:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            storage = "etcd data in /dev/shm (tmpfs)" if args.etcd_tmpfs else f"etcd data on disk ({disk(workdir)})"
            text = report(rounds, host(), versions(plane), storage, started, time.monotonic() - t_start, capacity)
        except BaseException:
            logs = sorted(workdir.glob("operator-*.log"))
            if logs:
                print(f"# last operator log lines ({logs[-1].name}):", file=sys.stderr)
                print("\n".join(logs[-1].read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
            raise
        finally:
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in workdir.glob("operator-*.log"):
                    shutil.copy(log, args.keep_logs / log.name)
            plane.stop()
    write_report(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
