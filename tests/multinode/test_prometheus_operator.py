"""The chart's monitoring against the real Prometheus Operator on the 2-node pod-network cluster (issues 28
and 38; devtools.cluster.prometheus_operator): the chart upgraded with its ServiceMonitors, PodMonitor and
PrometheusRule on, the operator (built from its module, the version of the CRDs) reconciling them into a
Prometheus it runs (our build). Then: the ingest, the recorder, the pusher and every operator replica are
`up` targets; the catalogue's always-present series exist with the stream's `namespace` and `stream`;
every metric the dashboards query is scraped or may be absent (catalogue `always=False`); an encoder
stopped by PID fires StreamopsStreamOffline, started again clears it.
(docs/design/observability.md, "Prometheus on the local cluster".)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import recording, restream
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.prometheus import ClusterPrometheus
from devtools.cluster.prometheus_operator import OperatorPrometheus
from devtools.cluster.release import NAMESPACE as OPERATOR_NAMESPACE
from devtools.cluster.release import Release
from devtools.media.peers import NginxRtmp, Publisher
from devtools.versions import REPO
from devtools.waits import eventually
from streamops.contract.metrics import ALL_METRICS

from tests.multinode.test_streaming import rtmp_url, start_stream, wait_live

pytestmark = pytest.mark.timeout(600)

SCRAPE_INTERVAL = "5s"
OFFLINE_ALERT = "StreamopsStreamOffline"  # active, ingest running, no media: what a stopped encoder is
# The chart's monitoring, on: scrapes every 5 s and the offline alert (off by default) after 5 s.
MONITORING = {
    "metrics": {
        "serviceMonitor": {"enabled": True, "interval": SCRAPE_INTERVAL},
        "prometheusRule": {"enabled": True, "alerts": {OFFLINE_ALERT: {"enabled": True, "for": "5s"}}},
        "grafanaDashboard": {"enabled": True},
    }
}
WORKERS = ("ingest", "recorder", "pusher")
COMPONENT = "app.kubernetes.io/component"
DASHBOARDS = REPO / "charts" / "streamops" / "dashboards"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@pytest.fixture(scope="module")
def operator_prometheus(cluster: LocalCluster, release: Release) -> Iterator[OperatorPrometheus]:
    """The operator's CRDs, the chart upgraded with MONITORING (its objects validated against them),
    the operator and a Prometheus selecting everything, started (the test waits for them once its
    stream runs: their ≈25 s overlap its setup); afterwards the session's install and a cluster
    without any of it."""
    prom = OperatorPrometheus(cluster)
    try:
        began = time.monotonic()
        prom.install_crds()
        release.upgrade(MONITORING)
        print(f"\nCRDs + helm upgrade with monitoring {time.monotonic() - began:.1f}s")
        prom.start()
        yield prom
    finally:
        prom.remove()
        release.upgrade()
        prom.remove_crds()


def pod_components(cluster: LocalCluster, ns: str) -> dict[str, str]:
    """Pod name -> its app.kubernetes.io/component, for the namespace's Pods."""
    return {p["metadata"]["name"]: p["metadata"]["labels"].get(COMPONENT, "") for p in cluster.list("pods", ns)}


def up_targets(prometheus: ClusterPrometheus) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, pod) -> the active target scraping it, for targets whose last scrape succeeded."""
    return {
        (t["labels"].get("namespace", ""), t["labels"].get("pod", "")): t
        for t in prometheus.active_targets()
        if t["health"] == "up"
    }


def dashboard_metric_names() -> set[str]:
    """Every streamops_* name the dashboards' queries and template variables use."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                texts.append(value) if key in ("expr", "query") and isinstance(value, str) else walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in sorted(DASHBOARDS.glob("*.json")):
        walk(json.loads(path.read_text()))
    return {name for text in texts for name in re.findall(r"\bstreamops_[a-zA-Z0-9_]+", text)}


def may_be_absent(name: str) -> bool:
    """A series name (a histogram's _bucket/_sum/_count too) of a catalogue metric that appears only
    with its first event (always=False) wherever it is exported."""
    histograms = {m.name for m in ALL_METRICS if m.type == "histogram"}
    family = next((b for s in HISTOGRAM_SUFFIXES if (b := name.removesuffix(s)) != name and b in histograms), name)
    specs = [m for m in ALL_METRICS if m.name == family]
    return bool(specs) and not any(m.always for m in specs)


def offline_alert(prometheus: ClusterPrometheus, ns: str) -> dict[str, Any] | None:
    return next(
        (
            a
            for a in prometheus.alerts()
            if a["labels"].get("alertname") == OFFLINE_ALERT
            and a["labels"].get("namespace") == ns
            and a["labels"].get("stream") == "cam"
        ),
        None,
    )


def test_the_operators_prometheus_scrapes_what_the_monitors_select_and_alerts_on_a_stopped_encoder(
    cluster: LocalCluster,
    release: Release,
    operator_prometheus: OperatorPrometheus,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    try:
        scrapes_and_alerts(cluster, release, operator_prometheus, namespace, publishers, tmp_path)
    finally:
        # What the operator generated, for whoever reads a failure.
        (tmp_path / "prometheus.yaml").write_text(operator_prometheus.generated_config())


def scrapes_and_alerts(
    cluster: LocalCluster,
    release: Release,
    prometheus: OperatorPrometheus,
    namespace: str,
    publishers: list[Publisher],
    tmp_path: Path,
) -> None:
    ns = namespace
    cluster.recordings_volume(ns, "node-1")
    stream = start_stream(cluster, ns)
    url = rtmp_url(cluster, ns, stream)
    encoder = cluster.publish_from_lan(url, publishers)
    wait_live(cluster, ns, timeout=60)
    with NginxRtmp(workdir=tmp_path / "nginx", address=OUTSIDE_IP, netns=cluster.network.outside) as target:
        cluster.apply(ns, recording("rec", minDurationSeconds=1), restream("out", uri=target.app_url()))
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
        cluster.wait_status("rst", ns, "out", lambda o: o["status"].get("live"), "restream live", 60)

        # Every worker Pod of the stream and every operator replica is an `up` target: the monitors'
        # selectors, namespace selectors and port names match what the operator and the chart create.
        workers = {pod: c for pod, c in pod_components(cluster, ns).items() if c in WORKERS}
        assert set(workers.values()) == set(WORKERS), workers
        operators = [p["metadata"]["name"] for p in release.operator_pods()]
        wanted = {(ns, pod) for pod in workers} | {(OPERATOR_NAMESPACE, pod) for pod in operators}
        prometheus.wait_ready()
        print(f"\nthe Prometheus Operator started -> its Prometheus Ready {prometheus.deploy_seconds:.1f}s")
        began = time.monotonic()
        try:
            eventually(lambda: wanted <= up_targets(prometheus).keys(), timeout=60, what="every target up")
        except AssertionError:
            seen = [(t["labels"], t["health"], t["lastError"]) for t in prometheus.active_targets()]
            raise AssertionError(f"targets wanted up: {sorted(wanted)}; active: {json.dumps(seen, indent=1)}") from None
        targets_up_after = time.monotonic() - began

        # The catalogue's always-present series of a stream, with its namespace and name: the
        # workers' (namespace from the target) and the operator's (its own namespace label, kept by
        # honorLabels although the operator's target is in another namespace).
        per_stream = {m.name for m in ALL_METRICS if m.always and m.exporter != "edge" and "stream" in m.labels}

        def stream_series() -> set[str]:
            result = prometheus.query(f'group by (__name__) ({{namespace="{ns}", stream="cam"}})')
            return {r["metric"]["__name__"] for r in result}

        found = eventually(lambda: per_stream <= (s := stream_series()) and s, timeout=30, what="per-stream series")
        assert per_stream <= found, sorted(per_stream - found)
        active = prometheus.query(f'streamops_livestream_active{{namespace="{ns}", stream="cam"}}')
        assert active and all(a["metric"].get("pod") in operators for a in active), active
        assert any(a["value"][1] == "1" for a in active), active
        scraped = prometheus.metric_names()
        operator_names = {
            m.name + ("_count" if m.type == "histogram" else "")
            for m in ALL_METRICS
            if m.always and m.exporter == "operator"
        }
        assert operator_names <= scraped, sorted(operator_names - scraped)

        # No panel queries a metric nobody exports: scraped here, or one that appears with its first
        # event (a refusal, a failure, a webhook) and is in the catalogue as such.
        queried = dashboard_metric_names()
        assert queried, f"no streamops_* metric in {DASHBOARDS}"
        unexplained = sorted(n for n in queried if n not in scraped and not may_be_absent(n))
        assert not unexplained, f"dashboards query metrics nobody exports here: {unexplained}"

        # A real fault: the encoder stops (by PID). The stream stays active, its ingest runs, no media.
        stopped = time.monotonic()
        encoder.stop()
        fired = eventually(
            lambda: (a := offline_alert(prometheus, ns)) and a["state"] == "firing" and a,
            timeout=90, interval=1, what=f"{OFFLINE_ALERT} firing",
        )  # fmt: skip
        fired_after = time.monotonic() - stopped
        assert fired["labels"]["severity"], fired
        restarted = time.monotonic()
        cluster.publish_from_lan(url, publishers)
        eventually(
            lambda: offline_alert(prometheus, ns) is None, timeout=90, interval=1, what=f"{OFFLINE_ALERT} cleared"
        )
        cleared_after = time.monotonic() - restarted
    print(
        f"\ntargets up {targets_up_after:.1f}s after the workers ran; encoder stopped -> {OFFLINE_ALERT} firing "
        f"{fired_after:.1f}s; encoder back -> cleared {cleared_after:.1f}s"
    )
