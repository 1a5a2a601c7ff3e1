"""The recorder Pod (specs/pod.py): on a claim as before, or for S3 with emptyDir scratch space,
credentials by secretKeyRef, the CA bundle and no claim affinity; its spec hash follows its storage."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from devtools.catalog import stored_livestream, stored_recording
from streamops.contract.recorder import ACCESS_KEY_ENV, SECRET_KEY_ENV
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.recordings_claim import CLAIM_LABEL
from streamops.kube.naming import SPEC_HASH_ANNOTATION

S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="stream-uid", generation=1)


rec = stored_recording


def container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def config(pod: dict[str, Any]) -> dict[str, Any]:
    return json.loads(container(pod)["env"][0]["value"])


def test_s3_recorder_pod_uses_scratch_space_env_credentials_and_the_ca_and_runs_anywhere():
    pod = recorder_pod(rec(storage={"s3": {**S3, "caSecret": "s3-ca"}}), stream(), SETTINGS)
    spec, c = pod["spec"], container(pod)
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["recordings"] == {"name": "recordings", "emptyDir": {"sizeLimit": "10Gi"}}
    assert not any("persistentVolumeClaim" in v for v in spec["volumes"])
    assert volumes["s3-ca"]["secret"] == {"secretName": "s3-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["s3-ca"] == {"name": "s3-ca", "mountPath": "/etc/streamops/s3-ca", "readOnly": True}
    assert "affinity" not in spec and CLAIM_LABEL not in pod["metadata"]["labels"]
    env = {e["name"]: e for e in c["env"][1:]}
    assert env[ACCESS_KEY_ENV]["valueFrom"] == {"secretKeyRef": {"name": "s3-creds", "key": "accessKeyId"}}
    assert env[SECRET_KEY_ENV]["valueFrom"] == {"secretKeyRef": {"name": "s3-creds", "key": "secretAccessKey"}}
    assert config(pod)["upload"]["bucket"] == "videos" and config(pod)["recordingsRoot"] == "/recordings"
    # Its scratch space goes with the Pod: on SIGTERM it uploads for up to 295 s of its 300 s grace.
    assert spec["terminationGracePeriodSeconds"] == 300 and config(pod)["exitUploadSeconds"] == 295
    # The upload backoff cap stays unset (the recorder's 30 s): a value would change every recorder's Pod hash.
    assert "uploadBackoffMaxSeconds" not in config(pod)
    small = OperatorSettings(recordings=RecordingsSettings(scratch_size="2Gi"))
    assert (
        recorder_pod(rec(storage={"s3": S3}), stream(), small)["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == "2Gi"
    )


def test_the_recorders_spec_hash_follows_its_storage():
    def hash_of(storage: dict[str, Any] | None) -> str:
        r = rec(storage=storage) if storage else rec()
        return str(recorder_pod(r, stream(), SETTINGS)["metadata"]["annotations"][SPEC_HASH_ANNOTATION])

    hashes = {
        hash_of(None),
        hash_of({"s3": S3}),
        hash_of({"s3": {**S3, "credentialsSecret": "other"}}),  # only in the env's secretKeyRef
        hash_of({"s3": {**S3, "caSecret": "ca"}}),
        hash_of({"s3": {**S3, "bucket": "other-bucket"}}),
    }
    assert len(hashes) == 5
    assert hash_of({"s3": S3}) == hash_of({"s3": S3}), "stable"


def test_a_pvc_recorder_pod_is_as_before():
    pod = recorder_pod(rec(), stream(), SETTINGS)
    assert [e["name"] for e in container(pod)["env"]] == ["STREAMOPS_RECORDER_CONFIG"]
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"] == {"claimName": "streamops-recordings"}
    assert "upload" not in config(pod) and "affinity" in pod["spec"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == 15 and config(pod)["exitUploadSeconds"] == 10
    # The stream's default claim, with its subPath, is the Recording's when it names none.
    by_stream = recorder_pod(
        rec(), stream(recording={"storage": {"pvc": {"claimName": "a", "subPath": "x"}}}), SETTINGS
    )
    assert by_stream["spec"]["volumes"][0]["persistentVolumeClaim"] == {"claimName": "a"}
    assert config(by_stream)["directory"] == "x/rec-01234567"
