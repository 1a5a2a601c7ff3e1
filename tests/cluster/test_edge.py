"""The namespace's edge tier as its own controller (control/edge/, docs/design/playback.md): it comes
with the first stream that wants it, follows the streams that join and leave, and goes with the last;
the API server's refusal of it is said in the status of the streams that want it, and lifted when the
server accepts it."""

from __future__ import annotations

from typing import Any

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.suite import Cluster, Operator
from devtools.waits import eventually
from streamops.contract.edge import EDGE_NAME, ROUTES_FILE

ROUTED = {"ingress": {"host": "tv.example"}, "edge": {"enabled": True}}
NO_DEPLOYMENTS = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "no-deployments"},
    "spec": {"hard": {"count/deployments.apps": "0"}},
}


def owners(cluster: Cluster, ns: str) -> list[str] | None:
    deployment = cluster.get("deployments", ns, EDGE_NAME)
    if deployment is None:
        return None
    return sorted(o["name"] for o in deployment["metadata"].get("ownerReferences") or [])


def routes(cluster: Cluster, ns: str) -> str:
    return ((cluster.get("configmaps", ns, EDGE_NAME) or {}).get("data") or {}).get(ROUTES_FILE, "")


def ready_reason(cluster: Cluster, ns: str, name: str) -> Any:
    return (condition(cluster.get("livestreams", ns, name), "Ready") or {}).get("reason")


def test_the_edge_comes_with_the_first_stream_that_wants_it_and_goes_with_the_last(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    ns = namespace
    cluster.apply(ns, livestream("a", playback=ROUTED))
    eventually(lambda: owners(cluster, ns) == ["a"], timeout=60, what="the edge, owned by the first stream")
    for kind in ("services", "horizontalpodautoscalers"):
        eventually(lambda kind=kind: cluster.get(kind, ns, EDGE_NAME), timeout=30, what=f"the edge's {kind}")
    cluster.apply(
        ns, livestream("b", playback={**ROUTED, "ingress": {"host": "tv.example", "path": f"/streams/{ns}/b2"}})
    )
    eventually(lambda: owners(cluster, ns) == ["a", "b"], timeout=60, what="the edge owned by both")
    both = f"/streams/{ns}/a a public\n/streams/{ns}/b2 b public\n"
    eventually(lambda: routes(cluster, ns) == both, timeout=30, what="both streams' lines in the edge's routes")
    cluster.delete("livestream", ns, "a")
    eventually(lambda: owners(cluster, ns) == ["b"], timeout=60, what="the edge without the deleted stream")
    eventually(lambda: routes(cluster, ns) == f"/streams/{ns}/b2 b public\n", timeout=30, what="its line gone")
    cluster.delete("livestream", ns, "b")
    eventually(lambda: owners(cluster, ns) is None, timeout=60, what="the edge gone with the last stream")


def test_a_refused_edge_is_said_in_the_streams_status_until_the_server_accepts_it(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    ns = namespace
    cluster.apply(ns, NO_DEPLOYMENTS)
    cluster.apply(ns, livestream("cam", playback=ROUTED))
    eventually(lambda: ready_reason(cluster, ns, "cam") == "EdgeRejected", timeout=60, what="EdgeRejected in Ready")
    message = (condition(cluster.get("livestreams", ns, "cam"), "Ready") or {}).get("message", "")
    assert message.startswith(f"the edge {EDGE_NAME} refused:"), message
    cluster.delete("resourcequota", ns, "no-deployments", wait=True)
    eventually(lambda: owners(cluster, ns) == ["cam"], timeout=60, what="the edge, once the quota is gone")
    eventually(lambda: ready_reason(cluster, ns, "cam") != "EdgeRejected", timeout=60, what="EdgeRejected lifted")
