"""Recordings on more than one node (docs/design/recordings-placement.md): recorders of a claim only
one node can mount follow each other onto that node; a recorder that cannot be scheduled or whose
claim cannot be mounted says so on the Recording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from devtools.catalog import livestream, recording, stored_livestream, stored_recording
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.status import RecorderObservation, recording_events, recording_status
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.recorder_pod import recorder_standby_pod
from streamops.control.storage.recordings_claim import CLAIM_LABEL, claim_affinity
from streamops.control.workers.pod_observation import STORAGE_WAIT_SECONDS, PodObservation

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NS = "media"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


stream = partial(stored_livestream, uid="stream-uid", generation=1)


rec = stored_recording


def affinity_term(pod: dict[str, Any]) -> dict[str, Any] | None:
    affinity = pod["spec"].get("affinity")
    if affinity is None:
        return None
    (term,) = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    return term


@pytest.mark.parametrize("mode", ["ReadWriteOnce", "ReadWriteOncePod"])
def test_recorders_of_a_one_node_claim_require_each_others_node(mode: str):
    settings = OperatorSettings(recordings=RecordingsSettings(access_mode=mode))
    for pod in (recorder_pod(rec(), stream(), settings), recorder_standby_pod(stream(), "cam-recorder-1", settings)):
        assert pod["metadata"]["labels"][CLAIM_LABEL] == "streamops-recordings"
        term = affinity_term(pod)
        assert term == {
            "labelSelector": {"matchLabels": {CLAIM_LABEL: "streamops-recordings"}},
            "topologyKey": "kubernetes.io/hostname",
        }
        # The Pod matches its own term: the scheduler lets the first recorder of a claim go anywhere.
        assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()


def test_recorders_of_a_many_node_claim_go_anywhere():
    settings = OperatorSettings(recordings=RecordingsSettings(access_mode="ReadWriteMany"))
    assert affinity_term(recorder_pod(rec(), stream(), settings)) is None
    assert affinity_term(recorder_standby_pod(stream(), "cam-recorder-1", settings)) is None
    assert recorder_pod(rec(), stream(), settings)["metadata"]["labels"][CLAIM_LABEL] == "streamops-recordings"


def test_claim_affinity_by_access_modes():
    assert claim_affinity("c", ["ReadWriteMany"]) is None
    assert claim_affinity("c", ["ReadWriteOnce", "ReadWriteMany"]) is None  # mountable on many nodes
    assert claim_affinity("c", []) is not None  # unknown (claim not there yet): as one node's
    long = "x" * 100
    (term,) = claim_affinity(long, ["ReadWriteOnce"])["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]  # type: ignore[index]
    assert len(term["labelSelector"]["matchLabels"][CLAIM_LABEL]) <= 63


@pytest.fixture
def api() -> FakeKubeApi:
    api = operator_view()
    return api


def _reconcile(api: FakeKubeApi) -> dict[str, Any]:
    body = api.object("Recording", NS, "rec")
    assert body is not None
    reconcile_recording(api, OperatorSettings(), body)
    pod = api.object("Pod", NS, "rec-recorder")
    assert pod is not None
    return pod


def _put(api: FakeKubeApi, body: dict[str, Any]) -> None:
    body["metadata"]["namespace"] = NS
    api.add(body)


@pytest.mark.parametrize(("modes", "affine"), [(["ReadWriteMany"], False), (["ReadWriteOnce"], True), (None, True)])
def test_a_recordings_own_claim_is_read_for_its_access_modes(api: FakeKubeApi, modes: list[str] | None, affine: bool):
    _put(api, livestream("cam"))
    _put(api, recording("rec", storage={"pvc": {"claimName": "archive"}}))
    if modes is not None:
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "archive"}}
        _put(api, {**claim, "spec": {"accessModes": modes}})
    pod = _reconcile(api)
    assert pod["metadata"]["labels"][CLAIM_LABEL] == "archive"
    assert (affinity_term(pod) is not None) is affine


# --- a recorder that cannot run says why ------------------------------------------------------------


def pending_pod(conditions: list[dict[str, Any]], node: str = "", waiting: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Pending", "conditions": conditions}
    if waiting:
        status["containerStatuses"] = [{"name": "record", "state": {"waiting": {"reason": waiting}}}]
    spec: dict[str, Any] = {"containers": [{"name": "record"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": "rec-recorder", "uid": "u1"}, "spec": spec, "status": status}


UNSCHEDULABLE = pending_pod(
    [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/2 nodes are available: 1 node(s) didn't match pod affinity rules, "
            "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.",
            "lastTransitionTime": iso(T0),
        }
    ]
)


def mounting_pod(since: datetime, sandbox: str | None = "False") -> dict[str, Any]:
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": iso(since)}]
    if sandbox is not None:
        conditions.append({"type": "PodReadyToStartContainers", "status": sandbox, "lastTransitionTime": iso(since)})
    return pending_pod(conditions, node="node-a", waiting="ContainerCreating")


def ready(status: Any) -> tuple[str, str, str]:
    c = next(c for c in status.conditions if c.type == "Ready")
    return c.status, c.reason, c.message


def test_unschedulable_recorder_shows_the_schedulers_message():
    pod = PodObservation.of("rec-recorder", UNSCHEDULABLE)
    status = recording_status(rec(), RecorderObservation(pod=pod, stream_live=True), T0)
    state, reason, message = ready(status)
    assert (state, reason) == ("False", "RecorderUnschedulable")
    assert "didn't match pod affinity rules" in message
    assert {c.type: c.reason for c in status.conditions}["Recording"] == "RecorderUnschedulable"


def test_recorder_stuck_on_its_volume_says_storage_unavailable_after_a_while():
    pod = PodObservation.of("rec-recorder", mounting_pod(T0))
    assert pod.mounting_since == T0
    early = recording_status(rec(), RecorderObservation(pod=pod, stream_live=True), T0 + timedelta(seconds=5))
    assert ready(early)[1] == "RecorderPending"  # a normal start takes a few seconds
    late = T0 + timedelta(seconds=STORAGE_WAIT_SECONDS + 15)
    state, reason, message = ready(recording_status(rec(), RecorderObservation(pod=pod, stream_live=True), late))
    assert (state, reason) == ("False", "StorageUnavailable")
    assert "node-a" in message and "Multi-Attach" in message and str(int(STORAGE_WAIT_SECONDS + 15)) in message


def test_a_started_sandbox_is_not_a_storage_problem():
    # Volumes are mounted before the sandbox starts: a long image pull afterwards is no storage problem.
    pulling = PodObservation.of("rec-recorder", mounting_pod(T0, sandbox="True"))
    assert pulling.mounting_since is None
    # Kubelets without PodReadyToStartContainers: ContainerCreating throughout is taken as waiting.
    assert PodObservation.of("rec-recorder", mounting_pod(T0, sandbox=None)).mounting_since == T0


def test_a_waiting_container_says_why():
    pod = PodObservation.of("rec-recorder", pending_pod([], node="node-a", waiting="ImagePullBackOff"))
    status = recording_status(rec(), RecorderObservation(pod=pod, stream_live=True), T0)
    assert ready(status)[1] == "RecorderPending" and "ImagePullBackOff" in ready(status)[2]


def test_a_recorder_that_cannot_run_posts_a_warning_once():
    pending = PodObservation.of("rec-recorder", pending_pod([], node=""))
    before = recording_status(rec(), RecorderObservation(pod=pending, stream_live=True), T0)
    assert ready(before)[:2] == ("False", "RecorderPending")
    stuck = PodObservation.of("rec-recorder", UNSCHEDULABLE)
    after = recording_status(
        rec(status=before.wire()), RecorderObservation(pod=stuck, stream_live=True), T0 + timedelta(seconds=1)
    )
    events = recording_events(before, after)
    assert [(e.type, e.reason) for e in events] == [("Warning", "RecorderUnschedulable")]
    assert "didn't match pod affinity rules" in events[0].message
    again = recording_status(
        rec(status=after.wire()), RecorderObservation(pod=stuck, stream_live=True), T0 + timedelta(seconds=2)
    )
    assert recording_events(after, again) == []  # level-based: said once


def test_a_recorder_that_cannot_run_says_so_while_the_stream_is_offline():
    """The recorder waits for the feed from the start: one that cannot run would miss the next live
    session, so the Recording says why now rather than StreamNotLive (and warns once)."""
    waiting = recording_status(rec(), RecorderObservation(pod=PodObservation("rec-recorder"), stream_live=False), T0)
    assert ready(waiting)[1] == "StreamNotLive"
    stuck = PodObservation.of("rec-recorder", UNSCHEDULABLE)
    after = recording_status(
        rec(status=waiting.wire()), RecorderObservation(pod=stuck, stream_live=False), T0 + timedelta(seconds=1)
    )
    assert ready(after)[:2] == ("False", "RecorderUnschedulable")
    assert [(e.type, e.reason) for e in recording_events(waiting, after)] == [("Warning", "RecorderUnschedulable")]
    late = T0 + timedelta(seconds=STORAGE_WAIT_SECONDS + 1)
    mounting = PodObservation.of("rec-recorder", mounting_pod(T0))
    assert ready(recording_status(rec(), RecorderObservation(pod=mounting, stream_live=False), late))[1] == (
        "StorageUnavailable"
    )
    # A recorder on its way, or running and waiting for the feed, leaves the stream's state to be said.
    for pod in (PodObservation.of("rec-recorder", pending_pod([], node="")), mounting):
        assert ready(recording_status(rec(), RecorderObservation(pod=pod, stream_live=False), T0))[1] == "StreamNotLive"
    # A missing stream is still what comes first.
    gone = recording_status(rec(), RecorderObservation(pod=stuck, stream_exists=False), T0)
    assert ready(gone)[1] == "StreamNotFound"
