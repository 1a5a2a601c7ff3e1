"""A Prometheus on the local cluster (devtools.cluster.local_cluster), asked from the cluster's LAN through
its NodePort Service `prometheus` in the `monitoring` namespace: targets, instant queries, alerts, metric
names. The Prometheus Operator runs it there (devtools.cluster.prometheus_operator, OperatorPrometheus)
from the chart's ServiceMonitors, PodMonitors and PrometheusRules. `on_loopback()` gives it to a process
on this machine (`kubectl streamops stats --prometheus`) at http://127.0.0.1:<port>, as a user's
`kubectl port-forward` would.

Until issue 38 this module translated those objects into a Prometheus configuration itself, imitating
the operator; the real operator replaced it (docs/design/observability.md, "Prometheus on the local
cluster").
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from typing import Any

from devtools.cluster.local_cluster import LocalCluster
from devtools.ports import LOOPBACK, free_port

Obj = dict[str, Any]


class Unanswered(AssertionError):
    """A request got no HTTP answer at all: a wait may treat it as 'not yet' (a loaded node)."""


NAMESPACE = "monitoring"
NAME = "prometheus"  # the NodePort Service the LAN reaches it through
PORT = 9090


class ClusterPrometheus:
    """The query API of the Prometheus in NAMESPACE; a subclass puts it there."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def _ready(self) -> bool:
        pods = self.cluster.list("pods", NAMESPACE, "app.kubernetes.io/name=prometheus")
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for p in pods
            if not p["metadata"].get("deletionTimestamp")
            for c in p.get("status", {}).get("conditions", [])
        )

    @property
    def url(self) -> str:
        """Prometheus as the LAN reaches it: its NodePort on the first node."""
        service = self.cluster.get("services", NAMESPACE, NAME)
        assert service is not None, "Prometheus is not deployed"
        return f"http://{self.cluster.network.nodes[0].ip}:{service['spec']['ports'][0]['nodePort']}"

    @contextlib.contextmanager
    def on_loopback(self) -> Iterator[str]:
        """Prometheus at http://127.0.0.1:<port> for the block: a portal (devtools.cluster.portal) from this
        machine's loopback to its NodePort on the LAN, stopped by its PID afterwards."""
        node, port = self.url.removeprefix("http://"), free_port()
        mapping = f"{LOOPBACK}:{port}={self.cluster.network.outside}/{node}"
        portal = subprocess.Popen(
            [sys.executable, "-m", "devtools.cluster.portal", mapping], stdout=subprocess.PIPE, text=True
        )
        try:
            assert portal.stdout is not None and portal.stdout.readline().strip() == "ready", "the portal did not start"
            yield f"http://{LOOPBACK}:{port}"
        finally:
            portal.terminate()
            try:
                portal.wait(5)
            except subprocess.TimeoutExpired:
                portal.kill()
                portal.wait(5)
            if portal.stdout is not None:
                portal.stdout.close()

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> from the LAN; its `data` (AssertionError on anything but success)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = self.cluster.lan_get(f"{self.url}/api/v1/{path}{query}", timeout=10)
        if status == 0:
            raise Unanswered(f"Prometheus /api/v1/{path}: no answer from the LAN (connection refused or 10 s)")
        assert status == 200, f"Prometheus /api/v1/{path}: {status} {body[:300]!r}"
        answer = json.loads(body)
        assert answer.get("status") == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[Obj]:
        """An instant query's vector: [{"metric": {labels}, "value": [t, "v"]}, ...]."""
        return list(self.api("query", query=expr)["result"])

    def active_targets(self) -> list[Obj]:
        return list(self.api("targets", state="active")["activeTargets"])

    def alerts(self) -> list[Obj]:
        """Pending and firing alerts: [{"labels": {...}, "state": "pending"|"firing", ...}]."""
        return list(self.api("alerts")["alerts"])

    def metric_names(self) -> set[str]:
        return set(self.api("label/__name__/values"))
