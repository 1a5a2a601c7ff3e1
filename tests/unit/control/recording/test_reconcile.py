"""The Recording reconciler (reconcile.py) against the fake of our own API adapter: the storage's
Secrets checked before a Pod exists, no Pod while the quota is full."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import livestream, named_ladder, quality_set, recording
from devtools.fake_kube import FakeKubeApi
from streamops.control.recording import reconcile as reconcile_module
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.recording.status import StorageRefusal
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS

NS = "media"
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()


def secret(name: str, **data: str) -> dict[str, Any]:
    """A Secret its owner labelled for use by specs (tests/unit/control/shared/test_tenancy.py: one that is not)."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    metadata = {"name": name, "labels": dict(ALLOW_REFERENCE_LABELS)}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": encoded}


def reconcile(api: FakeKubeApi, settings: OperatorSettings = SETTINGS, **hints: Any):
    body = api.object("Recording", NS, "rec")
    assert body is not None
    return reconcile_recording(api, settings, body, None, **hints)


def test_missing_credentials_mean_no_pod_and_a_message_naming_the_secret(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, recording("rec", storage={"s3": {**S3, "caSecret": "s3-ca"}}))
    outcome = reconcile(api)
    assert outcome.storage_refused == StorageRefusal(
        "StorageCredentialsMissing", "Secret s3-creds (storage.s3.credentialsSecret) does not exist"
    )
    assert api.names("Pod") == [] and api.names("PersistentVolumeClaim") == []

    api.add_in(NS, secret("s3-creds", accessKeyId="AKID-VALUE"))
    outcome = reconcile(api)
    assert outcome.storage_refused is not None
    assert (
        outcome.storage_refused.message == "Secret s3-creds (storage.s3.credentialsSecret) has no key secretAccessKey"
    )
    assert "AKID-VALUE" not in outcome.storage_refused.message

    api.store.pop(("Secret", NS, "s3-creds"), None)
    api.add_in(NS, secret("s3-creds", accessKeyId="AKID-VALUE", secretAccessKey="SECRET-VALUE"))
    outcome = reconcile(api)
    assert outcome.storage_refused == StorageRefusal(
        "CaSecretMissing", "Secret s3-ca (storage.s3.caSecret) does not exist"
    )
    api.add_in(NS, secret("s3-ca", **{"ca.crt": "-----BEGIN CERTIFICATE-----"}))
    outcome = reconcile(api)
    assert outcome.storage_refused is None and api.names("Pod") == ["rec-recorder"]
    assert api.names("PersistentVolumeClaim") == [], "object storage needs no claim"


def test_a_full_quota_means_no_pod_for_a_recording_that_has_none(api):
    api.add_in(NS, livestream("cam"))
    api.add_in(NS, recording("rec"))
    outcome = reconcile(api, quota_full=True)
    assert outcome.no_space and api.names("Pod") == []
    outcome = reconcile(api, quota_full=False)
    assert not outcome.no_space and api.names("Pod") == ["rec-recorder"]
    # A recorder that runs is left alone (its status loop finalises it).
    assert not reconcile(api, recorder="rec-recorder", quota_full=True).no_space
    assert api.names("Pod") == ["rec-recorder"]


def test_a_transcoded_recording_of_a_stream_naming_a_set_keeps_the_sets_renditions(api):
    api.add_in(NS, quality_set("hd"))
    api.add_in(NS, livestream("cam", transcoding=named_ladder("hd"), recording={"type": "transcoded"}))
    api.add_in(NS, recording("rec"))
    reconcile(api)
    pod = api.object("Pod", NS, "rec-recorder") or {}
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert [r["name"] for r in config["renditions"]] == ["360p", "180p"], "tallest first, from the set"
    assert config["feedUrl"].endswith("/feed/transcoded")


# --- the origin expiry Pod (keepOrigin on a claim), a child the plan decides when the loop asks -----------

ENDED = datetime(2026, 11, 23, 10, 0, 10, tzinfo=UTC)
DELETE_AT = ENDED + timedelta(days=7)
EXPIRY_POD = "rec-origin-expiry"


def kept(n: int, **origin: Any) -> dict[str, Any]:
    """A video on the claim with its original, due at DELETE_AT."""
    return {
        "title": "t",
        "path": f"media/rec-r/record-{n}.mp4",
        "durationSeconds": 10.0,
        "sizeBytes": 10,
        "startedAt": "2026-11-23T10:00:00Z",
        "endedAt": "2026-11-23T10:00:10Z",
        "origin": {
            "width": 1280,
            "height": 720,
            "path": f"media/rec-r/record-{n}-origin.mp4",
            "sizeBytes": 30,
            "deleteAt": DELETE_AT.isoformat(),
            **origin,
        },
    }


@pytest.fixture
def finished(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> FakeKubeApi:
    """A stopped Recording on the claim `videos` whose first original is due now, its second tomorrow."""
    monkeypatch.setattr(reconcile_module, "utcnow", lambda: DELETE_AT)
    body = recording("rec", stopped=True)
    body["metadata"]["uid"] = "r"
    later = (DELETE_AT + timedelta(days=1)).isoformat()
    body["status"] = {"storage": {"pvc": {"claimName": "videos"}}, "videos": [kept(1), kept(2, deleteAt=later)]}
    api.add_in(NS, body)
    return api


def test_originals_due_on_a_claim_go_to_a_one_shot_pod_when_the_loop_asks(finished: FakeKubeApi) -> None:
    reconcile(finished)
    assert finished.names("Pod") == [], "only when the status loop asks (at most every retention interval)"
    assert reconcile(finished, expire_origins=True).origin_expiry_ended is None
    [pod] = finished.objects("Pod")
    assert pod["metadata"]["name"] == EXPIRY_POD
    spec = pod["spec"]
    container = spec["containers"][0]
    assert container["args"] == ["worker", "expire"] and spec["restartPolicy"] == "Never"
    assert "readinessProbe" not in container and "livenessProbe" not in container and container["ports"] == []
    assert {"persistentVolumeClaim": {"claimName": "videos"}}.items() <= spec["volumes"][0].items()
    assert pod["metadata"]["labels"]["streaming.streamops.dev/recordings-claim"] == "videos"
    assert "podAffinity" in spec["affinity"], "next to the claim's recorders (ReadWriteOnce: one node)"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Recording"
    config = json.loads(container["env"][0]["value"])
    assert config["origins"] == [
        {
            "path": "media/rec-r/record-1-origin.mp4",
            "sidecar": "media/rec-r/record-1.json",
            "expiredAt": "2026-11-30T10:00:10Z",
        }
    ], "only the one past its deleteAt"
    # What the reconcile reads back once it has ended.
    assert json.loads(pod["metadata"]["annotations"]["streaming.streamops.dev/origins"]) == [
        "media/rec-r/record-1-origin.mp4"
    ]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_an_ended_expiry_pod_goes_and_the_outcome_says_what_it_did(finished: FakeKubeApi, phase: str) -> None:
    reconcile(finished, expire_origins=True)
    assert reconcile(finished, origin_expiry_ended=EXPIRY_POD).origin_expiry_ended is None, "Pending: kept"
    finished.set_phase(NS, EXPIRY_POD, phase)
    uid = finished.object("Pod", NS, EXPIRY_POD)["metadata"]["uid"]  # type: ignore[index]
    ended = reconcile(finished, origin_expiry_ended=EXPIRY_POD).origin_expiry_ended
    assert ended is not None and (ended.name, ended.uid, ended.succeeded) == (EXPIRY_POD, uid, phase == "Succeeded")
    assert ended.origins == ("media/rec-r/record-1-origin.mp4",)
    assert finished.names("Pod") == []


def test_originals_in_a_bucket_need_no_pod(api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconcile_module, "utcnow", lambda: DELETE_AT)
    body = recording("rec", stopped=True)
    body["metadata"]["uid"] = "r"
    video = kept(1, url="s3://videos/k/record-1-origin.mp4", path=None, upload="uploaded")
    body["status"] = {"storage": {"s3": S3}, "videos": [video]}
    api.add_in(NS, body)
    reconcile(api, expire_origins=True)
    assert api.names("Pod") == [], "the operator deletes them itself (origin_expiry.py)"
