"""The running operator's /metrics (on 127.0.0.1, `--metrics-address`/`--metrics-port` as the harness
starts it): it leads and counts its reconciles; a LiveStream created here shows as active, then
inactive when switched off, its ingest Pod's container restarts (set through pods/status, as a
kubelet would) as streamops_worker_restarts, and its series go when it is deleted. Every name it
exports is an operator metric of the catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

from devtools.catalog import livestream
from devtools.cluster.suite import Cluster, Operator
from devtools.http_client import http_get
from devtools.waits import eventually
from prometheus_client.parser import text_string_to_metric_families
from streamops.contract.metrics import OPERATOR_METRICS

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(operator: Operator) -> Series:
    status, body = http_get(operator.metrics_url)
    assert status == 200
    families = list(text_string_to_metric_families(body.decode()))
    assert {f.name for f in families} <= {m.family for m in OPERATOR_METRICS}, "only the catalogue's names"
    return {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}


def value(series: Series, name: str, **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))


def ingest_restarted(cluster: Cluster, ns: str, restarts: int) -> None:
    """cam-ingest Running and Ready, its container restarted `restarts` times (a kubelet's status)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": "Running",
        "conditions": [{"type": t, "status": "True", "lastTransitionTime": now} for t in ("PodScheduled", "Ready")],
        "containerStatuses": [
            {
                "name": "ingest",
                "ready": True,
                "restartCount": restarts,
                "image": "streamops-worker",
                "imageID": "",
                "state": {"running": {"startedAt": now}},
            }
        ],
    }
    cluster.core.patch_namespaced_pod_status(
        "cam-ingest", ns, {"status": status}, _content_type="application/merge-patch+json"
    )


def test_the_operator_exports_its_reconciles_and_a_streams_series(cluster: Cluster, operator: Operator, namespace: str):
    before = scrape(operator)
    assert value(before, "streamops_operator_leader") == 1
    ok_before = value(before, "streamops_operator_reconciles_total", kind="livestream", result="ok") or 0

    cluster.apply(namespace, livestream("cam"))
    active = eventually(
        lambda: (
            (s := scrape(operator))
            and value(s, "streamops_livestream_active", namespace=namespace, stream="cam") == 1
            and s
        ),
        what="streamops_livestream_active 1",
    )
    assert (value(active, "streamops_operator_reconciles_total", kind="livestream", result="ok") or 0) > ok_before
    assert (value(active, "streamops_operator_reconcile_duration_seconds_count", kind="livestream") or 0) > 0
    assert (value(active, "streamops_operator_queue_latency_seconds_count", kind="livestream") or 0) > 0
    assert (value(active, "streamops_operator_objects", kind="livestream") or 0) >= 1

    eventually(lambda: cluster.get("pods", namespace, "cam-ingest"), what="the ingest Pod")
    ingest_restarted(cluster, namespace, 3)
    eventually(
        lambda: (
            value(scrape(operator), "streamops_worker_restarts", namespace=namespace, stream="cam", worker="ingest")
            == 3
        ),
        what="streamops_worker_restarts 3",
    )

    cluster.patch("lst", namespace, "cam", {"spec": {"active": False}})
    eventually(
        lambda: value(scrape(operator), "streamops_livestream_active", namespace=namespace, stream="cam") == 0,
        what="streamops_livestream_active 0",
    )

    cluster.delete("lst", namespace, "cam", wait=True)
    gone = eventually(
        lambda: (
            (s := scrape(operator))
            and value(s, "streamops_livestream_active", namespace=namespace, stream="cam") is None
            and s
        ),
        what="the stream's series gone",
    )
    assert not [k for k in gone if ("stream", "cam") in k[1] and ("namespace", namespace) in k[1]], "none of its series"
