"""A drain of the node a pusher and a recorder run on (docs/design/handover.md, Parts 3 and 5) against
the real API server, its disruption controller and the real operator: under the restart policy
handover each has a PodDisruptionBudget; the node cordoned (the first step of `kubectl drain`) hands
both over to successors the scheduler puts elsewhere, and meanwhile the eviction API refuses to
evict either predecessor (429: what `kubectl drain` retries every 5 s); once handed over the operator
deletes them (a deletion is no eviction) and the budgets hold one Pod each again. A recorder on a
ReadWriteOnce claim cannot leave its node: no budget (a drain evicts it), and a Warning says so.

No kubelet runs here: the test binds the Pods to Node objects it makes (Ready, as a kubelet would
report them: the operator hands over only with another node to go to) and sets their status; a fake
worker per Pod answers its /status and takes the handover's requests (tests/cluster/
test_worker_handover.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from devtools.catalog import livestream, recording, restream
from devtools.cluster.fake_worker import running, serving
from devtools.cluster.local_pods import set_pod_status
from devtools.waits import eventually
from kubernetes.client.exceptions import ApiException

from tests.cluster.test_worker_handover import FakePusher, FakeRecorder, http_port

HANDOVER_FOR = "streaming.streamops.dev/handover-for"
ON_AIR = {"state": "recording", "recording": True, "duration": 600.0}


@contextmanager
def two_nodes(cluster: Any, ns: str) -> Iterator[tuple[str, str]]:
    """Two Ready Nodes (their names), deleted after the block with the Pods bound to them."""
    names = (f"d1-{ns}", f"d2-{ns}")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now}
    for name in names:
        cluster.core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        cluster.core.patch_node_status(name, {"status": {"conditions": [{**ready, "lastTransitionTime": now}]}})
        # (The API server taints a new node not-ready until its kubelet says Ready: none will here.)
        cluster.core.patch_node(name, {"spec": {"taints": None}})
    try:
        yield names
    finally:
        for pod in cluster.core.list_namespaced_pod(ns).items:  # (no kubelet confirms a deletion)
            cluster.core.delete_namespaced_pod(pod.metadata.name, ns, grace_period_seconds=0)
        for name in names:
            cluster.core.delete_node(name)


def bind(cluster: Any, ns: str, pod: str, node: str) -> None:
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod}}
    binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": node}
    cluster.core.create_namespaced_pod_binding(pod, ns, binding, _preload_content=False)
    set_pod_status(cluster, ns, pod, "Running", True, ip="127.0.0.1")


def eviction(cluster: Any, ns: str, pod: str) -> int:
    """The eviction API's answer to evicting `pod` (what `kubectl drain` asks): 201, or its refusal."""
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}}
    try:
        cluster.core.create_namespaced_pod_eviction(pod, ns, body)
    except ApiException as e:
        return int(e.status)
    return 201


def budget(cluster: Any, ns: str, name: str) -> dict[str, Any] | None:
    return cluster.get("poddisruptionbudgets", ns, name)


def counted(cluster: Any, ns: str, name: str, healthy: int, held: int) -> bool:
    """The disruption controller has seen the budget's latest spec, and counts its Pods so."""
    b = budget(cluster, ns, name) or {}
    status = b.get("status") or {}
    return (
        status.get("observedGeneration") == b.get("metadata", {}).get("generation")
        and status.get("currentHealthy") == healthy
        and status.get("desiredHealthy") == held
    )


def deleting(cluster: Any, ns: str, name: str) -> bool:
    pod = cluster.get("pods", ns, name)
    return pod is None or bool(pod["metadata"].get("deletionTimestamp"))


def test_a_cordoned_node_hands_its_pusher_and_recorder_over_and_evictions_wait_for_it(cluster, operator, namespace):
    ns = namespace
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "videos"}}
    claim["spec"] = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}}
    asking = recording("rec", minDurationSeconds=1, storage={"pvc": {"claimName": "videos"}})
    asking["metadata"]["annotations"] = {"streaming.streamops.dev/restarts": "handover"}
    with two_nodes(cluster, ns) as (_, drained):
        cluster.apply(ns, claim, livestream("cam", screenshots={"enabled": False}))
        cluster.apply(ns, restream("out", uri="rtmp://127.0.0.1:9/live"), asking)
        pusher = eventually(lambda: cluster.get("pods", ns, "cam-pusher"), what="the pusher Pod")
        recorder = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="the recorder Pod")
        with serving(FakePusher(), http_port(pusher)), serving(FakeRecorder(ON_AIR), http_port(recorder)) as old:
            bind(cluster, ns, "cam-pusher", drained)
            bind(cluster, ns, "rec-recorder", drained)
            eventually(lambda: (cluster.get("restreams", ns, "out").get("status") or {}).get("live"), what="pushing")
            eventually(lambda: (cluster.get("recordings", ns, "rec").get("status") or {}).get("recording"), what="rec")
            for name in ("cam-pusher", "rec-recorder"):
                eventually(lambda name=name: counted(cluster, ns, name, healthy=1, held=1), what=f"{name}'s budget")
                assert eviction(cluster, ns, name) == 429, "a drain cannot take it"

            # Cordoned: a successor each, not tied to the node; both Ready, neither fake answers yet,
            # so each handover waits mid-way (the pusher's targets let go, the recorder's video
            # released) while a drain would try its evictions: each is refused.
            cluster.cordon(drained)
            successors = [running(cluster, ns, name) for name in ("cam-pusher-b", "rec-recorder-b")]
            for successor in successors:
                assert successor["metadata"]["annotations"][HANDOVER_FOR] == "node"
                assert "affinity" not in successor["spec"], "nothing ties it to the cordoned node"
            for name in ("cam-pusher", "rec-recorder"):
                eventually(lambda name=name: counted(cluster, ns, name, healthy=2, held=2), what=f"{name} holds 2")
                assert eviction(cluster, ns, name) == 429, "the predecessor is held while it hands over"
                assert eviction(cluster, ns, f"{name}-b") == 429, "and so is its Ready successor"

            new_pusher, new_recorder = (http_port(p) for p in successors)
            with serving(FakePusher(), new_pusher), serving(FakeRecorder({"state": "standby"}), new_recorder) as new:
                eventually(lambda: new.posts, what="POST /start to the recorder's successor")
                old.status = {**old.status, "state": "stopped", "recording": False, "handover": "released"}
                for kind, name in (("Restream", "out"), ("Recording", "rec")):
                    [event] = eventually(lambda k=kind, n=name: cluster.events(ns, k, n, "HandedOver"), what=name)
                    assert event["message"].endswith("because node changed"), event["message"]
                assert deleting(cluster, ns, "cam-pusher") and deleting(cluster, ns, "rec-recorder"), "by the operator"
                for name in ("cam-pusher", "rec-recorder"):
                    eventually(lambda name=name: counted(cluster, ns, name, healthy=1, held=1), what=f"{name} holds 1")


def test_a_recorder_on_a_one_node_claim_has_no_budget_and_says_it_cannot_move(cluster, operator, namespace):
    """A ReadWriteOnce claim keeps every recorder of it on its node: a budget would hold a drain for
    ever. None is made; cordoned, the recorder stays and a Warning says why (the drain evicts it)."""
    ns = namespace
    asking = recording("rec", minDurationSeconds=1)  # (the default claim: ReadWriteOnce here)
    asking["metadata"]["annotations"] = {"streaming.streamops.dev/restarts": "handover"}
    with two_nodes(cluster, ns) as (_, drained):
        cluster.apply(ns, livestream("cam", screenshots={"enabled": False}), asking)
        recorder = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="the recorder Pod")
        with serving(FakeRecorder(ON_AIR), http_port(recorder)):
            bind(cluster, ns, "rec-recorder", drained)
            eventually(lambda: (cluster.get("recordings", ns, "rec").get("status") or {}).get("recording"), what="rec")
            cluster.cordon(drained)
            [event] = eventually(lambda: cluster.events(ns, "Recording", "rec", "RecorderCannotMove"), what="Event")
            assert event["type"] == "Warning" and "is ReadWriteOnce (only its node mounts it)" in event["message"]
            assert budget(cluster, ns, "rec-recorder") is None and cluster.get("pods", ns, "rec-recorder-b") is None
