"""Recording and Restream objects without media: children and owners, waiting conditions,
observedGeneration across spec changes, `active` toggling, auto recording, garbage collection.
(The media side, with real workers, is in test_media_flow.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from devtools.catalog import livestream, recording, restream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import set_pod_status
from devtools.waits import eventually

GROUP = "streaming.streamops.dev"


def wait_status(cluster, plural, ns, name, probe, what, timeout=30.0):
    return eventually(
        lambda: (o := cluster.get(plural, ns, name)) and o.get("status") and probe(o) and o, timeout, what=what
    )


def patch(cluster, short, name, ns, body):
    cluster.patch(short, ns, name, body)


def test_restream_waits_for_its_stream_and_toggles(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, restream("out", uri="rtmp://127.0.0.1:1935/live"))
    r = wait_status(cluster, "restreams", ns, "out", lambda o: condition(o, "Ready"), "Ready")
    assert (condition(r, "Ready")["status"], condition(r, "Ready")["reason"]) == ("False", "StreamNotFound")
    assert r["status"]["observedGeneration"] == 1 and condition(r, "Ready")["observedGeneration"] == 1
    assert cluster.get("pods", ns, "cam-pusher") is None

    cluster.apply(ns, livestream("cam"))
    pod = eventually(lambda: cluster.get("pods", ns, "cam-pusher"), what="pusher Pod once the stream exists")
    stream = cluster.get("livestreams", ns, "cam")
    rst = cluster.get("restreams", ns, "out")
    [owner] = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Restream", rst["metadata"]["uid"], False)
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert config["stream"] == "cam" and "feedUrl" not in config, "the stream's pusher: targets come over PUT"
    r = wait_status(
        cluster, "restreams", ns, "out", lambda o: condition(o, "Ready")["reason"] == "StreamNotLive", "StreamNotLive"
    )
    refs = r["metadata"]["ownerReferences"]
    assert [(x["kind"], x["uid"]) for x in refs] == [("LiveStream", stream["metadata"]["uid"])]
    assert condition(r, "Live")["status"] == "False" and r["status"]["live"] is False

    patch(cluster, "rst", "out", ns, {"spec": {"active": False}})
    eventually(lambda: cluster.get("pods", ns, "cam-pusher") is None, what="pusher Pod removed")
    r = wait_status(cluster, "restreams", ns, "out", lambda o: o["status"]["observedGeneration"] == 2, "generation 2")
    assert (condition(r, "Ready")["status"], condition(r, "Ready")["reason"]) == ("True", "Inactive")
    assert condition(r, "Reconciling") is None

    patch(cluster, "rst", "out", ns, {"spec": {"active": True}})
    first = eventually(lambda: cluster.get("pods", ns, "cam-pusher"), what="pusher Pod back")
    patch(cluster, "rst", "out", ns, {"spec": {"noAudioMode": "silence"}})
    r = wait_status(cluster, "restreams", ns, "out", lambda o: o["status"]["observedGeneration"] == 4, "generation 4")
    assert all(c["observedGeneration"] == 4 for c in r["status"]["conditions"])
    assert cluster.get("pods", ns, "cam-pusher")["metadata"]["uid"] == first["metadata"]["uid"], (
        "a target's change is sent to the pusher: its Pod is not rolled (docs/design/shared-pusher.md)"
    )

    cluster.delete("lst", ns, "cam", wait=True)
    eventually(lambda: cluster.get("restreams", ns, "out") is None, timeout=60, what="Restream deleted with its stream")


def test_recording_conditions_follow_spec_and_stream(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, recording("rec"))
    r = wait_status(cluster, "recordings", ns, "rec", lambda o: condition(o, "Ready"), "Ready")
    assert condition(r, "Ready")["reason"] == "StreamNotFound" and cluster.get("pods", ns, "rec-recorder") is None

    cluster.apply(ns, livestream("cam", recording={"reconnectWindowSeconds": 7}))
    pod = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="recorder Pod")
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert config["reconnectWindowSeconds"] == 7 and config["title"] == "Camera"
    rec = cluster.get("recordings", ns, "rec")
    assert config["directory"] == f"{ns}/rec-{rec['metadata']['uid'][:8]}" and config["recordingsRoot"] == "/recordings"
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "recordings")
    assert volume["persistentVolumeClaim"]["claimName"] == "streamops-recordings"
    claim = eventually(lambda: cluster.get("persistentvolumeclaims", ns, "streamops-recordings"), what="PVC")
    assert not claim["metadata"].get("ownerReferences"), "videos outlive everything: the claim is owned by nothing"
    r = wait_status(
        cluster, "recordings", ns, "rec", lambda o: condition(o, "Ready")["reason"] == "StreamNotLive", "waiting"
    )
    assert condition(r, "Recording")["status"] == "False" and condition(r, "Recording")["reason"] == "StreamNotLive"
    assert condition(r, "Reconciling") is None and condition(r, "Stalled") is None

    patch(cluster, "rec", "rec", ns, {"spec": {"maxSegmentSeconds": 60}})
    eventually(
        lambda: (p := cluster.get("pods", ns, "rec-recorder")) and p["metadata"]["uid"] != pod["metadata"]["uid"],
        what="recorder Pod rolled",
    )
    r = wait_status(cluster, "recordings", ns, "rec", lambda o: o["status"]["observedGeneration"] == 2, "generation 2")
    assert all(c["observedGeneration"] == 2 for c in r["status"]["conditions"])

    # Stopping a Recording whose recorder never ran: finalised at once, nothing recorded.
    patch(cluster, "rec", "rec", ns, {"spec": {"stopped": True}})
    r = wait_status(cluster, "recordings", ns, "rec", lambda o: condition(o, "Succeeded"), "Succeeded")
    assert condition(r, "Ready")["status"] == "True" and r["status"]["videos"] == [] and r["status"]["endedAt"]
    eventually(lambda: cluster.get("pods", ns, "rec-recorder") is None, what="recorder Pod removed")
    # The Event follows the status patch: waited for, not read once.
    reasons = eventually(
        lambda: (r := set(cluster.event_reasons(ns, name="rec"))) and "Finished" in r and r, what="Finished Event"
    )
    assert "Finished" in reasons, "Ready turned True"
    assert "StreamNotFound" not in reasons, "a new Recording waiting for its stream is no Event: its status says so"


def test_auto_recording_is_owned_by_the_stream_and_named_predictably(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam", recording={"auto": True}))
    auto = eventually(lambda: cluster.get("recordings", ns, "cam-auto"), what="Recording cam-auto")
    stream = cluster.get("livestreams", ns, "cam")
    [ref] = auto["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("LiveStream", stream["metadata"]["uid"], True)
    assert auto["spec"] == {"streamRef": {"name": "cam"}, "stopped": False}
    eventually(lambda: cluster.get("pods", ns, "cam-auto-recorder"), what="its recorder Pod")
    wait_status(
        cluster, "recordings", ns, "cam-auto", lambda o: condition(o, "Ready")["reason"] == "StreamNotLive", "waits"
    )

    patch(cluster, "lst", "cam", ns, {"spec": {"recording": {"auto": False}}})
    eventually(lambda: cluster.get("recordings", ns, "cam-auto")["spec"]["stopped"], what="auto off stops it")
    wait_status(cluster, "recordings", ns, "cam-auto", lambda o: condition(o, "Succeeded"), "finalised")
    eventually(lambda: cluster.get("pods", ns, "cam-auto-recorder") is None, what="recorder Pod removed")

    patch(cluster, "lst", "cam", ns, {"spec": {"recording": {"auto": True}}})
    eventually(
        lambda: (
            (r := cluster.get("recordings", ns, "cam-auto"))
            and r["metadata"]["uid"] != auto["metadata"]["uid"]
            and not r["spec"]["stopped"]
        ),
        what="a fresh cam-auto when auto is switched on again",
    )
    cluster.delete("lst", ns, "cam", wait=True)
    eventually(lambda: cluster.get("recordings", ns, "cam-auto") is None, timeout=60, what="auto Recording GC'd")


def test_restream_with_a_missing_key_secret_stalls_until_it_exists(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam"), restream("out", streamKeySecretRef={"name": "yt"}))
    r = wait_status(
        cluster, "restreams", ns, "out", lambda o: (c := condition(o, "Stalled")) and c["status"] == "True", "Stalled"
    )
    assert condition(r, "Stalled")["reason"] == "StreamKeySecretNotFound"
    assert cluster.get("pods", ns, "cam-pusher") is None
    cluster.create_secret(ns, "yt", {"streamKey": "k3y-value"})
    cluster.allow_reference(ns, "yt")
    eventually(lambda: cluster.get("pods", ns, "cam-pusher"), timeout=20, what="pusher Pod once the key exists")
    wait_status(cluster, "restreams", ns, "out", lambda o: condition(o, "Stalled") is None, "Stalled gone")


def test_recorder_lost_with_its_node_is_force_deleted_and_replaced(cluster, operator, namespace):
    """Node loss (docs/design/node-loss.md), played as the control plane plays it, without a kubelet:
    the recorder Pod is bound to a node and Running; the node dies; the taint eviction controller
    marks the Pod (DisruptionTarget) and deletes it with its grace period; no kubelet ever confirms,
    so it stays Terminating. The operator says RecorderNodeLost meanwhile, force-deletes it once the
    grace period has passed by node_lost_force_delete_seconds, posts a NodeLost Warning Event naming
    the node, and creates the recorder again."""
    ns = namespace
    node = f"lost-{ns}"
    # A Node object, so that the pod GC does not take the Pod for an orphan (its node unknown) first.
    cluster.core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    try:
        cluster.apply(ns, livestream("cam"), recording("rec"))
        old = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="recorder Pod")
        tolerations = {t["key"]: t for t in old["spec"]["tolerations"] if t.get("effect") == "NoExecute"}
        assert tolerations["node.kubernetes.io/unreachable"]["tolerationSeconds"] == 30
        assert tolerations["node.kubernetes.io/not-ready"]["tolerationSeconds"] == 30
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "rec-recorder"}}
        binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": node}
        cluster.core.create_namespaced_pod_binding("rec-recorder", ns, binding, _preload_content=False)
        set_pod_status(cluster, ns, "rec-recorder", "Running", ready=True, ip="127.0.0.1")

        # The node is lost: not ready (node lifecycle controller), then evicted (taint eviction controller).
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "False", "lastTransitionTime": now},
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": now,
            },
        ]
        cluster.core.patch_namespaced_pod_status(
            "rec-recorder", ns, {"status": {"conditions": conditions}}, _content_type="application/merge-patch+json"
        )
        # A short grace period: the force-delete comes node_lost_force_delete_seconds (10 s) after
        # it, whatever its length; RecorderNodeLost is said at once, well within it.
        cluster.core.delete_namespaced_pod("rec-recorder", ns, grace_period_seconds=5)
        terminating = cluster.get("pods", ns, "rec-recorder")
        assert terminating["metadata"]["uid"] == old["metadata"]["uid"] and terminating["metadata"]["deletionTimestamp"]

        r = wait_status(
            cluster,
            "recordings",
            ns,
            "rec",
            lambda o: condition(o, "Ready")["reason"] == "RecorderNodeLost",
            "RecorderNodeLost while the Pod is stuck terminating",
        )
        assert node in condition(r, "Ready")["message"]

        new = eventually(
            lambda: (
                (p := cluster.get("pods", ns, "rec-recorder")) and p["metadata"]["uid"] != old["metadata"]["uid"] and p
            ),
            timeout=60,
            what="the lost recorder force-deleted after its grace period and created again",
        )
        assert not new["metadata"].get("deletionTimestamp") and not new["spec"].get("nodeName")
        events = eventually(
            lambda: (
                cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=rec,reason=NodeLost").items
            ),
            what="NodeLost Event on the Recording",
        )
        assert (
            events[0].type == "Warning" and node in events[0].message and events[0].involved_object.kind == "Recording"
        )
        wait_status(
            cluster,
            "recordings",
            ns,
            "rec",
            lambda o: condition(o, "Ready")["reason"] in ("RecorderStarting", "RecorderPending", "StreamNotLive"),
            "the Recording waits for its new recorder",
        )
    finally:
        cluster.core.delete_node(node)


def test_recorders_of_a_claim_share_its_node_and_an_unschedulable_one_says_why(cluster, operator, namespace):
    """Two Recordings on the default (ReadWriteOnce) claim: both recorder Pods are accepted by the
    API server with a required podAffinity to the claim's recorders; one the scheduler cannot place
    (written here as the scheduler would) turns its Recording's Ready to RecorderUnschedulable with
    the scheduler's message, and an Event says so, while the stream is not live yet."""
    ns = namespace
    cluster.apply(ns, livestream("cam"), recording("rec"), recording("rec2"))
    for name in ("rec-recorder", "rec2-recorder"):
        pod = eventually(lambda n=name: cluster.get("pods", ns, n), what=name)
        assert pod["metadata"]["labels"][f"{GROUP}/recordings-claim"] == "streamops-recordings"
        (term,) = pod["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"] == {f"{GROUP}/recordings-claim": "streamops-recordings"}

    message = "0/2 nodes are available: 1 node(s) didn't match pod affinity rules, 1 Insufficient cpu."
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastTransitionTime": now,
    }
    cluster.core.patch_namespaced_pod_status(
        "rec2-recorder",
        ns,
        {"status": {"phase": "Pending", "conditions": [scheduled]}},
        _content_type="application/merge-patch+json",
    )
    # Said while the stream is offline: a recorder that cannot run would miss its next live session.
    r = wait_status(
        cluster,
        "recordings",
        ns,
        "rec2",
        lambda o: condition(o, "Ready")["reason"] == "RecorderUnschedulable",
        "RecorderUnschedulable",
    )
    assert message in condition(r, "Ready")["message"] and condition(r, "Recording")["status"] == "False"
    assert not (cluster.get("livestreams", ns, "cam").get("status") or {}).get("live")
    eventually(
        lambda: (
            cluster.core.list_namespaced_event(
                ns, field_selector="involvedObject.name=rec2,reason=RecorderUnschedulable"
            ).items
        ),
        what="RecorderUnschedulable Event",
    )
