"""The Recording reconciler (reconcile.py) against the fake of our own API adapter: the storage's
Secrets checked before a Pod exists, no Pod while the quota is full."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from devtools.catalog import livestream, named_ladder, quality_set, recording
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.recording.status import StorageRefusal
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS

NS = "media"
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()


@pytest.fixture
def api() -> FakeKubeApi:
    return operator_view()


def put(api: FakeKubeApi, body: dict[str, Any]) -> dict[str, Any]:
    body["metadata"]["namespace"] = NS
    return api.add(body)


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
    put(api, livestream("cam"))
    put(api, recording("rec", storage={"s3": {**S3, "caSecret": "s3-ca"}}))
    outcome = reconcile(api)
    assert outcome.storage_refused == StorageRefusal(
        "StorageCredentialsMissing", "Secret s3-creds (storage.s3.credentialsSecret) does not exist"
    )
    assert api.names("Pod") == [] and api.names("PersistentVolumeClaim") == []

    put(api, secret("s3-creds", accessKeyId="AKID-VALUE"))
    outcome = reconcile(api)
    assert outcome.storage_refused is not None
    assert (
        outcome.storage_refused.message == "Secret s3-creds (storage.s3.credentialsSecret) has no key secretAccessKey"
    )
    assert "AKID-VALUE" not in outcome.storage_refused.message

    api.store.pop(("Secret", NS, "s3-creds"), None)
    put(api, secret("s3-creds", accessKeyId="AKID-VALUE", secretAccessKey="SECRET-VALUE"))
    outcome = reconcile(api)
    assert outcome.storage_refused == StorageRefusal(
        "CaSecretMissing", "Secret s3-ca (storage.s3.caSecret) does not exist"
    )
    put(api, secret("s3-ca", **{"ca.crt": "-----BEGIN CERTIFICATE-----"}))
    outcome = reconcile(api)
    assert outcome.storage_refused is None and api.names("Pod") == ["rec-recorder"]
    assert api.names("PersistentVolumeClaim") == [], "object storage needs no claim"


def test_a_full_quota_means_no_pod_for_a_recording_that_has_none(api):
    put(api, livestream("cam"))
    put(api, recording("rec"))
    outcome = reconcile(api, quota_full=True)
    assert outcome.no_space and api.names("Pod") == []
    outcome = reconcile(api, quota_full=False)
    assert not outcome.no_space and api.names("Pod") == ["rec-recorder"]
    # A recorder that runs is left alone (its status loop finalises it).
    assert not reconcile(api, recorder="rec-recorder", quota_full=True).no_space
    assert api.names("Pod") == ["rec-recorder"]


def test_a_transcoded_recording_of_a_stream_naming_a_set_keeps_the_sets_renditions(api):
    put(api, quality_set("hd"))
    put(api, livestream("cam", transcoding=named_ladder("hd"), recording={"type": "transcoded"}))
    put(api, recording("rec"))
    reconcile(api)
    pod = api.object("Pod", NS, "rec-recorder") or {}
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert [r["name"] for r in config["renditions"]] == ["360p", "180p"], "tallest first, from the set"
    assert config["feedUrl"].endswith("/feed/transcoded")
