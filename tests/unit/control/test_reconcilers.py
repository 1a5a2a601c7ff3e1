"""The three reconcilers against an in-memory fake of the operator's own API adapter
(devtools.fake_kube.FakeKubeApi): which calls they make, in which state the objects end up, that
a second pass with nothing changed writes nothing, and their error paths. Pods, Services and
LiveStreams are read through the operator's own index functions, as in production; what the
specs put into each manifest is workers/test_worker_pod.py's and the kinds' specs/test_*.py's business."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from devtools.catalog import livestream, recording, restream
from devtools.fake_kube import Call, FakeKubeApi, operator_view
from streamops.api.recording import PersistentVolumeClaimStorage, RecordingStorage
from streamops.control.livestream.reconcile import StreamOutcome, reconcile_livestream
from streamops.control.recording.reconcile import RecordingOutcome, reconcile_recording
from streamops.control.restream.reconcile import RestreamOutcome, reconcile_restream
from streamops.control.restream.secret_reads import recent_secrets
from streamops.control.runtime.indexes import recording_entry, worker_pod_entry
from streamops.control.shared.settings import OperatorSettings, WorkerSettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS as LABELS
from streamops.control.storage.recorder_pod import STANDBY_COMPONENT
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.kube.client import ApiError
from streamops.kube.naming import ADOPTED_ANNOTATION, COMPONENT_LABEL, SPEC_HASH_ANNOTATION, owner_reference

REPLACED_FOR = "streaming.streamops.dev/replaced-for"
NS = "media"
SETTINGS = OperatorSettings()
HOST = OperatorSettings(worker=WorkerSettings(host_network=True, port_range="30000-30099", address="127.0.0.1"))
KOPF_FINALIZER = "streaming.streamops.dev/finalizer"


@pytest.fixture
def api() -> FakeKubeApi:
    api = operator_view()
    return api


# --- the calls as the status loops make them (object_loop.py) -----------------------------------


def worker_pod(api: FakeKubeApi, kind: str, owner: str, component: str) -> str | None:
    """The name of the owner's worker Pod in the operator's pod index (`worker_pod_entry`)."""
    found = api.index("Pod", worker_pod_entry).get((NS, kind, owner, component)) or []
    return found[0].name if found else None


def reconcile_stream(api: FakeKubeApi, name: str = "cam", allocator: PortAllocator | None = None) -> StreamOutcome:
    """The body as kopf hands it; the standby recorder and `auto_recording_exists` from the indexes."""
    body = api.object("LiveStream", NS, name)
    assert body is not None
    standby = worker_pod(api, "LiveStream", name, STANDBY_COMPONENT)
    auto = any(f.auto for f in api.index("Recording", recording_entry).get((NS, name)) or [])
    settings = HOST if allocator else SETTINGS
    return reconcile_livestream(api, settings, body, allocator, auto_recording_exists=auto, standby=standby)


def reconcile_rec(api: FakeKubeApi, name: str = "rec", allocator: PortAllocator | None = None) -> RecordingOutcome:
    body = api.object("Recording", NS, name)
    assert body is not None
    pod = worker_pod(api, "Recording", name, "recorder")
    standby = worker_pod(api, "LiveStream", body["spec"]["streamRef"]["name"], STANDBY_COMPONENT)
    settings = HOST if allocator else SETTINGS
    return reconcile_recording(api, settings, body, allocator, recorder=pod, standby=standby)


def reconcile_rst(api: FakeKubeApi, name: str = "out", allocator: PortAllocator | None = None) -> RestreamOutcome:
    body = api.object("Restream", NS, name)
    assert body is not None
    return reconcile_restream(api, HOST if allocator else SETTINGS, body, allocator)


# --- what to look at ----------------------------------------------------------------------------


def versions(api: FakeKubeApi) -> dict[tuple[str, str, str], str]:
    """Every object's resourceVersion: equal before and after means nothing was changed."""
    return {key: obj["metadata"]["resourceVersion"] for key, obj in api.store.items()}


def done(api: FakeKubeApi) -> list[tuple[str, str, str]]:
    """The writes the server carried out, as (verb, kind, name)."""
    return [(c.verb, c.kind, c.name) for c in api.writes if c.result == "ok"]


def refused_key_creates(calls: list[Call]) -> list[Call]:
    return [c for c in calls if (c.verb, c.kind, c.result) == ("create", "Secret", "conflict")]


def owners(obj: dict[str, Any] | None) -> list[tuple[str, str]]:
    assert obj is not None
    return [(r["kind"], r["uid"]) for r in obj["metadata"].get("ownerReferences") or []]


def spec_hash(obj: dict[str, Any] | None) -> str:
    assert obj is not None
    return str(obj["metadata"]["annotations"][SPEC_HASH_ANNOTATION])


def assert_idempotent(api: FakeKubeApi, again: Any) -> Any:
    """Run `again` (a reconcile) and check that it changed nothing on the server."""
    before = versions(api)
    api.clear_calls()
    outcome = again()
    assert done(api) == [], f"a reconcile with nothing changed wrote {done(api)}"
    assert versions(api) == before
    return outcome


# --- LiveStream -----------------------------------------------------------------------------------


def test_new_stream_gets_key_secret_service_and_pod_with_no_server_reads(api):
    stream = api.add_in(NS, livestream("cam"))
    outcome = reconcile_stream(api)

    created = outcome.created.get("primary")
    assert outcome == StreamOutcome(generation=1, created={"primary": created})
    assert created is not None and (created.name, created.exists, created.phase) == ("cam-ingest", True, "Pending"), (
        "the Pod as the create answered: the status shows it before the Pod watch does"
    )
    assert done(api) == [
        ("create", "Secret", "cam-stream-key"),
        ("create", "Service", "cam-ingest"),
        ("create", "Service", "cam-ingest-internal"),
        ("create", "PodDisruptionBudget", "cam-ingest"),  # the restart policy handover (the default)
        ("create", "PodDisruptionBudget", "cam-ingest-releasing"),  # a predecessor while it releases
        ("create", "Secret", "cam-worker-credential"),  # before the Pod that mounts it
        ("create", "Pod", "cam-ingest"),
    ]
    assert reconcile_stream(api).created == {}, "only the reconcile that created a Pod says so"
    assert api.server_reads == [], "Pods, Services and LiveStreams come from the indexes; the key is created blind"
    uid = stream["metadata"]["uid"]
    for kind, name in (
        ("Secret", "cam-stream-key"),
        ("Service", "cam-ingest"),
        ("Service", "cam-ingest-internal"),
        ("Pod", "cam-ingest"),
    ):
        assert owners(api.object(kind, NS, name)) == [("LiveStream", uid)], f"{kind} {name} goes with the stream"
    assert api.names("Pod") == ["cam-ingest"] and api.names("Service") == ["cam-ingest", "cam-ingest-internal"]
    assert api.objects("Recording") == [] and api.objects("PersistentVolumeClaim") == []


def test_second_reconcile_writes_nothing(api):
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp", "srt"], "backup": True}}))
    reconcile_stream(api)
    api.set_phase(NS, "cam-ingest", "Running")  # the kubelet's changes are no reason to write

    assert_idempotent(api, lambda: reconcile_stream(api))
    # The only write it tries: the generated key's create, answered 409 (a Secret is never read).
    assert [c.name for c in api.writes] == ["cam-stream-key"] and refused_key_creates(api.writes) == api.writes
    assert all(c.source == "index" for c in api.calls if c.verb == "get")


def test_generated_key_is_never_overwritten(api):
    api.add_in(NS, livestream("cam"))
    key = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cam-stream-key"}, "data": {"streamKey": "b2xk"}}
    version = api.add_in(NS, key)["metadata"]["resourceVersion"]
    reconcile_stream(api)
    secret = api.object("Secret", NS, "cam-stream-key")
    assert secret is not None and secret["data"] == {"streamKey": "b2xk"}
    assert secret["metadata"]["resourceVersion"] == version
    assert api.names("Pod") == ["cam-ingest"]


def test_missing_referenced_key_secret_is_reported_and_no_ingest_runs(api):
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp"], "streamKeySecretRef": {"name": "mykey"}}}))
    outcome = reconcile_stream(api)
    assert outcome.key_secret_missing == "mykey"
    assert api.names("Pod") == [], "an ingest without its key would refuse every publisher"
    assert api.names("Service") == ["cam-ingest", "cam-ingest-internal"], "the endpoint exists already"
    assert api.names("Secret") == [], "a referenced key is the user's: never generated"

    api.add_in(
        NS,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "mykey", "labels": LABELS},
            "data": {"other": "eA=="},
        },
    )
    assert reconcile_stream(api).key_secret_missing == "mykey (key streamKey)"
    assert api.names("Pod") == []

    api.modify("Secret", NS, "mykey", {"data": {"streamKey": "a2V5"}})
    assert reconcile_stream(api).key_secret_missing is None
    assert api.names("Pod") == ["cam-ingest"]
    assert [(c.verb, c.name) for c in api.calls if c.kind == "Secret"] == [("get", "mykey")] * 3 + [
        ("create", "cam-worker-credential")
    ], "a referenced Secret is read, never written; the worker credential is created with the first Pod"


def test_backup_ingest_is_a_second_service_and_pod_removed_with_the_backup(api):
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp"], "backup": True}}))
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest", "cam-ingest-backup"]
    assert api.names("Service") == [
        "cam-ingest",
        "cam-ingest-backup",
        "cam-ingest-backup-internal",
        "cam-ingest-internal",
    ]
    backup = api.object("Pod", NS, "cam-ingest-backup")
    assert backup is not None and backup["metadata"]["labels"][COMPONENT_LABEL] == "ingest-backup"

    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"push": {"backup": False}}}})
    api.clear_calls()
    reconcile_stream(api)
    assert api.names("Service") == ["cam-ingest", "cam-ingest-internal"]
    assert "cam-ingest-backup" not in api.names("Pod")
    deletes = {(c.kind, c.name): c.body["preconditions"]["uid"] for c in api.writes if c.verb == "delete"}
    assert deletes[("Service", "cam-ingest-backup")] and deletes[("Pod", "cam-ingest-backup")]
    assert deletes[("Service", "cam-ingest-backup-internal")]
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest"]


def test_adding_a_backup_leaves_the_live_primary_ingest_running(api):
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp"]}}))
    reconcile_stream(api)
    api.set_phase(NS, "cam-ingest", "Running")
    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"push": {"backup": True}}}})
    api.clear_calls()
    reconcile_stream(api)
    assert ("delete", "Pod", "cam-ingest") not in done(api), "a publisher on the primary would be cut off"


def test_inactive_stream_removes_its_pods_and_keeps_service_and_secret(api):
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp"], "backup": True}}))
    reconcile_stream(api)
    pod_uids = {p["metadata"]["uid"] for p in api.objects("Pod")}

    api.modify("LiveStream", NS, "cam", {"spec": {"active": False}})
    api.clear_calls()
    outcome = reconcile_stream(api)
    assert outcome.generation == 2
    assert api.objects("Pod") == []
    deleted = {c.body["preconditions"]["uid"] for c in api.writes if c.verb == "delete" and c.kind == "Pod"}
    assert deleted == pod_uids
    assert api.objects("PodDisruptionBudget") == [], "no ingest runs: nothing to keep from a drain"
    assert api.names("Service") == [
        "cam-ingest",
        "cam-ingest-backup",
        "cam-ingest-backup-internal",
        "cam-ingest-internal",
    ]
    assert api.names("Secret") == ["cam-stream-key", "cam-worker-credential"]
    assert_idempotent(api, lambda: reconcile_stream(api))

    api.modify("LiveStream", NS, "cam", {"spec": {"active": True}})
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest", "cam-ingest-backup"]


def test_changed_spec_rolls_the_pod_once_it_is_gone(api):
    api.add_in(NS, livestream("cam"))
    reconcile_stream(api)
    old = api.object("Pod", NS, "cam-ingest")
    service_version = api.object("Service", NS, "cam-ingest")["metadata"]["resourceVersion"]

    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 4}}})
    api.modify("Pod", NS, "cam-ingest", {"metadata": {"finalizers": ["example.com/slow"]}})  # terminates slowly
    api.clear_calls()
    reconcile_stream(api)
    # Annotated with the first difference, then deleted, not replaced in the same pass.
    assert done(api) == [("patch", "Pod", "cam-ingest"), ("delete", "Pod", "cam-ingest")]
    assert api.writes[-2].body == {"metadata": {"annotations": {REPLACED_FOR: "config.hls.segmentSeconds"}}}
    assert api.writes[-1].body == {"preconditions": {"uid": old["metadata"]["uid"]}}
    assert api.object("Service", NS, "cam-ingest")["metadata"]["resourceVersion"] == service_version

    # While it terminates: neither deleted again nor replaced under its feet.
    assert_idempotent(api, lambda: reconcile_stream(api))
    api.remove_finalizers("Pod", NS, "cam-ingest")
    reconcile_stream(api)  # (the Pod's DELETED event asks for this reconcile)
    new = api.object("Pod", NS, "cam-ingest")
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    assert spec_hash(new) != spec_hash(old)
    assert_idempotent(api, lambda: reconcile_stream(api))


# --- a pull stream's deactivation (control/livestream/deactivation.py) ----------------------------

DEACTIVATED = "streaming.streamops.dev/deactivated"
NO_DATA = "no data for 10 s from any pull URL"


def pull_stream(api: FakeKubeApi) -> dict[str, Any]:
    body = livestream("cam", source={"pull": {"urls": ["rtmp://origin/live/a"], "inactivityTimeoutSeconds": 10}})
    return api.add_in(NS, body)


def worker_gave_up(api: FakeKubeApi, name: str = "cam") -> StreamOutcome:
    """The status loop's reconcile when the primary ingest's telemetry says it deactivated itself."""
    body = api.object("LiveStream", NS, name)
    pod = api.object("Pod", NS, f"{name}-ingest")
    assert body is not None and pod is not None
    uid = pod["metadata"]["uid"]
    return reconcile_livestream(api, SETTINGS, body, None, False, None, deactivated=NO_DATA, deactivated_pod=uid)


def deactivated_pull_stream(api: FakeKubeApi) -> dict[str, Any]:
    stream = pull_stream(api)
    reconcile_stream(api)
    api.set_phase(NS, "cam-ingest", "Running")
    assert worker_gave_up(api).deactivation_recorded
    assert reconcile_stream(api).deactivation is not None
    return stream


def test_pull_deactivation_is_recorded_on_the_stream_and_outlives_the_ingest_pod(api):
    stream = pull_stream(api)
    reconcile_stream(api)
    api.set_phase(NS, "cam-ingest", "Running")
    api.clear_calls()

    recorded = worker_gave_up(api)
    assert done(api) == [("patch", "LiveStream", "cam")]
    record = json.loads(api.object("LiveStream", NS, "cam")["metadata"]["annotations"][DEACTIVATED])
    assert record == {"uid": stream["metadata"]["uid"], "generation": 1, "reason": NO_DATA}
    assert recorded.deactivation_recorded and recorded.deactivation is None
    assert api.names("Pod") == ["cam-ingest"], "kept until the stream shows the record: its worker holds the fact"

    # The object shows the record (the watch): no ingest from now on, like `active: false`.
    in_force = reconcile_stream(api)
    assert in_force.deactivation is not None and in_force.deactivation.reason == NO_DATA
    assert api.objects("Pod") == []
    assert api.names("Service") == ["cam-ingest", "cam-ingest-internal"], (
        "the Service (and its allocation) stays, as for active: false"
    )
    # The Pod gone (deleted, evicted, its node lost) or the operator restarted: the next reconciles,
    # with no worker to report anything, leave the stream deactivated.
    assert_idempotent(api, lambda: reconcile_stream(api))
    assert api.objects("Pod") == []


def test_spec_change_reactivates_a_deactivated_pull_stream(api):
    deactivated_pull_stream(api)
    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"pull": {"urls": ["rtmp://origin/live/b"]}}}})
    outcome = reconcile_stream(api)
    assert outcome.deactivation is None
    assert DEACTIVATED not in (api.object("LiveStream", NS, "cam")["metadata"].get("annotations") or {})
    assert api.names("Pod") == ["cam-ingest"], "a fresh ingest pulls again"
    assert_idempotent(api, lambda: reconcile_stream(api))


def test_switching_off_and_on_reactivates_a_deactivated_pull_stream(api):
    deactivated_pull_stream(api)
    api.modify("LiveStream", NS, "cam", {"spec": {"active": False}})
    assert reconcile_stream(api).deactivation is None and api.objects("Pod") == []
    api.modify("LiveStream", NS, "cam", {"spec": {"active": True}})
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest"]


def test_removing_the_annotation_reactivates_a_deactivated_pull_stream(api):
    deactivated_pull_stream(api)
    api.modify("LiveStream", NS, "cam", {"metadata": {"annotations": {DEACTIVATED: None}}})  # kubectl annotate ...-
    assert reconcile_stream(api).deactivation is None
    assert api.names("Pod") == ["cam-ingest"] and api.object("LiveStream", NS, "cam")["metadata"]["generation"] == 1


def test_a_record_of_another_object_or_a_hand_edit_is_not_in_force(api):
    pull_stream(api)
    for value in ('{"uid":"uid-of-a-deleted-stream","generation":1,"reason":"x"}', "yes"):
        api.modify("LiveStream", NS, "cam", {"metadata": {"annotations": {DEACTIVATED: value}}})
        assert reconcile_stream(api).deactivation is None
        assert api.names("Pod") == ["cam-ingest"]
        assert DEACTIVATED not in (api.object("LiveStream", NS, "cam")["metadata"].get("annotations") or {})


def test_a_report_from_an_ingest_built_for_an_older_spec_is_not_recorded(api):
    pull_stream(api)
    reconcile_stream(api)
    api.set_phase(NS, "cam-ingest", "Running")
    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"pull": {"urls": ["rtmp://origin/live/b"]}}}})
    outcome = worker_gave_up(api)
    assert not outcome.deactivation_recorded and outcome.deactivation is None
    assert DEACTIVATED not in (api.object("LiveStream", NS, "cam")["metadata"].get("annotations") or {})
    assert api.objects("Pod") == [], "the old ingest is rolled: the new one pulls the new URLs"


def test_a_push_stream_is_never_deactivated(api):
    api.add_in(NS, livestream("cam"))
    reconcile_stream(api)
    api.set_phase(NS, "cam-ingest", "Running")
    outcome = worker_gave_up(api)
    assert not outcome.deactivation_recorded and outcome.deactivation is None
    assert api.names("Pod") == ["cam-ingest"]


def test_a_pod_of_the_same_name_that_is_not_ours_is_left_alone(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cam-ingest"}, "spec": {}})
    reconcile_stream(api)
    assert ("create", "Pod", "cam-ingest") not in done(api) and ("delete", "Pod", "cam-ingest") not in done(api)
    assert owners(api.object("Pod", NS, "cam-ingest")) == []


def test_standby_recorder_is_kept_and_replaced_once_adopted(api):
    stream = api.add_in(NS, livestream("cam", recording={"standby": True}))
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest", "cam-recorder-1"]
    standby = api.object("Pod", NS, "cam-recorder-1")
    assert owners(standby) == [("LiveStream", stream["metadata"]["uid"])]
    assert standby["metadata"]["labels"][COMPONENT_LABEL] == STANDBY_COMPONENT
    [claim] = api.objects("PersistentVolumeClaim")
    assert claim["metadata"]["name"] == SETTINGS.recordings.claim and owners(claim) == [], "videos outlive streams"
    assert_idempotent(api, lambda: reconcile_stream(api))

    # A Recording took it over (see test_recording_adopts_a_running_standby): the stream starts the next one.
    adopted = {
        "ownerReferences": [owner_reference("Recording", "rec", "rec-uid")],
        "labels": {COMPONENT_LABEL: "recorder"},
    }
    api.modify("Pod", NS, "cam-recorder-1", {"metadata": adopted})
    api.clear_calls()
    reconcile_stream(api)
    assert done(api) == [("create", "Pod", "cam-recorder-2")]
    assert owners(api.object("Pod", NS, "cam-recorder-1")) == [("Recording", "rec-uid")], "the adopted one is not ours"

    api.modify("LiveStream", NS, "cam", {"spec": {"active": False}})
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-recorder-1"], "an inactive stream keeps no standby (and no ingest)"


def test_auto_recording_is_created_stopped_and_replaced(api):
    stream = api.add_in(NS, livestream("cam", recording={"auto": True}))
    reconcile_stream(api)
    first = api.object("Recording", NS, "cam-auto")
    assert owners(first) == [("LiveStream", stream["metadata"]["uid"])]
    assert_idempotent(api, lambda: reconcile_stream(api))

    api.modify("LiveStream", NS, "cam", {"spec": {"recording": {"auto": False}}})
    api.clear_calls()
    reconcile_stream(api)
    assert done(api) == [("patch", "Recording", "cam-auto")] and api.writes[-1].body == {"spec": {"stopped": True}}
    assert api.object("Recording", NS, "cam-auto")["metadata"]["uid"] == first["metadata"]["uid"], "kept, stopped"
    assert_idempotent(api, lambda: reconcile_stream(api))

    api.modify("LiveStream", NS, "cam", {"spec": {"recording": {"auto": True}}})
    api.clear_calls()
    reconcile_stream(api)
    assert done(api) == [("delete", "Recording", "cam-auto"), ("create", "Recording", "cam-auto")]
    [delete] = [c for c in api.writes if c.verb == "delete"]
    assert delete.body == {"preconditions": {"uid": first["metadata"]["uid"]}}
    fresh = api.object("Recording", NS, "cam-auto")
    assert fresh["metadata"]["uid"] != first["metadata"]["uid"] and not fresh["spec"].get("stopped")


def test_auto_recording_replacement_waits_for_the_stopped_one_to_go(api):
    """In a cluster the stopped Recording carries kopf's finalizer: the delete only marks it, the
    create in the same pass is refused (409), and the fresh one comes with a later reconcile."""
    api.add_in(NS, livestream("cam", recording={"auto": False}))
    stream = api.object("LiveStream", NS, "cam")
    auto = recording("cam-auto", stopped=True)
    auto["metadata"]["finalizers"] = [KOPF_FINALIZER]
    auto["metadata"]["ownerReferences"] = [owner_reference("LiveStream", "cam", stream["metadata"]["uid"])]
    old_uid = api.add_in(NS, auto)["metadata"]["uid"]
    api.modify("LiveStream", NS, "cam", {"spec": {"recording": {"auto": True}}})
    api.clear_calls()
    reconcile_stream(api)
    assert [(c.verb, c.result) for c in api.writes if c.kind == "Recording"] == [
        ("delete", "ok"),
        ("create", "conflict"),
    ]
    assert api.object("Recording", NS, "cam-auto")["metadata"]["deletionTimestamp"]
    assert_idempotent(api, lambda: reconcile_stream(api))  # being deleted: not deleted again, nothing to create yet

    api.remove_finalizers("Recording", NS, "cam-auto")  # kopf lets it go
    reconcile_stream(api)
    fresh = api.object("Recording", NS, "cam-auto")
    assert fresh is not None and fresh["metadata"]["uid"] != old_uid


def test_a_users_recording_named_like_the_auto_one_is_never_touched(api):
    api.add_in(NS, livestream("cam", recording={"auto": True}))
    api.add_in(NS, recording("cam-auto", stopped=True))
    reconcile_stream(api)
    assert [c for c in api.writes if c.kind == "Recording"] == []


def test_host_ports_are_allocated_once_and_kept_on_the_service(api):
    allocator = PortAllocator(HOST.worker.ports)
    api.add_in(NS, livestream("cam"))
    outcome = reconcile_stream(api, allocator=allocator)
    service = api.object("Service", NS, "cam-ingest")
    ports = ports_of(service)
    assert set(ports) == {"http", "internal", "rtmp", "srt", "webrtc-udp", "webrtc-tcp"}
    assert outcome.host_ports == {"primary": ports}
    assert allocator.used == 6
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod["spec"]["hostNetwork"] is True
    assert {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]} == ports

    assert assert_idempotent(api, lambda: reconcile_stream(api, allocator=allocator)) == replace(outcome, created={})
    assert allocator.used == 6

    api.delete("Pod", NS, "cam-ingest")  # evicted: the re-created Pod keeps the Service's ports
    reconcile_stream(api, allocator=allocator)
    pod = api.object("Pod", NS, "cam-ingest")
    assert {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]} == ports
    assert allocator.used == 6

    # A restarted operator (an empty allocator) takes the ports the Service holds: no new allocation.
    fresh = PortAllocator(HOST.worker.ports)
    assert reconcile_stream(api, allocator=fresh).host_ports == {"primary": ports} and fresh.used == 0


def test_removed_backup_gives_its_ports_back(api):
    allocator = PortAllocator(HOST.worker.ports)
    api.add_in(NS, livestream("cam", source={"push": {"protocols": ["rtmp"], "backup": True}}))
    reconcile_stream(api, allocator=allocator)
    assert allocator.used == 10  # the primary's WebRTC ports too, each role's internal one
    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"push": {"backup": False}}}})
    outcome = reconcile_stream(api, allocator=allocator)
    assert allocator.used == 6 and set(outcome.host_ports) == {"primary"}


def test_stream_in_a_terminating_namespace_is_not_an_error(api):
    api.add_in(NS, livestream("cam"))
    api.terminate_namespace(NS)
    assert reconcile_stream(api) == StreamOutcome(generation=1)
    assert api.store.keys() == {("LiveStream", NS, "cam")}
    assert [c.result for c in api.writes] == ["terminating"], "the first refused create ends the pass"


def test_invalid_stream_spec_is_an_outcome_and_no_call(api):
    api.add_in(NS, livestream("cam", dvr={"durationSeconds": 20}))
    outcome = reconcile_stream(api)
    assert outcome.invalid_spec and "dvr" in outcome.invalid_spec and outcome.generation == 1
    assert api.calls == []


def test_api_errors_reach_the_loop(api):
    """Anything but 404/409 is the loop's to retry (with backoff): the reconcile raises it."""
    api.add_in(NS, livestream("cam"))
    api.fail("create", "Service", status=500)
    with pytest.raises(ApiError) as e:
        reconcile_stream(api)
    assert e.value.status == 500
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest"] and api.names("Service") == ["cam-ingest", "cam-ingest-internal"]


# --- Recording ------------------------------------------------------------------------------------


def test_recording_waits_for_a_missing_stream(api):
    api.add_in(NS, recording("rec"))
    outcome = reconcile_rec(api)
    assert outcome.waiting_for_stream and outcome.generation == 1 and outcome.stream_uid is None
    assert api.writes == []


def test_recording_creates_the_default_claim_and_its_recorder(api):
    stream = api.add_in(NS, livestream("cam"))
    rec = api.add_in(NS, recording("rec"))
    outcome = reconcile_rec(api)
    storage = RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name=SETTINGS.recordings.claim))
    assert outcome == RecordingOutcome(generation=1, stream_uid=stream["metadata"]["uid"], storage=storage)
    assert done(api) == [
        ("create", "PersistentVolumeClaim", SETTINGS.recordings.claim),
        ("create", "Pod", "rec-recorder"),
    ]
    assert owners(api.object("PersistentVolumeClaim", NS, SETTINGS.recordings.claim)) == []
    assert owners(api.object("Pod", NS, "rec-recorder")) == [("Recording", rec["metadata"]["uid"])]
    assert_idempotent(api, lambda: reconcile_rec(api))
    assert api.server_reads == [], "with its recorder running, nothing is asked of the API server"

    # A second Recording finds the claim.
    api.add_in(NS, recording("rec2"))
    api.clear_calls()
    reconcile_rec(api, "rec2")
    assert done(api) == [("create", "Pod", "rec2-recorder")]


def test_recording_on_its_own_claim_creates_no_default_claim(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, recording("rec", storage={"pvc": {"claimName": "archive"}}))
    reconcile_rec(api)
    assert done(api) == [("create", "Pod", "rec-recorder")]
    # Its own claim is only read (its access modes decide where the recorder may run).
    claim_calls = [(c.verb, c.name) for c in api.calls if c.kind == "PersistentVolumeClaim"]
    assert claim_calls == [("get", "archive")]


def adoptable_standby(api: FakeKubeApi) -> dict[str, Any]:
    api.add_in(NS, livestream("cam", recording={"standby": True}))
    reconcile_stream(api)
    api.set_phase(NS, "cam-recorder-1", "Running")
    pod = api.object("Pod", NS, "cam-recorder-1")
    assert pod is not None
    return pod


def test_recording_adopts_a_running_standby(api):
    standby = adoptable_standby(api)
    rec = api.add_in(NS, recording("rec"))
    api.clear_calls()
    outcome = reconcile_rec(api)

    assert done(api) == [("patch", "Pod", "cam-recorder-1")], "no Pod of its own"
    [patch] = api.writes
    assert patch.body["metadata"]["resourceVersion"] == standby["metadata"]["resourceVersion"]
    assert (
        outcome.start_config is not None
        and outcome.stream_uid == api.object("LiveStream", NS, "cam")["metadata"]["uid"]
    )
    assert outcome.start_config.directory.startswith(f"{NS}/rec-")
    adopted = api.object("Pod", NS, "cam-recorder-1")
    assert owners(adopted) == [("Recording", rec["metadata"]["uid"])]
    assert adopted["metadata"]["labels"][COMPONENT_LABEL] == "recorder"
    assert adopted["metadata"]["annotations"][ADOPTED_ANNOTATION] == "rec"

    # Its recorder from now on: found by the pod index, never rolled for its standby spec hash.
    again = assert_idempotent(api, lambda: reconcile_rec(api))
    assert again.start_config == outcome.start_config, "a restarted standby is sent the configuration again"
    reconcile_stream(api)
    assert api.names("Pod") == ["cam-ingest", "cam-recorder-1", "cam-recorder-2"]


def test_two_recordings_never_adopt_the_same_standby(api):
    """The second adoption's patch carries the resourceVersion its (lagging) index showed: 409,
    and it creates a recorder of its own."""
    adoptable_standby(api)
    api.add_in(NS, recording("rec-a"))
    api.add_in(NS, recording("rec-b"))
    with api.lagging():
        a = reconcile_rec(api, "rec-a")
        api.clear_calls()
        b = reconcile_rec(api, "rec-b")
    assert a.start_config is not None and b.start_config is None
    assert [(c.verb, c.kind, c.name, c.result) for c in api.writes] == [
        ("patch", "Pod", "cam-recorder-1", "conflict"),
        ("create", "Pod", "rec-b-recorder", "ok"),
    ]
    assert api.object("Pod", NS, "cam-recorder-1")["metadata"]["annotations"][ADOPTED_ANNOTATION] == "rec-a"


def test_a_standby_that_is_not_running_is_not_adopted(api):
    api.add_in(NS, livestream("cam", recording={"standby": True}))
    reconcile_stream(api)  # cam-recorder-1 is Pending
    api.add_in(NS, recording("rec"))
    api.clear_calls()
    assert reconcile_rec(api).start_config is None
    assert done(api) == [("create", "Pod", "rec-recorder")]


def test_stopped_recording_keeps_its_running_recorder_until_finalised(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, recording("rec"))
    reconcile_rec(api)
    pod = api.object("Pod", NS, "rec-recorder")
    api.set_phase(NS, "rec-recorder", "Running")

    api.modify("Recording", NS, "rec", {"spec": {"stopped": True}})
    outcome = assert_idempotent(api, lambda: reconcile_rec(api))  # the recorder finalises its videos first
    assert outcome == RecordingOutcome(generation=2)

    succeeded = {
        "type": "Succeeded",
        "status": "True",
        "reason": "Finished",
        "lastTransitionTime": "2026-11-23T10:00:00Z",
    }
    api.modify("Recording", NS, "rec", {"status": {"conditions": [succeeded]}})
    api.clear_calls()
    reconcile_rec(api)
    assert done(api) == [("delete", "Pod", "rec-recorder")]
    assert api.writes[0].body == {"preconditions": {"uid": pod["metadata"]["uid"]}}
    assert api.names("Pod") == [] and api.names("PersistentVolumeClaim") == [SETTINGS.recordings.claim]
    assert_idempotent(api, lambda: reconcile_rec(api))


def test_stopped_recording_whose_recorder_never_ran_loses_it_at_once(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, recording("rec"))
    reconcile_rec(api)  # Pending
    api.modify("Recording", NS, "rec", {"spec": {"stopped": True}})
    reconcile_rec(api)
    assert api.names("Pod") == []


def test_invalid_recording_spec_is_an_outcome(api):
    api.add_in(NS, recording("rec", maxSegmentSeconds=1))
    outcome = reconcile_rec(api)
    assert outcome.invalid_spec and "maxSegmentSeconds" in outcome.invalid_spec
    assert api.writes == []


def test_host_network_recorder_waits_for_the_streams_ports_and_gives_its_own_back(api):
    allocator = PortAllocator(HOST.worker.ports)
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, recording("rec"))
    assert reconcile_rec(api, allocator=allocator).waiting_for_stream, "no ingest Service with ports yet"
    assert api.names("Pod") == []

    reconcile_stream(api, allocator=allocator)
    ingest = ports_of(api.object("Service", NS, "cam-ingest"))
    assert not reconcile_rec(api, allocator=allocator).waiting_for_stream
    pod = api.object("Pod", NS, "rec-recorder")
    [http] = ports_of(pod).values()
    assert http not in ingest.values() and allocator.used == 7  # the ingest's 6 (WebRTC's two among them), its own
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert config["feedUrl"] == f"http://127.0.0.1:{ingest['internal']}/feed", "the ingest's internal port"

    api.modify("Recording", NS, "rec", {"spec": {"stopped": True}})
    reconcile_rec(api, allocator=allocator)  # Pending: nothing to finalise
    assert api.names("Pod") == ["cam-ingest"] and allocator.used == 6


# --- Restream -------------------------------------------------------------------------------------


def test_restream_gets_its_stream_as_owner_once_and_a_pusher(api):
    stream = api.add_in(NS, livestream("cam"))
    rst = api.add_in(NS, restream("out"))
    outcome = reconcile_rst(api)
    patched_at = rst["metadata"]["resourceVersion"]
    assert (outcome.generation, outcome.stream_uid, outcome.owner_patched_at) == (
        1,
        stream["metadata"]["uid"],
        patched_at,
    )
    assert outcome.targets is not None and [t.name for t in outcome.targets.targets] == ["out"]
    assert done(api) == [
        ("create", "Pod", "cam-pusher"),
        ("create", "PodDisruptionBudget", "cam-pusher"),  # (the restart policy handover: handover.md, Part 5)
        ("patch", "Restream", "out"),
    ], "the pusher first"
    # The loop's body lags behind the patch until the watch shows it: no second patch meanwhile ...
    api.clear_calls()
    assert reconcile_restream(api, SETTINGS, rst, owner_patched_at=patched_at).owner_patched_at == patched_at
    assert done(api) == []
    # ... but a newer body without the owner (someone removed it) gets it again.
    newer = {**rst, "metadata": {**rst["metadata"], "resourceVersion": "newer"}}
    assert reconcile_restream(api, SETTINGS, newer, owner_patched_at=patched_at).owner_patched_at == "newer"
    assert done(api) == [("patch", "Restream", "out")]
    assert owners(api.object("Restream", NS, "out")) == [("LiveStream", stream["metadata"]["uid"])]
    assert owners(api.object("Pod", NS, "cam-pusher")) == [("Restream", rst["metadata"]["uid"])]
    assert api.object("Restream", NS, "out")["metadata"]["generation"] == 1, "metadata only: no new generation"
    assert_idempotent(api, lambda: reconcile_rst(api))


def test_restream_of_a_recreated_stream_follows_the_new_one(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out"))
    reconcile_rst(api)
    del api.store[("LiveStream", NS, "cam")]
    new = api.add_in(NS, livestream("cam"))
    reconcile_rst(api)
    assert owners(api.object("Restream", NS, "out")) == [("LiveStream", new["metadata"]["uid"])]


def test_inactive_restream_has_no_pusher(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out"))
    reconcile_rst(api)
    api.modify("Restream", NS, "out", {"spec": {"active": False}})
    api.clear_calls()
    assert reconcile_rst(api) == RestreamOutcome(generation=2), "no target: no set to send"
    assert done(api) == [("delete", "Pod", "cam-pusher"), ("delete", "PodDisruptionBudget", "cam-pusher")]
    assert api.names("Pod") == []
    assert_idempotent(api, lambda: reconcile_rst(api))
    api.modify("Restream", NS, "out", {"spec": {"active": True}})
    reconcile_rst(api)
    assert api.names("Pod") == ["cam-pusher"]


def test_restream_waits_for_its_stream(api):
    api.add_in(NS, restream("out"))
    outcome = reconcile_rst(api)
    assert outcome.waiting_for_stream and outcome.generation == 1 and outcome.stream_uid is None
    assert api.writes == []


def test_restream_with_a_missing_target_key_reports_it_and_starts_once_it_exists(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out", streamKeySecretRef={"name": "yt"}))
    assert reconcile_rst(api).key_secret_missing == "yt"
    assert api.writes == [], "no Pod that would hang in ContainerCreating"

    api.add_in(
        NS,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "yt", "labels": LABELS}, "data": {"key": "eA=="}},
    )
    assert reconcile_rst(api).key_secret_missing == "yt (key streamKey)"

    api.modify("Secret", NS, "yt", {"data": {"streamKey": "eA=="}})
    outcome = reconcile_rst(api)
    assert outcome.key_secret_missing is None and outcome.targets is not None
    assert outcome.targets.targets[0].stream_key is not None
    assert outcome.targets.targets[0].stream_key.get_secret_value() == "x", "the key's value, for PUT /targets"
    assert api.names("Pod") == ["cam-pusher"]


def test_restream_with_host_ports_keeps_its_port(api):
    allocator = PortAllocator(HOST.worker.ports)
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, restream("out"))
    assert reconcile_rst(api, allocator=allocator).waiting_for_stream
    reconcile_stream(api, allocator=allocator)
    reconcile_rst(api, allocator=allocator)
    port = ports_of(api.object("Pod", NS, "cam-pusher"))
    assert set(port) == {"http"} and allocator.used == 7
    assert_idempotent(api, lambda: reconcile_rst(api, allocator=allocator))
    assert allocator.used == 7
    api.modify("Restream", NS, "out", {"spec": {"active": False}})
    reconcile_rst(api, allocator=allocator)
    assert allocator.used == 6


def test_the_restreams_of_a_stream_read_each_others_secrets_once_not_once_each(api):
    """50 Restreams reconciling together (an operator start) read each sibling's key Secret once a
    moment, not once per sibling: N + N reads, not N² (control/restream/secret_reads.py). Each reads
    its own Secret fresh."""
    api.add_in(NS, livestream("cam"))
    names = [f"r{i:02d}" for i in range(50)]
    for name in names:
        data = {"streamKey": "eA=="}
        api.add_in(
            NS,
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"k-{name}", "labels": LABELS}, "data": data},
        )
        api.add_in(NS, restream(name, streamKeySecretRef={"name": f"k-{name}"}))
    recent_secrets(api).clock = lambda: 0.0  # one moment, however slow the machine
    api.clear_calls()
    for name in names:
        assert len(reconcile_rst(api, name).targets.targets) == 50  # type: ignore[union-attr]
    secret_gets = [c for c in api.server_reads if c.kind == "Secret"]
    assert len(secret_gets) <= 2 * len(names), f"{len(secret_gets)} Secret reads for {len(names)} Restreams"


def test_the_restreams_of_a_stream_share_one_pusher_whose_owners_follow_them(api):
    """docs/design/shared-pusher.md: one Pod per stream, owned by the Restreams with a target (none
    its controller); a Restream added or removed changes its owners and the set, never its spec."""
    api.add_in(NS, livestream("cam"))
    first = api.add_in(NS, restream("out"))
    second = api.add_in(NS, restream("yt", uri="rtmp://198.51.100.9/live"))
    reconcile_rst(api)
    pod = api.object("Pod", NS, "cam-pusher")
    assert sorted(owners(pod)) == sorted(
        [("Restream", first["metadata"]["uid"]), ("Restream", second["metadata"]["uid"])]
    )
    assert not any(r.get("controller") for r in pod["metadata"]["ownerReferences"])
    outcome = reconcile_rst(api, "yt")
    assert outcome.targets is not None and [t.name for t in outcome.targets.targets] == ["out", "yt"]
    assert api.object("Pod", NS, "cam-pusher")["metadata"]["uid"] == pod["metadata"]["uid"]

    api.modify("Restream", NS, "yt", {"spec": {"active": False}})
    api.clear_calls()
    outcome = reconcile_rst(api, "yt")
    assert outcome.targets is not None and [t.name for t in outcome.targets.targets] == ["out"]
    assert done(api) == [("patch", "PodDisruptionBudget", "cam-pusher"), ("patch", "Pod", "cam-pusher")], (
        "their owners only: the Pod stays"
    )
    assert owners(api.object("Pod", NS, "cam-pusher")) == [("Restream", first["metadata"]["uid"])]
    assert_idempotent(api, lambda: reconcile_rst(api))

    # A Restream's own Pod of an older operator goes once its Restream is reconciled.
    legacy = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "out-pusher", "namespace": NS}}
    legacy["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "Restream",
            "name": "out",
            "uid": first["metadata"]["uid"],
            "controller": True,
        }
    ]
    api.add_in(NS, legacy)
    reconcile_rst(api)
    assert api.names("Pod") == ["cam-pusher"]
