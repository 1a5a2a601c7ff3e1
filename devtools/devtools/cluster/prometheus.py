"""A Prometheus on the local cluster (devtools.cluster.local_cluster), asked from the cluster's LAN through
its NodePort Service `prometheus` in the `monitoring` namespace: targets, instant queries, alerts, metric
names. The Prometheus Operator runs it there (devtools.cluster.prometheus_operator, OperatorPrometheus)
from the chart's ServiceMonitors, PodMonitors and PrometheusRules.

Until issue 38 this module translated those objects into a Prometheus configuration itself, imitating
the operator; the real operator replaced it (docs/design/observability.md, "Prometheus on the local
cluster").
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from devtools.cluster.local_cluster import LocalCluster

Obj = dict[str, Any]

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

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> from the LAN; its `data` (AssertionError on anything but success)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = self.cluster.lan_get(f"{self.url}/api/v1/{path}{query}", timeout=10)
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
