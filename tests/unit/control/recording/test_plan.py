"""plan_recorder() as the pure function it is: what a Recording's reconcile wants from the
Recording, the settings and an Observed built by hand (no API at all), and the second-phase
functions apply.py calls once the adoption has answered. The writes themselves:
tests/unit/control/test_reconcilers.py."""

from __future__ import annotations

import json
from typing import Any

from devtools.catalog import stored_livestream, stored_recording
from streamops.api import Recording
from streamops.api.recording import PersistentVolumeClaimStorage, RecordingStorage
from streamops.control.recording.observation import Observed
from streamops.control.recording.plan import Plan, adopted, plan_recorder, start_config, wanted_pod
from streamops.control.shared.conditions import REFUSED_BY_POLICY
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.video_storage import STORAGE_CREDENTIALS_MISSING, StorageRefusal
from streamops.kube.naming import ADOPTED_ANNOTATION, HOST_PORTS_ANNOTATION, IMMEDIATE, RESTARTS_ANNOTATION

SETTINGS = OperatorSettings()
STREAM = stored_livestream(recording={"standby": True})
DEFAULT_CLAIM = RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name=SETTINGS.recordings.claim))
OWN_CLAIM = RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name="archive"))
MISSING = StorageRefusal(STORAGE_CREDENTIALS_MISSING, "Secret s3-creds does not exist")
BY_POLICY = StorageRefusal(REFUSED_BY_POLICY, "Secret s3-creds is not labelled")


def pod(phase: str = "Running", **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "rec-recorder", "annotations": annotations}, "status": {"phase": phase}}


def observed(recorder: dict[str, Any] | None = None, **changes: Any) -> Observed:
    """The stream exists, the videos go to the default claim, its Secrets are fine."""
    return Observed(recorder, **{"stream": STREAM, "storage": DEFAULT_CLAIM, **changes})


def plan(recording: Recording | None = None, seen: Observed | None = None, **inputs: Any) -> Plan:
    args = {"finalised": False, **inputs}
    return plan_recorder(recording or stored_recording(), SETTINGS.recordings, seen or observed(), **args)


def writes(p: Plan) -> tuple[bool, bool, bool, str | None]:
    return p.remove, p.create_claim, p.recorder, p.adopt


def test_a_new_recording_creates_the_default_claim_then_its_recorder():
    p = plan()
    assert writes(p) == (False, True, True, None)
    assert p.stream == STREAM and p.storage == DEFAULT_CLAIM and not p.waiting_for_stream
    assert writes(plan(seen=observed(pod()))) == (False, False, True, None), "a recorder running: no claim"


def test_a_stopped_recording_removes_its_recorder_once_nothing_is_left_to_finalise():
    stopped = stored_recording(stopped=True)
    assert not plan(stopped, observed(pod())).remove, "a running recorder finalises its videos first"
    assert plan(stopped, observed(pod()), finalised=True).remove
    assert plan(stopped, observed(pod("Pending"))).remove, "a recorder that never ran has nothing to finalise"
    p = plan(stopped, observed(pod()), finalised=True)
    assert (p.create_claim, p.recorder, p.stream, p.storage) == (False, False, None, None)


def test_a_missing_stream_waits_and_writes_nothing():
    p = plan(seen=Observed(None))
    assert p.waiting_for_stream and writes(p) == (False, False, False, None) and p.stream is None


def test_a_full_quota_starts_no_recorder_but_keeps_a_running_one():
    p = plan(quota_full=True)
    assert p.no_space and writes(p) == (False, False, False, None) and p.stream == STREAM
    running = plan(seen=observed(pod()), quota_full=True)
    assert not running.no_space and running.recorder


def test_a_refused_storage_starts_no_recorder_and_a_refusal_by_policy_removes_a_running_one():
    none_yet = plan(seen=observed(storage_refused=MISSING))
    assert none_yet.storage_refused == MISSING and not none_yet.recorder and not none_yet.create_claim
    kept = plan(seen=observed(pod(), storage_refused=MISSING))
    assert kept.recorder and kept.storage_refused is None, "a running recorder already has the Secret"
    removed = plan(seen=observed(pod(), storage_refused=BY_POLICY))
    assert removed.remove and not removed.recorder and removed.storage_refused == BY_POLICY


def test_on_the_host_network_it_waits_for_the_streams_ports_after_the_claim():
    p = plan(seen=observed(host_network=True))
    assert p.waiting_for_stream and writes(p) == (False, True, False, None)
    assert p.stream is None and p.storage == DEFAULT_CLAIM, "the outcome names no stream yet"
    ready = plan(seen=observed(host_network=True, ingest_ports={"internal": 30001}))
    assert ready.recorder and not ready.waiting_for_stream


def test_only_a_recording_on_the_default_claim_with_no_recorder_adopts_the_standby():
    assert plan(standby="cam-recorder-1").adopt == "cam-recorder-1"
    assert plan(seen=observed(storage=OWN_CLAIM), standby="cam-recorder-1").adopt is None
    assert plan(seen=observed(pod()), standby="cam-recorder-1").adopt is None
    assert plan(seen=observed(stream=stored_livestream()), standby="cam-recorder-1").adopt is None
    assert plan(standby=None).adopt is None


def test_busy_and_immediate_come_from_the_stored_recording():
    assert not plan().busy and not plan().immediate
    assert plan(stored_recording({"recording": True})).busy
    recording = stored_recording()
    metadata = recording.metadata.model_copy(update={"annotations": {RESTARTS_ANNOTATION: IMMEDIATE}})
    assert plan(recording.model_copy(update={"metadata": metadata})).immediate


# --- the second phase ---------------------------------------------------------------------------------


def test_an_adopted_standby_is_sent_the_recordings_configuration_on_its_own_port():
    annotations = {ADOPTED_ANNOTATION: "rec", HOST_PORTS_ANNOTATION: json.dumps({"http": 30005})}
    standby = {"metadata": {"name": "cam-recorder-1", "annotations": annotations}}
    assert adopted(standby) and not adopted(pod()) and not adopted(None)
    p = plan(standby="cam-recorder-1")
    config = start_config(p, SETTINGS, observed(), standby)
    assert config.recording == "rec" and config.http_port == 30005


def test_the_recorder_pod_carries_its_host_port_and_its_claims_access_modes():
    seen = observed(storage=OWN_CLAIM, claim_access_modes=("ReadWriteMany",))
    desired = wanted_pod(plan(seen=seen), SETTINGS, seen, {"http": 30007})
    assert desired["metadata"]["name"] == "rec-recorder"
    assert desired["spec"]["containers"][0]["ports"][0]["containerPort"] == 30007
    assert "affinity" not in desired["spec"], "a claim many nodes mount ties the recorder to none"
