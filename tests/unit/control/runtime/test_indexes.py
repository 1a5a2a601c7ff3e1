"""What the operator keeps of the objects it watches, and how it talks to the API server."""

from __future__ import annotations

import json

from streamops.api import GROUP
from streamops.control.runtime.indexes import (
    child_entry,
    pod_entry,
    quality_set_user_entry,
    recording_entry,
    stream_entry,
    worker_pod_entry,
)
from streamops.kube.client import api_connection_limit, watched_object

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "cam-ingest",
        "namespace": "ns",
        "uid": "u-pod",
        "labels": {"app.kubernetes.io/managed-by": "streamops"},
        "annotations": {
            f"{GROUP}/spec-hash": "abc",
            f"{GROUP}/host-ports": json.dumps({"http": 30001}),
            "kubectl.kubernetes.io/last-applied-configuration": "x" * 4000,
        },
        "ownerReferences": [{"kind": "LiveStream", "name": "cam", "uid": "u-cam", "controller": True}],
        "managedFields": [{"manager": "streamops", "fieldsV1": {"f:spec": {}}}] * 5,
    },
    "spec": {"containers": [{"name": "ingest", "image": "w", "env": [{"name": "X", "value": "y" * 2000}]}]},
    "status": {"phase": "Running", "podIP": "127.0.0.1"},
}


def test_child_entry_keeps_what_reconcilers_read_and_little_else():
    entry = child_entry(POD)
    assert list(entry) == [("ns", "cam-ingest")]
    kept = entry[("ns", "cam-ingest")]
    assert kept["metadata"]["uid"] == "u-pod" and kept["status"] == {"phase": "Running"}
    assert kept["metadata"]["ownerReferences"][0]["uid"] == "u-cam"
    assert set(kept["metadata"]["annotations"]) == {f"{GROUP}/spec-hash", f"{GROUP}/host-ports"}
    # Of its spec only the node it runs on (a cordoned one moves it: workers/drain.py).
    assert kept["spec"] == {"nodeName": POD["spec"].get("nodeName")}
    assert not {"managedFields", "deletionTimestamp"} & kept["metadata"].keys()
    assert len(json.dumps(kept)) < len(json.dumps(POD)) / 10

    service = {**POD, "kind": "Service", "spec": {"ports": [{"name": "http", "port": 8080}]}}
    deleting = {**service, "metadata": {**POD["metadata"], "deletionTimestamp": "2026-11-22T00:00:00Z"}}
    kept = child_entry(deleting)[("ns", "cam-ingest")]
    assert kept["spec"] == {"ports": [{"name": "http", "port": 8080}]} and kept["status"] == {"loadBalancer": {}}
    assert kept["metadata"]["deletionTimestamp"]


def test_one_pod_index_serves_the_reconcilers_by_name_and_the_loops_by_owner():
    """pod_entry: the trimmed manifest under (namespace, name), the observation under its owner's key."""
    pod = {**POD, "metadata": {**POD["metadata"], "labels": {"app.kubernetes.io/component": "ingest"}}}
    owner = {"apiVersion": f"{GROUP}/v1alpha1", "kind": "LiveStream", "name": "cam", "uid": "u", "controller": True}
    pod["metadata"]["ownerReferences"] = [owner]
    entry = pod_entry(pod)
    assert entry[("ns", "cam-ingest")] == child_entry(pod)[("ns", "cam-ingest")]
    assert entry[("ns", "LiveStream", "cam", "ingest")] == worker_pod_entry(pod)[("ns", "LiveStream", "cam", "ingest")]
    assert len(entry) == 2
    index = {key: [value] for key, value in entry.items()}  # kopf's index: key -> the values filed under it
    assert watched_object(index, ("ns", "cam-ingest")) == entry[("ns", "cam-ingest")]
    nobodys = {**pod, "metadata": {**pod["metadata"], "ownerReferences": []}}
    assert list(pod_entry(nobodys)) == [("ns", "cam-ingest")], "not a worker: read by name only"


def test_watched_object_reads_an_index_shaped_mapping():
    index = {("ns", "a"): [{"metadata": {"name": "a"}}]}
    assert watched_object(index, ("ns", "a")) == {"metadata": {"name": "a"}}
    assert watched_object(index, ("ns", "b")) is None


def test_api_connection_limit_leaves_room_for_every_watch():
    one = api_connection_limit(["ns"])
    assert api_connection_limit([]) == one, "cluster-wide watches one stream per kind, like one namespace"
    assert api_connection_limit(["a", "b", "c"]) - one == 2 * 10, "ten watched kinds per extra namespace"
    assert one > 7 + 2, "room for requests beside the watches"
    assert api_connection_limit(["team-*"]) == 0, "a pattern matches any number of namespaces: no limit"


def test_stream_object_entry_is_a_valid_livestream_without_status():
    from devtools.catalog import livestream
    from streamops.api import LiveStream
    from streamops.control.runtime.indexes import stream_object_entry

    body = livestream("cam")
    body["metadata"].update(namespace="ns", uid="u-cam", generation=3, managedFields=[{"manager": "kubectl"}])
    body["status"] = {"live": True}
    kept = stream_object_entry(body)[("ns", "cam")]
    assert "status" not in kept and "managedFields" not in kept["metadata"]
    stream = LiveStream.model_validate(kept)
    assert (stream.metadata.uid, stream.metadata.generation) == ("u-cam", 3)


def test_a_restream_is_filed_under_its_stream_as_a_valid_restream_without_status():
    from devtools.catalog import restream
    from streamops.api import Restream
    from streamops.control.runtime.indexes import stream_child_entry

    body = restream("yt")
    body["metadata"].update(
        namespace="ns", uid="u-yt", deletionTimestamp="2026-01-01T00:00:00Z", managedFields=[{"manager": "kubectl"}]
    )
    body["status"] = {"live": True}
    [(key, kept)] = stream_child_entry(body).items()
    assert key == ("ns", body["spec"]["streamRef"]["name"])
    assert "status" not in kept and "managedFields" not in kept["metadata"]
    assert kept["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:00Z", "its siblings leave a deleted one out"
    assert Restream.model_validate(kept).metadata.uid == "u-yt"


def test_wakes_reach_the_object_and_the_followers_of_its_stream():
    import asyncio

    from streamops.control.runtime.state import OperatorState
    from streamops.control.shared.settings import OperatorSettings

    async def scenario() -> None:
        state = OperatorState(api=None, settings=OperatorSettings())  # type: ignore[arg-type]
        stream, restream, other = ("LiveStream", "ns", "cam"), ("Restream", "ns", "yt"), ("Restream", "ns", "fb")
        woken = {key: state.waker(key) for key in (stream, restream, other)}
        state.follow(restream, "ns", "cam")
        state.follow(other, "ns", "dog")

        state.wake_followers("ns", "cam")
        assert [k for k, e in woken.items() if e.is_set()] == [restream]

        state.wake(stream, reconcile=True)
        assert woken[stream].is_set() and state.take_reconcile_request(stream)
        assert not state.take_reconcile_request(stream), "a request is taken once"

        state.forget(restream)
        woken[restream].clear()
        state.wake_followers("ns", "cam")
        assert not woken[restream].is_set(), "a forgotten loop is no longer woken"
        state.executor.shutdown()
        state.status_executor.shutdown()

    asyncio.run(scenario())


def test_in_cluster_the_operator_reaches_the_api_server_by_the_address_in_its_environment():
    """Not by kubernetes.default.svc (kopf's default): that needs cluster DNS, gone for minutes
    when CoreDNS ran on a lost node."""
    from streamops.kube.client import in_cluster_server

    env = {"KUBERNETES_SERVICE_HOST": "10.243.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert in_cluster_server(env) == "https://10.243.0.1:443"
    assert in_cluster_server({**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}) == "https://[fd00::1]:443"
    assert in_cluster_server({}) is None


def test_index_entries_are_small_facts():
    pod = {
        "metadata": {
            "name": "cam-ingest",
            "namespace": "media",
            "uid": "p1",
            "labels": {"app.kubernetes.io/component": "ingest"},
            "ownerReferences": [
                {
                    "apiVersion": "streaming.streamops.dev/v1alpha1",
                    "kind": "LiveStream",
                    "name": "cam",
                    "controller": True,
                }
            ],
        },
        "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 30001}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }
    [(key, observed)] = worker_pod_entry(pod).items()
    assert key == ("media", "LiveStream", "cam", "ingest")
    assert observed.status_url == "http://127.0.0.1:30001/status"
    assert worker_pod_entry({"metadata": {"name": "x"}}) == {}
    s = stream_entry({"metadata": {"namespace": "media", "name": "cam", "uid": "u"}, "status": {"live": True}})
    assert s[("media", "cam")].live is True and not s[("media", "cam")].handing_over
    conditions = [{"type": "Ready", "status": "True"}, {"type": "HandingOver", "status": "True", "reason": "Following"}]
    moving = stream_entry({"metadata": {"namespace": "media", "name": "cam"}, "status": {"conditions": conditions}})
    assert moving[("media", "cam")].handing_over, "an ingest handed over: the pusher's handover waits"
    body = {
        "metadata": {"namespace": "media", "name": "rec"},
        "spec": {"streamRef": {"name": "cam"}},
        "status": {"recording": True, "duration": 3},
    }
    assert recording_entry(body)[("media", "cam")].recording is True


def test_a_stream_is_filed_under_the_quality_set_it_names() -> None:
    def stream(ref: dict | None) -> dict:
        spec = {"transcoding": {"qualitySetRef": ref}} if ref else {}
        return {"metadata": {"name": "cam", "namespace": "ns"}, "spec": spec}

    assert quality_set_user_entry(stream({"name": "hd"})) == {("QualitySet", "ns", "hd"): ("ns", "cam")}
    cluster = stream({"name": "default", "kind": "ClusterQualitySet"})
    assert quality_set_user_entry(cluster) == {("ClusterQualitySet", "", "default"): ("ns", "cam")}
    assert quality_set_user_entry(stream(None)) == {}


def test_a_streams_shared_pusher_is_indexed_under_its_stream():
    """No controller, owned by its Restreams (docs/design/shared-pusher.md): found as the stream's."""
    refs = [
        {"apiVersion": "streaming.streamops.dev/v1alpha1", "kind": "Restream", "name": n, "uid": n, "controller": False}
        for n in ("a", "b")
    ]
    pod = {
        "metadata": {
            "name": "cam-pusher",
            "namespace": "media",
            "uid": "p2",
            "labels": {"app.kubernetes.io/component": "pusher"},
            "annotations": {"streaming.streamops.dev/stream-name": "cam"},
            "ownerReferences": refs,
        },
        "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": "10.1.2.3"},
    }
    [(key, observed)] = worker_pod_entry(pod).items()
    assert key == ("media", "LiveStream", "cam", "pusher") and observed.name == "cam-pusher"
    pod["metadata"]["ownerReferences"] = []
    assert worker_pod_entry(pod) == {}, "nobody's Pod: not a worker of ours"


def test_a_restreams_siblings_are_woken_to_reconcile_and_the_streams_recordings_are_not():
    """A Restream's change re-plans its stream's shared pusher: its stream's other Restreams reconcile."""
    import asyncio

    from streamops.control.runtime.state import OperatorState
    from streamops.control.shared.settings import OperatorSettings

    async def scenario() -> None:
        state = OperatorState(api=None, settings=OperatorSettings())  # type: ignore[arg-type]
        restream, recording = ("Restream", "ns", "yt"), ("Recording", "ns", "rec")
        woken = {key: state.waker(key) for key in (restream, recording)}
        for key in woken:
            state.follow(key, "ns", "cam")
        state.wake_followers("ns", "cam", reconcile=True, kind="Restream")
        assert [k for k, e in woken.items() if e.is_set()] == [restream]
        assert state.take_reconcile_request(restream) and not state.take_reconcile_request(recording)
        state.executor.shutdown()
        state.status_executor.shutdown()

    asyncio.run(scenario())
