"""The recorder's Pod as both kinds make it (control/storage/recorder_pod.py): the warm standby a
stream keeps (owned by the stream, on the recordings claim, presenting the stream's worker credential),
and the Pod of a worker storing an object's videos: on scratch space with the bucket's keys as env, or
on its claim next to the claim's other users. Claim placement across nodes: tests/unit/control/storage/
test_recordings_claim.py."""

from __future__ import annotations

import json
from typing import Any

from devtools.catalog import stored_livestream
from streamops.api.recording import RecordingStorage
from streamops.contract.recorder import CONFIG_ENV, RECORDINGS_ROOT, StandbyConfig
from streamops.contract.storage_credentials import ACCESS_KEY_ENV, SECRET_KEY_ENV
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import (
    RECORDER_COMPONENT,
    STANDBY_COMPONENT,
    recorder_standby_pod,
    standby_pod_name,
    video_worker_metadata,
    video_worker_pod,
)
from streamops.control.storage.recordings_claim import CLAIM_LABEL
from streamops.kube.naming import STREAM_NAME_ANNOTATION

SETTINGS = OperatorSettings()
S3 = {"s3": {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "keys", "caSecret": "ca"}}


def container(pod: dict[str, Any]) -> dict[str, Any]:
    [only] = pod["spec"]["containers"]
    return only


def volume_sources(pod: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: {k: x for k, x in v.items() if k != "name"} for v in pod["spec"]["volumes"]}


def test_a_standby_is_the_streams_recorder_on_the_claim_waiting_for_a_recording():
    assert standby_pod_name("cam", 2) == "cam-recorder-2"
    pod = recorder_standby_pod(stored_livestream(uid="stream-uid"), "cam-recorder-2", SETTINGS)
    meta = pod["metadata"]
    assert meta["name"] == "cam-recorder-2" and meta["annotations"][STREAM_NAME_ANNOTATION] == "cam"
    assert meta["labels"]["app.kubernetes.io/component"] == STANDBY_COMPONENT
    assert meta["labels"][CLAIM_LABEL] == SETTINGS.recordings.claim
    assert [(o["kind"], o["uid"]) for o in meta["ownerReferences"]] == [("LiveStream", "stream-uid")]
    [config] = [e["value"] for e in container(pod)["env"] if e["name"] == CONFIG_ENV]
    standby = StandbyConfig.model_validate_json(config)
    assert standby.standby and standby.recordings_root == RECORDINGS_ROOT and standby.credential_file
    assert volume_sources(pod)["recordings"] == {"persistentVolumeClaim": {"claimName": SETTINGS.recordings.claim}}
    assert {"name": "recordings", "mountPath": RECORDINGS_ROOT} in container(pod)["volumeMounts"]


def test_a_standby_on_host_ports_listens_on_its_own():
    pod = recorder_standby_pod(stored_livestream(uid="u"), "cam-recorder-1", SETTINGS, {"http": 31080})
    assert json.loads(container(pod)["env"][0]["value"])["httpPort"] == 31080


def test_a_video_worker_on_a_claim_or_on_scratch_space_with_the_buckets_keys():
    claim_storage = RecordingStorage.model_validate({"pvc": {"claimName": "team-videos"}})
    meta, claim = video_worker_metadata(
        "Recording",
        "rec",
        "ns",
        "rec-uid",
        "cam",
        RECORDER_COMPONENT,
        "x/recording",
        "cam-rec",
        claim_storage,
        SETTINGS.recordings,
    )
    assert claim == "team-videos" and meta["labels"][CLAIM_LABEL] == "team-videos"
    assert meta["labels"]["x/recording"] == "rec" and meta["ownerReferences"][0]["kind"] == "Recording"
    config = StandbyConfig(standby=True, recordings_root=RECORDINGS_ROOT, http_port=8080)
    on_claim = video_worker_pod(meta, "record", config, CONFIG_ENV, 8080, claim_storage, claim, SETTINGS)
    assert volume_sources(on_claim)["recordings"] == {"persistentVolumeClaim": {"claimName": "team-videos"}}
    assert not {ACCESS_KEY_ENV, SECRET_KEY_ENV} & {e["name"] for e in container(on_claim)["env"]}

    bucket = RecordingStorage.model_validate(S3)
    meta, claim = video_worker_metadata(
        "Clip", "goal", "ns", "clip-uid", "cam", "clipper", "x/clip", "cam-goal", bucket, SETTINGS.recordings
    )
    assert claim is None and CLAIM_LABEL not in meta["labels"]
    on_bucket = video_worker_pod(
        meta, "clip", config, CONFIG_ENV, 8080, bucket, None, SETTINGS, upload_grace_seconds=300
    )
    volumes = volume_sources(on_bucket)
    assert "emptyDir" in volumes["recordings"] and volumes["s3-ca"]["secret"]["secretName"] == "ca"
    env = {e["name"]: e for e in container(on_bucket)["env"]}
    assert env[ACCESS_KEY_ENV]["valueFrom"]["secretKeyRef"]["name"] == "keys" and "value" not in env[SECRET_KEY_ENV]
    assert on_bucket["spec"]["terminationGracePeriodSeconds"] == 300 and "affinity" not in on_bucket["spec"]
