"""Recordings to object storage, the control plane's half (issue 13): where the videos go (the
Recording's storage, the stream's, the chart's, the default claim), the recorder Pod for S3
(emptyDir scratch, credentials by secretKeyRef, the CA bundle, no claim affinity), Secrets checked
before a Pod exists, the Uploaded / NoSpace / StorageAlmostFull conditions and their Events, the
quota function and the retention selection. Pure builders and status functions, and the reconciler
against the fake of our own API adapter."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import livestream, recording
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import LiveStream, Recording
from streamops.api.recording import S3Storage, Video
from streamops.contract.recorder import ACCESS_KEY_ENV, CA_FILE, SECRET_KEY_ENV, RecorderStatus, sidecar_key
from streamops.control.recording.builders import recorder_config, recorder_pod, resolved_storage
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.recording.status import (
    RecorderObservation,
    StorageRefusal,
    merged_videos,
    recording_events,
    recording_status,
)
from streamops.control.shared.indexes import (
    ClipIndexFacts,
    RecordingIndexFacts,
    clip_entry,
    recording_entry,
    stream_entry,
)
from streamops.control.shared.naming import SPEC_HASH_ANNOTATION
from streamops.control.shared.pod_observation import PodObservation
from streamops.control.shared.recordings_claim import CLAIM_LABEL
from streamops.control.shared.retention import expiry_due
from streamops.control.shared.settings import OperatorSettings
from streamops.control.shared.storage_quota import QuotaUse, quota, quota_use
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS
from streamops.redaction import Redactor

NS = "media"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
CHART_S3 = {"endpoint": "http://minio.storage:9000", "bucket": "chart-bucket", "credentialsSecret": "chart-creds"}
SETTINGS = OperatorSettings()
WITH_CHART_S3 = OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": json.dumps(CHART_S3)})
RUNNING = PodObservation(name="p", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)


def stream(**spec: Any) -> LiveStream:
    body = livestream("cam", **spec)
    body["metadata"].update(namespace=NS, uid="stream-uid", generation=1)
    return LiveStream.model_validate(body)


def rec(status: dict[str, Any] | None = None, **spec: Any) -> Recording:
    body = recording("rec", **spec)
    body["metadata"].update(namespace=NS, uid="0123456789abcdef", generation=1)
    if status:
        body["status"] = status
    return Recording.model_validate(body)


def container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def config(pod: dict[str, Any]) -> dict[str, Any]:
    return json.loads(container(pod)["env"][0]["value"])


# --- where the videos go ---------------------------------------------------------------------------


def test_storage_resolution_precedence():
    own_pvc = {"pvc": {"claimName": "archive"}}
    assert resolved_storage(rec(storage=own_pvc), stream(recording={"storage": {"s3": S3}}), WITH_CHART_S3).pvc
    # The Recording names none: the stream's default, else the chart's S3, else the default claim.
    by_stream = resolved_storage(rec(), stream(recording={"storage": {"s3": S3}}), WITH_CHART_S3)
    assert by_stream.s3 is not None and by_stream.s3.bucket == "videos"
    by_chart = resolved_storage(rec(), stream(), WITH_CHART_S3)
    assert by_chart.s3 is not None and by_chart.s3.bucket == "chart-bucket"
    default = resolved_storage(rec(), stream(), SETTINGS)
    assert default.s3 is None and default.pvc is not None and default.pvc.claim_name == SETTINGS.recordings_claim
    # A stream default of a claim wins over the chart's S3, and a Recording's S3 over everything.
    assert resolved_storage(rec(), stream(recording={"storage": own_pvc}), WITH_CHART_S3).pvc is not None
    assert resolved_storage(rec(storage={"s3": S3}), stream(), SETTINGS).s3 is not None


def test_chart_s3_setting_is_json_and_empty_means_none():
    assert OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": "{}"}).recordings_s3 is None
    assert OperatorSettings.from_env({"STREAMOPS_RECORDINGS_S3": ""}).recordings_s3 is None
    assert WITH_CHART_S3.recordings_s3 == S3Storage.model_validate(CHART_S3)


def test_upload_target_fills_in_the_names_and_keeps_the_time_placeholders():
    r = rec(storage={"s3": {**S3, "caSecret": "s3-ca", "region": "eu-1", "pathStyle": False}})
    target = recorder_config(r, stream(), SETTINGS, None, 8080).upload
    assert target is not None
    assert (target.endpoint, target.bucket, target.region, target.path_style) == (
        "https://s3.example.com",
        "videos",
        "eu-1",
        False,
    )
    assert target.key_prefix == "streamops/media/cam/{year}/{month}/{day}/{hour}/{minute}/rec-01234567"
    assert (target.stream, target.recording) == ("cam", "rec"), "the names of each video's sidecar"
    assert target.ca_file == CA_FILE
    assert recorder_config(rec(storage={"s3": S3}), stream(), SETTINGS, None, 8080).upload.ca_file is None
    assert recorder_config(rec(), stream(), SETTINGS, None, 8080).upload is None


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
    small = OperatorSettings(recordings_scratch_size="2Gi")
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


# --- reconcile: Secrets first, the quota, the standby ---------------------------------------------


@pytest.fixture
def api() -> FakeKubeApi:
    return operator_view()


def put(api: FakeKubeApi, body: dict[str, Any]) -> dict[str, Any]:
    body["metadata"]["namespace"] = NS
    return api.add(body)


def secret(name: str, **data: str) -> dict[str, Any]:
    """A Secret its owner labelled for use by specs (tests/unit/test_tenancy.py: one that is not)."""
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


def test_no_standby_is_kept_for_a_stream_recording_to_object_storage(api):
    from streamops.control.livestream.reconcile import reconcile_livestream

    put(api, livestream("cam", recording={"standby": True, "storage": {"s3": S3}}))
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    reconcile_livestream(api, SETTINGS, body, None, auto_recording_exists=False)
    assert api.names("Pod") == ["cam-ingest"]


# --- status ---------------------------------------------------------------------------------------

VIDEO = {
    "title": "Stream Record: Camera, 2026-11-23 10:00:10 UTC",
    "url": "s3://videos/streamops/media/cam/2026/11/23/10/00/rec-01234567/record-1.mp4",
    "upload": "uploaded",
    "durationSeconds": 10.0,
    "sizeBytes": 1000,
    "startedAt": "2026-11-23T10:00:00Z",
    "endedAt": "2026-11-23T10:00:10Z",
}
RECORDING_TELEMETRY = {
    "state": "recording",
    "recording": True,
    "startedAt": "2026-11-23T10:00:00Z",
    "duration": 4.0,
    "storedBytes": 1500,
}
S3_STORAGE = {"s3": S3}


def telemetry(**extra: Any) -> RecorderStatus:
    return RecorderStatus.model_validate({**RECORDING_TELEMETRY, **extra})


def observe(t: RecorderStatus | None = None, **extra: Any) -> RecorderObservation:
    storage = resolved_storage(rec(storage=S3_STORAGE), stream(), SETTINGS)
    return RecorderObservation(pod=RUNNING if t else PodObservation("p"), telemetry=t, storage=storage, **extra)


def kinds(status) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_uploaded_true_when_every_video_is_in_the_bucket_with_one_event_per_video():
    before = recording_status(rec(), observe(telemetry()), T0)
    assert kinds(before)["Uploaded"] == ("True", "Uploaded") and before.storage is not None
    pending = recording_status(
        rec(status=before.wire()), observe(telemetry(videos=[{**VIDEO, "upload": "pending"}])), T0
    )
    assert kinds(pending)["Uploaded"] == ("False", "UploadPending")
    assert pending.condition("Uploaded").message == "1 video(s) waiting for s3://videos"
    done = recording_status(rec(status=pending.wire()), observe(telemetry(videos=[VIDEO])), T0)
    assert kinds(done)["Uploaded"] == ("True", "Uploaded")
    assert done.condition("Uploaded").message == "all 1 video(s) in s3://videos"
    events = recording_events(pending, done)
    assert [(e.type, e.reason) for e in events] == [("Normal", "VideoUploaded")]
    assert VIDEO["url"] in events[0].message
    assert not any(e.reason == "VideoUploaded" for e in recording_events(done, done))
    # A PVC Recording has no Uploaded condition.
    pvc = recording_status(rec(), RecorderObservation(pod=RUNNING, telemetry=telemetry()), T0)
    assert "Uploaded" not in kinds(pvc)


@pytest.mark.parametrize("problem", ["StorageUnreachable", "StorageAccessDenied", "BucketNotFound", "UploadFailing"])
def test_each_storage_problem_is_the_uploaded_reason_while_recording_goes_on(problem):
    ok = recording_status(rec(), observe(telemetry()), T0)
    error = f"{problem}: the server said no"
    t = telemetry(videos=[{**VIDEO, "upload": "pending"}], storageProblem=problem, storageError=error)
    bad = recording_status(rec(status=ok.wire()), observe(t), T0)
    assert kinds(bad)["Uploaded"] == ("False", problem) and bad.condition("Uploaded").message == error
    ready = bad.condition("Ready")
    assert ready is not None and ready.status == "True" and problem in ready.message and error in ready.message
    assert kinds(bad)["Recording"] == ("True", "Recording")
    warnings = [(e.type, e.reason) for e in recording_events(ok, bad) if e.type == "Warning"]
    assert warnings == [("Warning", problem)]
    # Fixed: one Normal Event, uploads go on.
    fixed = recording_status(rec(status=bad.wire()), observe(telemetry(videos=[VIDEO])), T0)
    assert kinds(fixed)["Uploaded"] == ("True", "Uploaded")
    assert ("Normal", "Uploaded") in [(e.type, e.reason) for e in recording_events(bad, fixed)]


def test_a_missing_secret_stalls_the_recording():
    refused = StorageRefusal(
        "StorageCredentialsMissing", "Secret s3-creds (storage.s3.credentialsSecret) does not exist"
    )
    status = recording_status(rec(), observe(storage_refused=refused, stream_live=True), T0)
    assert kinds(status)["Ready"] == ("False", "StorageCredentialsMissing")
    assert kinds(status)["Stalled"] == ("True", "StorageCredentialsMissing")
    assert status.condition("Ready").message == refused.message


def test_quota_refusal_and_finalisation_say_no_space():
    use = QuotaUse("namespace", 1200, 1000)
    refused = recording_status(rec(), observe(quota=use, quota_refused=True), T0)
    assert kinds(refused)["Ready"] == ("False", "NoSpace") and kinds(refused)["NoSpace"] == ("True", "NoSpace")
    assert kinds(refused)["Recording"] == ("False", "NoSpace")
    message = refused.condition("NoSpace").message
    assert message == "no space for recording the stream: used 1200 of 1000 bytes (120 %) of namespace quota"
    assert ("Warning", "NoSpace") in [(e.type, e.reason) for e in recording_events(None, refused)]
    # A running recording the loop asked to stop: finalised, and says why.
    stopped = telemetry(state="stopped", recording=False, videos=[VIDEO], storedBytes=1000)
    final = recording_status(rec(), observe(stopped, quota=use), T0)
    assert kinds(final)["NoSpace"] == ("True", "NoSpace") and kinds(final)["Recording"] == ("False", "NoSpace")
    assert "Succeeded" not in kinds(final) and final.videos[0].url == VIDEO["url"]


def test_a_full_disk_is_no_space_with_the_recorders_words():
    error = "no space left on the recordings volume: the video was closed"
    status = recording_status(rec(), observe(telemetry(noSpace=True, lastError=error)), T0)
    assert kinds(status)["NoSpace"] == ("True", "DiskFull") and status.condition("NoSpace").message == error
    recovered = recording_status(rec(status=status.wire()), observe(telemetry()), T0)
    assert "NoSpace" not in kinds(recovered), "NoSpace exists only while true"


def test_storage_almost_full_warns_once_while_true():
    use = QuotaUse("stream", 850, 1000)
    warned = recording_status(rec(), observe(telemetry(), quota=use), T0)
    assert kinds(warned)["StorageAlmostFull"] == ("True", "StorageAlmostFull")
    assert warned.condition("StorageAlmostFull").message == "used 850 of 1000 bytes (85 %) of stream quota"
    assert ("Warning", "StorageAlmostFull") in [(e.type, e.reason) for e in recording_events(None, warned)]
    again = recording_status(rec(status=warned.wire()), observe(telemetry(), quota=QuotaUse("stream", 860, 1000)), T0)
    assert not [e for e in recording_events(warned, again) if e.reason == "StorageAlmostFull"]
    below = recording_status(rec(status=again.wire()), observe(telemetry(), quota=QuotaUse("stream", 10, 1000)), T0)
    assert "StorageAlmostFull" not in kinds(below)
    finished = telemetry(state="stopped", recording=False)
    done = recording_status(rec(stopped=True), observe(finished, quota=use), T0)
    assert "StorageAlmostFull" not in kinds(done), "a finished Recording is not warned"


def test_expired_videos_are_marked_announced_and_no_longer_counted():
    second = {**VIDEO, "url": VIDEO["url"].replace("record-1", "record-2"), "sizeBytes": 500}
    t = telemetry(videos=[VIDEO, second], storedBytes=1500 + 300)  # 300 bytes of the video in progress
    before = recording_status(rec(), observe(t), T0)
    assert before.stored_bytes == 1800
    deleted_at = T0 + timedelta(days=1)
    after = recording_status(rec(status=before.wire()), observe(t, expired={VIDEO["url"]: deleted_at}), T0)
    assert after.videos[0].expired_at == deleted_at and after.videos[1].expired_at is None
    assert after.stored_bytes == 800
    events = [e for e in recording_events(before, after) if e.reason == "VideoExpired"]
    assert len(events) == 1 and events[0].type == "Normal" and VIDEO["url"] in events[0].message
    # Kept once written, even with the expiry no longer in the loop's memory (operator restart).
    kept = recording_status(rec(status=after.wire()), observe(t), T0)
    assert kept.videos[0].expired_at == deleted_at and kept.stored_bytes == 800


def test_videos_a_new_recorder_no_longer_reports_stay_and_a_video_is_one_by_url_or_path():
    local = Video.model_validate({**VIDEO, "path": "media/rec-01234567/record-1.mp4", "upload": "uploading"})
    uploaded = Video.model_validate(VIDEO)  # its local copy is gone: no path
    newer = Video.model_validate({**VIDEO, "url": "s3://videos/k2.mp4", "startedAt": "2026-11-23T11:00:00Z"})
    assert merged_videos([local], [uploaded], {}) == [uploaded]
    assert merged_videos([local], [newer], {}) == [local, newer]
    assert merged_videos([], [newer, uploaded], {}) == [uploaded, newer]
    before = recording_status(rec(), observe(telemetry(videos=[local.wire()])), T0)
    after = recording_status(rec(status=before.wire()), observe(telemetry(videos=[uploaded.wire()])), T0)
    assert [e.reason for e in recording_events(before, after)] == ["VideoUploaded"], "no second RecordingSplit"


# --- quota and retention, pure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usage", "limit", "level"),
    [
        (0, 0, "ok"),
        (10**12, 0, "ok"),
        (799, 1000, "ok"),
        (800, 1000, "almost"),
        (999, 1000, "almost"),
        (1000, 1000, "full"),
        (1500, 1000, "full"),
    ],
)
def test_quota_levels(usage, limit, level):
    assert quota(usage, limit) == level


def test_quota_use_sums_the_index_per_scope_and_takes_the_fuller():
    def facts(name: str, stored: int) -> RecordingIndexFacts:
        return RecordingIndexFacts(name=name, recording=False, duration=None, auto=False, stored_bytes=stored)

    index = {
        (NS, "cam"): [facts("a", 300), facts("b", 200)],
        (NS, "other"): [facts("c", 400)],
        ("elsewhere", "cam"): [facts("d", 10**9)],
    }
    assert quota_use([index], NS, "cam", 0, None) is None
    assert quota_use([index], NS, "cam", 1000, None) == QuotaUse("namespace", 900, 1000)
    assert quota_use([index], NS, "cam", 0, 600) == QuotaUse("stream", 500, 600)
    assert quota_use([index], NS, "cam", 2000, 600).scope == "stream"
    assert quota_use([index], NS, "cam", 900, 600).scope == "namespace"  # both full: the fuller share
    # Clips' videos count in both scopes, as the Recordings' do.
    clips = {(NS, "cam"): [ClipIndexFacts("k1", 50)], (NS, "other"): [ClipIndexFacts("k2", 7)]}
    assert quota_use([index, clips], NS, "cam", 1000, None) == QuotaUse("namespace", 957, 1000)
    assert quota_use([index, clips], NS, "cam", 0, 600) == QuotaUse("stream", 550, 600)
    assert quota_use([index, clips], NS, "cam", 0, 550).level == "full"
    # The index entries carry what the quotas count.
    body = {"metadata": {"name": "a", "namespace": NS}, "spec": {"streamRef": {"name": "cam"}}}
    assert recording_entry({**body, "status": {"storedBytes": 42}})[(NS, "cam")].stored_bytes == 42
    # A Clip's: its video's size while stored; nothing before it is, nor once it expired.
    video = {"sizeBytes": 4096, "url": "s3://b/k.mp4"}
    assert clip_entry({**body, "status": {"videos": [video]}})[(NS, "cam")] == ClipIndexFacts("a", 4096)
    assert clip_entry(body)[(NS, "cam")].stored_bytes == 0
    expired = {**video, "expiredAt": "2026-11-25T00:00:00Z"}
    assert clip_entry({**body, "status": {"videos": [expired]}})[(NS, "cam")].stored_bytes == 0
    lst = {"metadata": {"name": "cam", "namespace": NS}, "spec": {"recording": {"quotaBytes": 7}}}
    assert stream_entry(lst)[(NS, "cam")].recording_quota_bytes == 7


def test_retention_selects_uploaded_videos_older_than_the_days():
    old = Video.model_validate(VIDEO)
    pending = Video.model_validate({**VIDEO, "upload": "pending"})
    gone = Video.model_validate({**VIDEO, "expiredAt": "2026-11-24T00:00:00Z"})
    local = Video.model_validate({**VIDEO, "url": None, "upload": None, "path": "media/x.mp4"})
    new = Video.model_validate({**VIDEO, "endedAt": "2026-11-25T10:00:00Z"})
    now = datetime(2026, 11, 25, 10, 0, 15, tzinfo=UTC)
    assert expiry_due([old, pending, gone, local, new], 2, 86400, now) == [old]
    assert expiry_due([old, new], None, 86400, now) == []
    assert expiry_due([old, new], 1, 5, now) == [old, new], "a short day (the test knob) expires sooner"


def test_sidecar_key_and_redaction():
    assert sidecar_key("a/b/record-1.mp4") == "a/b/record-1.json"
    # (retention's errors go through the workers' Redactor)
    assert Redactor(["AKID", "SECRET", ""])("bad key AKID and SECRET") == "bad key *** and ***"
