"""The Clip kind's control plane without a cluster: the refusals before any Pod, the clipper Pod,
the status a refusal and a stored clip give, a signed stream's clipper. Its CRD and model:
tests/unit/api/test_clip.py; the clipper's playlist and cuts: tests/unit/media/clipper/."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from devtools.catalog import clip, livestream, stored_clip, stored_livestream
from streamops.contract.clipper import ClipperConfig, ClipperStatus
from streamops.contract.recorder import ACCESS_KEY_ENV
from streamops.control.clip import reasons
from streamops.control.clip.plan import refusal
from streamops.control.clip.specs.pod import clipper_pod
from streamops.control.clip.specs.worker_config import clip_title, playlist_url
from streamops.control.clip.status import ClipperObservation, clip_events, clip_status
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.media.clipper.playlist import parse_media_playlist

from tests.unit.media.clipper.test_playlist import PLAYLIST

NS = "studio"
CREATED = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()
DVR = {"enabled": True, "durationSeconds": 600}
RUNNING = PodObservation(name="c", exists=True, uid="u1", phase="Running", ready=True, ip="127.0.0.1", http_port=1)


stream = partial(stored_livestream, uid="stream-uid", generation=1, namespace=NS, dvr=DVR)
a_clip = partial(stored_clip, name="best", namespace=NS, created=CREATED.strftime("%Y-%m-%dT%H:%M:%SZ"))


def at(seconds: float) -> str:
    return (CREATED + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- refusals before any Pod ------------------------------------------------------------------------


def test_refusals():
    assert refusal(a_clip(lastSeconds=30), stream(dvr={"enabled": False})).reason == reasons.NO_DVR
    far = refusal(a_clip(start=at(200), end=at(301)), stream())
    assert far is not None and far.reason == reasons.END_TOO_FAR_IN_FUTURE and "301 s" in far.message
    assert refusal(a_clip(start=at(200), end=at(300)), stream()) is None, "300 s ahead is waited for"
    old = refusal(a_clip(start=at(-601), end=at(-500)), stream())
    assert old is not None and old.reason == reasons.OUTSIDE_DVR_WINDOW
    assert refusal(a_clip(lastSeconds=600), stream()) is None
    wrong = refusal(a_clip(lastSeconds=30, rendition="4k"), stream())
    assert wrong is not None and wrong.reason == reasons.CLIP_FAILED and "not transcoded" in wrong.message


# --- the clipper Pod ------------------------------------------------------------------------------


def config_of(pod: dict[str, Any]) -> ClipperConfig:
    return ClipperConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def test_clipper_pod_on_the_default_claim():
    pod = clipper_pod(a_clip(lastSeconds=60), stream(title="Keynote"), SETTINGS)
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Clip"
    assert pod["spec"]["containers"][0]["args"] == ["worker", "clip"]
    assert {"persistentVolumeClaim": {"claimName": SETTINGS.recordings.claim}}.items() <= pod["spec"]["volumes"][
        0
    ].items()
    config = config_of(pod)
    assert (config.start, config.end) == (CREATED - timedelta(seconds=60), CREATED)
    assert config.playlist_url == "http://cam-ingest.studio.svc:8080/hls/ts/index.m3u8"
    assert config.directory == "studio/best-01234567" and config.upload is None
    assert config.title == "Clip: Keynote, 2026-11-26 09:59:00 UTC"


def test_clipper_pod_uploads_without_keys_in_its_config():
    s3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
    mine = stream(clientUserId=42, clientEntityData='{"team": "a"}')
    pod = clipper_pod(a_clip(lastSeconds=60, storage={"s3": s3}, title="Goal"), mine, SETTINGS)
    env = pod["spec"]["containers"][0]["env"]
    assert {e["name"] for e in env[1:]} >= {ACCESS_KEY_ENV}
    config = config_of(pod)
    assert config.upload is not None and config.upload.bucket == "videos" and config.title == "Goal"
    assert "s3-creds" not in json.dumps(config.wire())
    # The stream's client fields reach both sidecars: the bucket's (upload.client) and the claim's.
    assert config.upload.client is not None and config.upload.client.client_user_id == 42
    assert config.client is not None and config.client.client_entity_data == '{"team": "a"}'


def test_a_transcoded_stream_is_clipped_from_its_tallest_rendition_or_the_one_asked():
    ladder = {
        "renditions": [
            {"name": "360p", "height": 360, "videoBitrateKbps": 800},
            {"name": "720p", "height": 720, "videoBitrateKbps": 2500},
        ]
    }
    transcoded = stream(transcoding=ladder, hls={"mpegts": False})
    assert playlist_url(a_clip(lastSeconds=5), transcoded).endswith("/hls/cmaf/720p/index.m3u8")
    assert playlist_url(a_clip(lastSeconds=5, rendition="360p"), transcoded).endswith("/hls/cmaf/360p/index.m3u8")
    assert clip_title(a_clip(lastSeconds=5), transcoded).startswith("Clip: Camera, 2026-11-26 09:59:55")


# --- status -------------------------------------------------------------------------------------


def conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_a_refusal_is_final_stalled_and_one_warning():
    from streamops.control.clip.plan import Refused

    observed = ClipperObservation(pod=PodObservation(name="c"), refused=Refused(reasons.NO_DVR, "no DVR"))
    status = clip_status(a_clip(lastSeconds=5), observed, CREATED)
    assert conditions(status) == {
        "Ready": ("False", "NoDvr"),
        "Succeeded": ("False", "NoDvr"),
        "Stalled": ("True", "NoDvr"),
    }
    events = clip_events(None, status)
    assert [(e.type, e.reason) for e in events] == [("Warning", "NoDvr")]
    again = clip_status(a_clip(status=status.wire(), lastSeconds=5), ClipperObservation(pod=RUNNING), CREATED)
    assert conditions(again) == conditions(status) and clip_events(status, again) == []


def test_a_missing_stream_or_storage_secret_stalls_a_clip_without_ending_it():
    from streamops.control.storage.video_storage import StorageRefusal

    gone = clip_status(
        a_clip(lastSeconds=5), ClipperObservation(pod=PodObservation(name="c"), stream_exists=False), CREATED
    )
    assert conditions(gone) == {
        "Ready": ("False", "StreamNotFound"),
        "Succeeded": ("Unknown", "StreamNotFound"),  # not final: the stream may be created yet
        "Stalled": ("True", "StreamNotFound"),
    }
    assert gone.condition("Ready").message == "LiveStream cam does not exist"  # type: ignore[union-attr]
    missing = StorageRefusal(
        "StorageCredentialsMissing", "Secret s3-creds (storage.s3.credentialsSecret) does not exist"
    )
    no_secret = clip_status(
        a_clip(lastSeconds=5), ClipperObservation(pod=PodObservation(name="c"), storage_refused=missing), CREATED
    )
    assert conditions(no_secret) == {
        "Ready": ("False", "StorageCredentialsMissing"),
        "Succeeded": ("Unknown", "StorageCredentialsMissing"),
        "Stalled": ("True", "StorageCredentialsMissing"),
    }
    assert no_secret.condition("Stalled").message == missing.message  # type: ignore[union-attr]


def test_a_full_recordings_quota_refuses_a_clip_before_any_pod():

    from devtools.fake_kube import operator_view
    from streamops.control.clip.reconcile import reconcile_clip
    from streamops.control.runtime.indexes import ClipIndexFacts, Indexes, RecordingIndexFacts
    from streamops.control.storage.storage_quota import QuotaCheck

    # The loop's check adds up the stream's Recordings and Clips (the indexes, no API calls).
    recorded = RecordingIndexFacts("rec", recording=False, duration=None, auto=False, stored_bytes=600)
    indexes = Indexes(
        pods={}, streams={}, recordings={(NS, "cam"): [recorded]}, clips={(NS, "cam"): [ClipIndexFacts("old", 400)]}
    )
    check = QuotaCheck()
    check.check(OperatorSettings(recordings=RecordingsSettings(quota_bytes=1000)), indexes, NS, "cam")
    assert check.full and check.quota is not None and check.quota.used == 1000
    describe = check.quota.describe()

    api = operator_view()
    api.add({**livestream("cam", dvr=DVR), "metadata": {"name": "cam", "namespace": NS}})
    body = clip("best", lastSeconds=5)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["metadata"].update(namespace=NS, creationTimestamp=created)
    body = api.add(body)
    outcome = reconcile_clip(api, SETTINGS, body, None, no_space=describe)
    assert outcome.refused is not None and outcome.refused.reason == "NoSpace"
    assert outcome.refused.message == f"no space for recording the stream: {describe}"
    assert api.names("Pod") == [], "refused before any Pod"
    status = clip_status(
        a_clip(lastSeconds=5), ClipperObservation(pod=PodObservation(name="c"), refused=outcome.refused), CREATED
    )
    assert conditions(status) == {
        "Ready": ("False", "NoSpace"),
        "Succeeded": ("False", "NoSpace"),
        "Stalled": ("True", "NoSpace"),
    }
    assert [(e.type, e.reason) for e in clip_events(None, status)] == [("Warning", "NoSpace")]
    # With space left the clipper Pod is made.
    assert reconcile_clip(api, SETTINGS, body, None, no_space=None).refused is None
    assert api.names("Pod") == ["best-clipper"]


def test_what_the_clipper_refuses_is_final_too():
    failed = ClipperStatus.model_validate(
        {"state": "failed", "refusal": "OutsideDvrWindow", "message": "it holds media from 10:00:05"}
    )
    status = clip_status(a_clip(lastSeconds=60), ClipperObservation(pod=RUNNING, telemetry=failed), CREATED)
    assert conditions(status) == {
        "Ready": ("False", "OutsideDvrWindow"),
        "Succeeded": ("False", "OutsideDvrWindow"),
        "Stalled": ("True", "OutsideDvrWindow"),
    }
    assert status.condition("Succeeded").message == "it holds media from 10:00:05"  # type: ignore[union-attr]
    assert [(e.type, e.reason) for e in clip_events(None, status)] == [("Warning", "OutsideDvrWindow")]
    uploading = ClipperStatus.model_validate(
        {"state": "storing", "storageProblem": "StorageAccessDenied", "storageError": "AccessDenied"}
    )
    waiting = clip_status(a_clip(lastSeconds=60), ClipperObservation(pod=RUNNING, telemetry=uploading), CREATED)
    assert conditions(waiting)["Succeeded"] == ("Unknown", "Storing")
    assert "StorageAccessDenied" in waiting.condition("Ready").message  # type: ignore[union-attr]


def test_a_stored_clip_reports_its_video_and_stays_when_the_pod_goes():
    video = {
        "title": "Clip",
        "path": "studio/best-01234567/clip.mp4",
        "durationSeconds": 60.04,
        "sizeBytes": 1000,
        "startedAt": "2026-11-26T09:59:00Z",
        "endedAt": "2026-11-26T10:00:00Z",
    }
    waiting = ClipperStatus.model_validate({"state": "waiting", "message": "waiting for the end"})
    on_way = clip_status(a_clip(lastSeconds=60), ClipperObservation(pod=RUNNING, telemetry=waiting), CREATED)
    assert conditions(on_way)["Succeeded"] == ("Unknown", "Waiting") and "Stalled" not in conditions(on_way)
    done = ClipperStatus.model_validate(
        {"state": "succeeded", "video": video, "startedAt": video["startedAt"], "endedAt": video["endedAt"]}
    )
    status = clip_status(a_clip(lastSeconds=60), ClipperObservation(pod=RUNNING, telemetry=done), CREATED)
    assert conditions(status) == {"Ready": ("True", "Clipped"), "Succeeded": ("True", "Clipped")}
    assert status.videos[0].path == video["path"] and status.started_at == CREATED - timedelta(seconds=60)
    assert [(e.type, e.reason) for e in clip_events(on_way, status)] == [("Normal", "Clipped")]
    gone = clip_status(
        a_clip(status=status.wire(), lastSeconds=60), ClipperObservation(pod=PodObservation("c")), CREATED
    )
    assert gone.videos == status.videos and conditions(gone) == conditions(status)


def test_a_bucket_clips_video_expires_after_delete_after_days_as_a_recordings():
    from streamops.api.recording import RecordingStorage
    from streamops.control.runtime.indexes import clip_entry
    from streamops.control.storage.video_expiry import expiry_due

    url = "s3://clips/studio/cam/best/clip-20261126-095900.mp4"
    video = {
        "title": "Clip",
        "url": url,
        "upload": "uploaded",
        "durationSeconds": 60.0,
        "sizeBytes": 1000,
        "startedAt": "2026-11-26T09:59:00Z",
        "endedAt": "2026-11-26T10:00:00Z",
    }
    s3 = {"endpoint": "https://s3.example.test", "bucket": "clips", "credentialsSecret": "c", "deleteAfterDays": 2}
    storage = RecordingStorage.model_validate({"s3": s3})
    done = ClipperStatus.model_validate({"state": "succeeded", "video": video})
    stored = clip_status(
        a_clip(lastSeconds=60), ClipperObservation(pod=RUNNING, telemetry=done, storage=storage), CREATED
    )
    # Due by the Recordings' rule (the loop deletes it and its sidecar with the same code).
    assert expiry_due(stored.videos, 2, 86400, CREATED + timedelta(days=2)) == stored.videos
    assert expiry_due(stored.videos, 2, 86400, CREATED + timedelta(days=1)) == []
    # A final status still takes the expiry: expiredAt, one VideoExpired Event, nothing counted.
    deleted_at = CREATED + timedelta(days=2)
    final = a_clip(status=stored.wire(), lastSeconds=60)
    expired = clip_status(final, ClipperObservation(pod=PodObservation("c"), expired={url: deleted_at}), deleted_at)
    assert expired.videos[0].expired_at == deleted_at and conditions(expired) == conditions(stored)
    events = clip_events(stored, expired)
    assert [(e.reason, e.message) for e in events] == [("VideoExpired", f"video {url} expired after 2 day(s): deleted")]
    body = {**clip("best"), "status": stored.wire()}
    body["metadata"]["namespace"] = NS
    assert clip_entry(body)[(NS, "cam")].stored_bytes == 1000
    assert clip_entry({**body, "status": expired.wire()})[(NS, "cam")].stored_bytes == 0
    again = clip_status(
        a_clip(status=expired.wire(), lastSeconds=60), ClipperObservation(pod=PodObservation("c")), CREATED
    )
    assert again.videos == expired.videos and clip_events(expired, again) == []


# --- a signed stream ------------------------------------------------------------------------------


def test_a_signed_streams_clipper_signs_its_own_token(tmp_path):
    from streamops.contract.playback_token import verify
    from streamops.media.clipper.clipper import playback_tokens, signed

    pod = clipper_pod(a_clip(lastSeconds=60), stream(playback={"access": "signed"}), SETTINGS)
    config = config_of(pod)
    assert config.playback_keys_dir and config.playback_stream == "studio/cam"
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "playback-keys")
    assert mount["mountPath"] == config.playback_keys_dir and mount["readOnly"]
    assert not config_of(clipper_pod(a_clip(lastSeconds=60), stream(), SETTINGS)).playback_keys_dir

    (tmp_path / "current").write_bytes(b"c" * 32)
    (tmp_path / "previous").write_bytes(b"p" * 32)
    current, previous = playback_tokens(tmp_path, "studio/cam", 1_000_000)
    assert verify(current, [b"c" * 32], "studio/cam", 1_000_000, "10.0.0.9") is None
    assert verify(previous, [b"p" * 32], "studio/cam", 1_000_000, "10.0.0.9") is None
    url = signed(config.playlist_url, current)
    assert url == f"http://cam-ingest.studio.svc:8080/t/{current}/hls/ts/index.m3u8"
    segment = parse_media_playlist(PLAYLIST, url).segments[0].uri
    assert segment == f"http://cam-ingest.studio.svc:8080/t/{current}/hls/ts/seg-000001.ts", "segments carry it too"


def test_webhooks_follow_clips_under_their_stream():
    """The notifier takes the watch events of every kind the operator runs; a Clip's status is kept
    under its stream like a Recording's (its events: tests/unit/control/webhook/test_events.py)."""
    from types import SimpleNamespace

    from streamops.control.webhook.notifier import Notifier

    notifier = Notifier(state=SimpleNamespace(), session=None)  # type: ignore[arg-type]
    clip = a_clip(lastSeconds=5).wire()
    notifier.observe("Clip", "ADDED", clip)
    notifier.observe(
        "Recording", "ADDED", {"metadata": {"namespace": NS, "name": "r"}, "spec": {"streamRef": {"name": "cam"}}}
    )
    assert notifier.objects == {
        (NS, clip["spec"]["streamRef"]["name"]): {("Clip", clip["metadata"]["name"]): {}, ("Recording", "r"): {}}
    }
