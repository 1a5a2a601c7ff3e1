"""keepOrigin's retention step of a Recording's status loop (origin_expiry.py) with a fake clock, on
the in-memory API adapter: an original past its deleteAt on a claim goes to a one-shot Pod (its
config, its shape), whose Succeeded marks it deleted and Failed says so once; in a bucket the
operator deletes it itself; nothing is due before deleteAt or twice. The Pod's worker:
tests/unit/media/test_expiry.py; the whole at the cluster tier: tests/cluster/test_recording_storage.py."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from devtools.catalog import recording
from devtools.fake_kube import FakeKubeApi
from streamops.api.recording import RecordingStorage, Video
from streamops.control.recording import origin_expiry
from streamops.control.recording.loop import RECORDING_LOOP
from streamops.control.recording.origin_expiry import OriginExpiry, expire_origins
from streamops.control.runtime import object_loop
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.control.runtime.object_tasks import LiveObject
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage.retention import ExpiryFailed
from streamops.control.workers.pod_observation import PodObservation

ENDED = datetime(2026, 11, 23, 10, 0, 10, tzinfo=UTC)
DELETE_AT = ENDED + timedelta(days=7)
SETTINGS = OperatorSettings(recordings=RecordingsSettings(retention_interval_seconds=0.01))
CLAIM = RecordingStorage.model_validate({"pvc": {"claimName": "videos"}})
BUCKET = RecordingStorage.model_validate(
    {"s3": {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}}
)
POD = "rec-origin-expiry"


def video(n: int, **origin: Any) -> Video:
    return Video.model_validate(
        {
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
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock(DELETE_AT - timedelta(seconds=1))
    monkeypatch.setattr(origin_expiry, "utcnow", fake)
    return fake


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    posted: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        object_loop.kopf, "event", lambda body, type, reason, message: posted.append((type, reason, message))
    )
    return posted


def run_steps(api: FakeKubeApi, *steps: Any) -> None:
    """Each step `(expiry, storage, videos, pod name or None)` on one loop of Recording media/rec."""
    body = recording("rec", streamRef={"name": "cam"})
    body["metadata"].update(namespace="media", uid="r", generation=1)
    state = OperatorState(api=api, settings=SETTINGS)
    loop: ObjectLoop[Any] = ObjectLoop(
        state, RECORDING_LOOP, LiveObject(("Recording", "media", "rec"), kopf.Body(body))
    )

    async def run() -> None:
        try:
            for expiry, storage, videos, pod_name in steps:
                pod = PodObservation.of(pod_name, api.object("Pod", "media", pod_name)) if pod_name else None
                await asyncio.sleep(0.02)  # (past the test's retention interval)
                await expire_origins(loop, expiry, storage, videos, pod if pod and pod.exists else None)
        finally:
            state.executor.shutdown()
            state.status_executor.shutdown()

    asyncio.run(run())


def test_nothing_is_due_before_delete_at_and_an_expired_one_not_again(clock: Clock) -> None:
    api, expiry = FakeKubeApi(), OriginExpiry()
    gone = video(2, expiredAt="2026-11-30T10:00:00Z")
    run_steps(api, (expiry, CLAIM, [video(1), gone], None))
    assert api.objects("Pod") == [] and expiry.expired == {}


def test_originals_on_a_claim_go_to_a_one_shot_pod_on_it(clock: Clock, events: list[Any]) -> None:
    api, expiry = FakeKubeApi(), OriginExpiry()
    clock.now = DELETE_AT
    run_steps(api, (expiry, CLAIM, [video(1), video(2, deleteAt=(DELETE_AT + timedelta(days=1)).isoformat())], None))
    [pod] = api.objects("Pod")
    assert pod["metadata"]["name"] == POD
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
    # What the operator reads back once it Succeeded: the pod index keeps our annotations, not the spec.
    origins = pod["metadata"]["annotations"]["streaming.streamops.dev/origins"]
    assert json.loads(origins) == ["media/rec-r/record-1-origin.mp4"]
    assert expiry.expired == {} and events == [], "deleted once the Pod says so"


def test_the_pod_succeeding_marks_its_originals_and_goes(clock: Clock, events: list[Any]) -> None:
    api, expiry = FakeKubeApi(), OriginExpiry()
    clock.now = DELETE_AT
    videos = [video(1)]
    run_steps(api, (expiry, CLAIM, videos, None))
    run_steps(api, (expiry, CLAIM, videos, POD))  # still Pending: nothing yet, no second Pod
    assert [p["metadata"]["name"] for p in api.objects("Pod")] == [POD] and expiry.expired == {}
    api.set_phase("media", POD, "Succeeded")
    run_steps(api, (expiry, CLAIM, videos, POD))
    assert expiry.expired == {"media/rec-r/record-1-origin.mp4": DELETE_AT}
    assert api.objects("Pod") == [] and events == []
    run_steps(api, (expiry, CLAIM, videos, None))  # its status not written yet: known, not due again
    assert api.objects("Pod") == []


def test_the_pod_failing_says_so_once_and_the_next_round_tries_again(clock: Clock, events: list[Any]) -> None:
    api, expiry = FakeKubeApi(), OriginExpiry()
    clock.now = DELETE_AT
    videos = [video(1)]
    for _ in range(2):
        run_steps(api, (expiry, CLAIM, videos, None))
        api.set_phase("media", POD, "Failed")
        run_steps(api, (expiry, CLAIM, videos, POD))
        assert api.objects("Pod") == [] and expiry.expired == {}
    assert [(t, r) for t, r, _ in events] == [("Warning", "OriginExpiryFailed")], "one per failure streak"
    assert POD in events[0][2]


def test_a_pod_no_node_fits_is_said_once_and_kept(clock: Clock, events: list[Any]) -> None:
    api, expiry = FakeKubeApi(), OriginExpiry()
    clock.now = DELETE_AT
    videos = [video(1)]
    run_steps(api, (expiry, CLAIM, videos, None))
    run_steps(api, (expiry, CLAIM, videos, POD))  # Pending, on its way: nothing said
    assert events == []
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes"}
    api.modify("Pod", "media", POD, {"status": {"phase": "Pending", "conditions": [unschedulable]}})
    run_steps(api, (expiry, CLAIM, videos, POD), (expiry, CLAIM, videos, POD))
    assert [(t, r) for t, r, _ in events] == [("Warning", "OriginExpiryFailed")], "once per streak"
    assert POD in events[0][2] and "0/2 nodes" in events[0][2]
    assert [p["metadata"]["name"] for p in api.objects("Pod")] == [POD], "kept: it runs once a node fits"
    api.set_phase("media", POD, "Succeeded")
    run_steps(api, (expiry, CLAIM, videos, POD))
    assert expiry.expired == {"media/rec-r/record-1-origin.mp4": DELETE_AT} and not expiry.failing


def test_originals_in_a_bucket_are_deleted_by_the_operator(
    clock: Clock, events: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, expiry = FakeKubeApi(), OriginExpiry()
    clock.now = DELETE_AT
    url = "s3://videos/k/record-1-origin.mp4"
    uploaded = video(1, url=url, path=None, upload="uploaded")
    waiting = video(2, url="s3://videos/k/record-2-origin.mp4", upload="pending")  # not in the bucket yet
    asked: list[list[str | None]] = []

    def delete_origins(api: Any, settings: Any, namespace: str, s3: Any, due: list[Video]) -> list[str]:
        asked.append([v.origin.url for v in due if v.origin])
        if len(asked) == 1:
            raise ExpiryFailed("deleting s3://videos/k/record-1-origin.mp4: AccessDenied")
        return [url]

    monkeypatch.setattr(origin_expiry, "delete_origins", delete_origins)
    run_steps(api, (expiry, BUCKET, [uploaded, waiting], None), (expiry, BUCKET, [uploaded, waiting], None))
    assert asked == [[url], [url]] and expiry.expired == {url: DELETE_AT}
    assert [(t, r) for t, r, _ in events] == [("Warning", "OriginExpiryFailed")] and api.objects("Pod") == []
