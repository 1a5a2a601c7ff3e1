"""A pull stream deactivated after its inactivity timeout stays deactivated when its ingest Pod goes
away and when the operator restarts, until the user does something: a spec change, or removing the
annotation that records it (docs/design/pull-deactivation.md).

The ingest runs as a local process for its Pod (devtools/cluster/local_pods.py), pulling from a URL
where nothing listens: it gives up after inactivityTimeoutSeconds, as in a cluster.
"""

from __future__ import annotations

import json
import time

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.ports import free_port
from devtools.waits import eventually

DEACTIVATED = "streaming.streamops.dev/deactivated"
TIMEOUT = 10  # inactivityTimeoutSeconds: the API's minimum


def ready(stream):
    c = condition(stream, "Ready")
    return (c["status"], c["reason"]) if c else None


def stream_when(cluster, ns, probe, what, timeout=30.0):
    return eventually(
        lambda: (s := cluster.get("livestreams", ns, "cam")) and probe(s) and s, timeout=timeout, what=what
    )


def no_ingest_pod_for(cluster, ns, seconds, why):
    """A Pod comes back within a second when the operator wants one (its DELETED event reconciles)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pod = cluster.get("pods", ns, "cam-ingest")
        assert pod is None, f"{why}: the operator created ingest Pod {pod['metadata']['uid']}: it would pull again"
        time.sleep(0.2)


def deactivated_events(cluster, ns):
    return cluster.events(ns, "LiveStream", "cam", "Deactivated")


def dead_url():
    return f"rtmp://127.0.0.1:{free_port()}/live/a"  # nothing listens: no data, ever


def test_pull_deactivation_survives_ingest_and_operator_restarts(cluster, operator, namespace, local_pods: LocalPods):
    ns = namespace
    pull = {"pull": {"urls": [dead_url()], "inactivityTimeoutSeconds": TIMEOUT}}
    cluster.apply(ns, livestream("cam", source=pull, screenshots={"enabled": False}))
    ingest = local_pods.start(ns, "cam-ingest")
    stream_when(cluster, ns, lambda s: ready(s) == ("True", "IngestRunning"), "the pull ingest running")

    # The worker gives up after the timeout; the stream says so.
    eventually(lambda: ingest.status()["active"] is False, timeout=TIMEOUT + 20, what="the worker deactivated")
    stream_when(cluster, ns, lambda s: s["status"].get("active") is False, "status.active false")

    # Its Pod goes away (node lost, evicted, deleted; the operator may have removed it already):
    # no new ingest pulls again.
    ingest.stop()
    cluster.delete("pod", ns, "cam-ingest", missing_ok=True)
    uid = ingest.pod["metadata"]["uid"]
    eventually(
        lambda: (p := cluster.get("pods", ns, "cam-ingest")) is None or p["metadata"]["uid"] != uid,
        what="the deactivated ingest's Pod gone",
    )
    no_ingest_pod_for(cluster, ns, 5, "ingest Pod deleted")

    settled = stream_when(cluster, ns, lambda s: ready(s) == ("False", "Deactivated"), "Ready False, Deactivated")
    assert settled["status"]["active"] is False and settled["status"]["live"] is False
    message = condition(settled, "Ready")["message"]
    assert f"no data for {TIMEOUT} s" in message and DEACTIVATED in message, message
    record = json.loads(settled["metadata"]["annotations"][DEACTIVATED])
    assert (record["uid"], record["generation"]) == (settled["metadata"]["uid"], settled["metadata"]["generation"])
    assert "Stalled" not in [c["type"] for c in settled["status"]["conditions"]]
    events = deactivated_events(cluster, ns)
    assert [(e["type"], e.get("count", 1)) for e in events] == [("Warning", 1)], events

    # The operator restarts: it reads the record, runs no ingest, changes no status, posts no Event.
    line = f"LiveStream {ns}/cam: reconciled (generation"
    resumed = operator.logs().count(line)
    operator.restart()
    eventually(lambda: operator.logs().count(line) > resumed, timeout=60, what="the restarted operator resumed")
    no_ingest_pod_for(cluster, ns, 3, "operator restarted")
    assert cluster.get("livestreams", ns, "cam")["status"] == settled["status"]
    assert len(deactivated_events(cluster, ns)) == 1, "no second Deactivated Event after the restart"

    # A spec change activates it again: a new ingest pulls, the record is gone.
    patch = {"spec": {"source": {"pull": {"urls": [dead_url()]}}}}
    cluster.patch("livestream", ns, "cam", patch)
    again = local_pods.start(ns, "cam-ingest")
    s = stream_when(cluster, ns, lambda s: ready(s) == ("True", "IngestRunning"), "active again after a spec change")
    assert s["status"]["active"] is True and DEACTIVATED not in (s["metadata"].get("annotations") or {})
    assert again.status()["active"] is True

    # Deactivated once more; then the user removes the annotation (no spec change): a new ingest.
    stream_when(cluster, ns, lambda s: ready(s) == ("False", "Deactivated"), "deactivated again", TIMEOUT + 20)
    again.stop()
    eventually(lambda: cluster.get("pods", ns, "cam-ingest") is None, what="the deactivated ingest's Pod removed")
    generation = cluster.get("livestreams", ns, "cam")["metadata"]["generation"]
    cluster.annotate("livestream", ns, "cam", {DEACTIVATED: None})
    eventually(lambda: cluster.get("pods", ns, "cam-ingest"), timeout=10, what="a new ingest Pod")
    s = stream_when(cluster, ns, lambda s: s["status"].get("active") is True, "active again after the annotation")
    assert s["metadata"]["generation"] == generation and ready(s)[1] != "Deactivated"
    assert len(deactivated_events(cluster, ns)) == 2
