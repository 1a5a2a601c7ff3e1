"""The operator's own node loss (issue 25), on the pod-network cluster with the chart's two
operator replicas: the node of the leader (the replica holding the Lease) dies; the standby on the
other node takes the Lease over and reconciles, so a LiveStream created right after the loss gets
its ingest Pod Running on the node that survived. The time is measured and printed (MEASURED ...,
bench/results/e2e.md), not asserted; the test asserts that it recovers.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import NAMESPACE as OPERATOR_NAMESPACE
from devtools.cluster.release import Release
from devtools.waits import eventually

pytestmark = pytest.mark.timeout(900)


def ready(pod: dict[str, Any]) -> bool:
    return not pod["metadata"].get("deletionTimestamp") and (condition(pod, "Ready") or {}).get("status") == "True"


def replicas_apart(cluster: LocalCluster, release: Release) -> tuple[dict[str, Any], dict[str, Any]]:
    """The leader and a standby waiting on another node. The chart prefers them apart (a
    podAntiAffinity), but after an earlier test's node loss both may run on the node that survived:
    the standby is then deleted while the leader's node is cordoned, and comes back elsewhere."""

    def pair() -> tuple[dict[str, Any], dict[str, Any]] | None:
        leader = release.leader_pod()
        pods = [p for p in release.operator_pods() if ready(p)]
        standbys = [p for p in pods if leader and p["metadata"]["name"] != leader["metadata"]["name"]]
        return (leader, standbys[0]) if leader and ready(leader) and standbys else None

    leader, standby = eventually(pair, timeout=120, interval=1, what="a leader and a standby operator Pod")
    node = leader["spec"]["nodeName"]
    if standby["spec"]["nodeName"] == node:
        with cluster.scheduling_away_from([node]):
            cluster.kubectl("delete", "pod", "-n", OPERATOR_NAMESPACE, standby["metadata"]["name"])

            def apart() -> tuple[dict[str, Any], dict[str, Any]] | None:
                found = pair()
                return found if found and found[1]["spec"]["nodeName"] != node else None

            leader, standby = eventually(apart, timeout=120, interval=1, what=f"a standby off {node}")
    eventually(
        lambda: "standby: lease" in cluster.kubectl(
            "logs", "-n", OPERATOR_NAMESPACE, f"pod/{standby['metadata']['name']}", check=False
        ).stdout,
        timeout=60, interval=1, what="the standby waiting for the Lease",
    )  # fmt: skip
    return leader, standby


def test_leader_node_lost_a_new_stream_is_reconciled_by_the_standby(
    cluster: LocalCluster, release: Release, namespace: str
) -> None:
    ns = namespace
    leader, standby = replicas_apart(cluster, release)
    lost, survivor = leader["spec"]["nodeName"], standby["spec"]["nodeName"]
    lease_before = cluster.get("leases", OPERATOR_NAMESPACE, "streamops") or {}

    began = time.monotonic()
    cluster.stop_node(lost)
    try:
        # What the node lifecycle controller's NoSchedule taint does once the node is noticed (16 s
        # on this cluster): the new ingest Pod is not placed on the dead node. (One placed there
        # waits for the worker node-loss path, docs/design/node-loss.md: measured separately.)
        cluster.kubectl("cordon", lost)
        cluster.apply(ns, livestream("after"))
        eventually(
            lambda: release.leader() == standby["metadata"]["name"],
            timeout=120, interval=0.2, what="the standby holding the Lease",
        )  # fmt: skip
        took_over = time.monotonic() - began
        pod = eventually(
            lambda: cluster.pod_running(ns, "after-ingest"), timeout=240, interval=0.2, what="the new ingest Running"
        )
        running = time.monotonic() - began
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nMEASURED operator node lost: standby holds the Lease after {took_over:.1f} s (load {load})")
        print(f"MEASURED operator node lost: new LiveStream's ingest Running after {running:.1f} s (load {load})")
        assert pod["spec"]["nodeName"] == survivor
        lease = cluster.get("leases", OPERATOR_NAMESPACE, "streamops") or {}
        assert lease["spec"]["leaseTransitions"] == lease_before["spec"]["leaseTransitions"] + 1
        cluster.wait_status(
            "lst", ns, "after", lambda o: o["status"]["observedGeneration"] == 1, "status from the new leader", 60
        )
    finally:
        cluster.start_node(lost)
        cluster.wait_ready_nodes(2)
        cluster.kubectl("uncordon", lost)
