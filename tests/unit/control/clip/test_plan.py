"""plan_clipper() as the pure function it is: what a Clip's reconcile wants from the Clip, the
quota and an Observed built by hand (no API at all). The refusals' wording: test_reconcile.py; the
writes: tests/unit/control/shared/test_tenancy_secrets.py and test_reconcile.py."""

from __future__ import annotations

from functools import partial
from typing import Any

from devtools.catalog import stored_clip, stored_livestream
from streamops.api import Clip
from streamops.api.recording import PersistentVolumeClaimStorage, RecordingStorage
from streamops.control.clip import reasons
from streamops.control.clip.observation import Observed
from streamops.control.clip.plan import Plan, plan_clipper, wanted_pod
from streamops.control.shared.conditions import REFUSED_BY_POLICY
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.video_storage import STORAGE_CREDENTIALS_MISSING, StorageRefusal

SETTINGS = OperatorSettings()
STREAM = stored_livestream(uid="stream-uid", dvr={"enabled": True, "durationSeconds": 600})
CLAIM = RecordingStorage(pvc=PersistentVolumeClaimStorage(claim_name=SETTINGS.recordings.claim))
MISSING = StorageRefusal(STORAGE_CREDENTIALS_MISSING, "Secret s3-creds does not exist")
BY_POLICY = StorageRefusal(REFUSED_BY_POLICY, "Secret s3-creds is not labelled")
RUNNING: dict[str, Any] = {"metadata": {"name": "best-clipper"}, "status": {"phase": "Running"}}

a_clip = partial(stored_clip, name="best", created="2026-11-26T10:00:00Z")


def observed(clipper: dict[str, Any] | None = None, **changes: Any) -> Observed:
    """The stream exists (with a DVR window), the clip goes to the default claim."""
    return Observed(clipper, **{"stream": STREAM, "storage": CLAIM, **changes})


def plan(clip: Clip | None = None, seen: Observed | None = None, final: bool = False, **inputs: Any) -> Plan:
    return plan_clipper(clip or a_clip(lastSeconds=30), seen or observed(), final, **inputs)


def writes(p: Plan) -> tuple[bool, bool, bool]:
    return p.remove, p.create_claim, p.clipper


def test_a_new_clip_creates_the_default_claim_then_its_clipper():
    p = plan()
    assert writes(p) == (False, True, True) and p.stream == STREAM and p.storage == CLAIM
    assert writes(plan(seen=observed(RUNNING))) == (False, False, True), "a clipper running: no claim"
    pod = wanted_pod(p, SETTINGS, observed(), None)
    assert pod["metadata"]["name"] == "best-clipper"


def test_a_final_clip_removes_its_clipper_and_nothing_else():
    p = plan(seen=Observed(RUNNING), final=True)
    assert writes(p) == (True, False, False) and p.stream is None and p.refused is None


def test_a_missing_stream_waits_and_writes_nothing():
    p = plan(seen=Observed(None))
    assert p.waiting_for_stream and writes(p) == (False, False, False)


def test_a_refused_clip_gets_no_pod_and_names_its_stream():
    p = plan(seen=observed(stream=stored_livestream(uid="stream-uid")))
    assert p.refused is not None and p.refused.reason == reasons.NO_DVR
    assert writes(p) == (False, False, False) and p.stream is not None and p.storage is None


def test_a_full_quota_refuses_a_clip_with_no_clipper_yet():
    p = plan(no_space="9 GiB of 10 GiB")
    assert p.refused is not None and p.refused.reason == reasons.NO_SPACE and "9 GiB of 10 GiB" in p.refused.message
    assert not p.clipper
    assert plan(seen=observed(RUNNING), no_space="9 GiB of 10 GiB").clipper, "a running clipper finishes"


def test_a_refused_storage_starts_no_clipper_and_a_refusal_by_policy_removes_a_running_one():
    none_yet = plan(seen=observed(storage_refused=MISSING))
    assert none_yet.storage_refused == MISSING and writes(none_yet) == (True, False, False)
    kept = plan(seen=observed(RUNNING, storage_refused=MISSING))
    assert kept.clipper and kept.storage_refused is None
    removed = plan(seen=observed(RUNNING, storage_refused=BY_POLICY))
    assert writes(removed) == (True, False, False) and removed.storage_refused == BY_POLICY


def test_on_the_host_network_it_waits_for_the_streams_ports_after_the_claim():
    p = plan(seen=observed(host_network=True))
    assert p.waiting_for_stream and writes(p) == (False, True, False) and p.stream is None and p.storage == CLAIM
    allocated = observed(host_network=True, ingest_ports={"http": 30001, "internal": 30002})
    ready = plan(seen=allocated)
    assert ready.clipper and not ready.waiting_for_stream
    pod = wanted_pod(ready, SETTINGS, allocated, {"http": 30009})
    assert pod["spec"]["containers"][0]["ports"][0]["containerPort"] == 30009, "its own port"
    assert ":30001/hls/" in pod["spec"]["containers"][0]["env"][0]["value"], "the ingest's HTTP port"
