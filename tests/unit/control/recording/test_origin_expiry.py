"""keepOrigin's retention policy of a Recording's decide (origin_expiry.py), pure, so rows: an original
past its deleteAt on a claim asks a reconcile for the one-shot Pod; an ended Pod one reconcile that
removes it (asked again only once a later reconcile gave no word of it); its word taken once —
Succeeded marks its originals, Failed says so once per streak; a stuck Pod is said once and kept; in a
bucket a DeleteOrigins action; nothing before deleteAt, nor twice, nor before the interval. The Pod and
its removal: test_reconcile.py; its worker: tests/unit/media/expiry/; the whole: tests/cluster/
test_recording_storage.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from streamops.api.recording import RecordingStorage, Video
from streamops.control.recording.origin_expiry import Origins, OriginsDecided, expire_origins
from streamops.control.recording.outcome import ExpiryPodEnded
from streamops.control.runtime.decisions import LoopFacts, PostEvent
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.retention_policy import Deleted, DeleteOrigins, Retention
from streamops.control.storage.video_expiry import ORIGIN_EXPIRY_FAILED
from streamops.control.workers.pod_observation import PodObservation

ENDED = datetime(2026, 11, 23, 10, 0, 10, tzinfo=UTC)
DELETE_AT = ENDED + timedelta(days=7)
CLAIM = RecordingStorage.model_validate({"pvc": {"claimName": "videos"}})
BUCKET = RecordingStorage.model_validate(
    {"s3": {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}}
)
FACTS = LoopFacts(
    namespace="media",
    name="rec",
    generation=1,
    reconcile_due=False,
    reconciles=3,
    retry_in=None,
    write_pending=False,
    force_deleted=frozenset(),
    in_flight=frozenset(),
    now=DELETE_AT,
    monotonic=1000.0,
    settings=OperatorSettings(),
)
POD = PodObservation(name="rec-origin-expiry", exists=True, uid="p1", phase="Pending")
ORIGIN = "media/rec-r/record-1-origin.mp4"


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


LATER = video(2, deleteAt=(DELETE_AT + timedelta(days=1)).isoformat())
GONE = video(3, expiredAt="2026-11-30T10:00:00Z")
URL = "s3://videos/k/record-1-origin.mp4"
IN_BUCKET = video(1, url=URL, path=None, upload="uploaded")
WAITING = video(2, url="s3://videos/k/record-2-origin.mp4", upload="pending")  # not in the bucket yet
LOOKED = Origins(Retention(checked_at=FACTS.monotonic))
FAILING = Origins(Retention(failing=True))
STUCK = replace(POD, unschedulable="0/2 nodes are available")
SUCCEEDED = ExpiryPodEnded(POD.name, "p1", True, (ORIGIN,))
FAILED = ExpiryPodEnded(POD.name, "p1", False, (ORIGIN,), "OOMKilled")
FAILED_MESSAGE = f"Pod {POD.name} failed deleting originals on the claim: OOMKilled"
ASK_END = (("origin_expiry_ended", POD.name),)
ASK_START = (("expire_origins", True),)


def retention(**changes: Any) -> Retention:
    return replace(Retention(checked_at=FACTS.monotonic), **changes)


# Each row: the memory, the outcome's word of an ended Pod, what the bucket's deletions did, the expiry
# Pod in the index, the storage, the videos → what is decided, and the next memory.
ROWS: dict[str, tuple[Any, ...]] = {
    "nothing due before deleteAt, an expired one not again": (
        Origins(), None, (), None, CLAIM, [LATER, GONE], OriginsDecided(), LOOKED,
    ),
    "not again before the interval": (LOOKED, None, (), None, CLAIM, [video(1)], OriginsDecided(), LOOKED),
    "due on a claim: a reconcile makes the Pod": (
        Origins(), None, (), None, CLAIM, [video(1), LATER], OriginsDecided(reconcile=ASK_START), LOOKED,
    ),
    "in a bucket: the operator deletes those uploaded": (
        Origins(), None, (), None, BUCKET, [IN_BUCKET, WAITING],
        OriginsDecided(delete=DeleteOrigins(BUCKET.s3, (IN_BUCKET,))), LOOKED,  # type: ignore[arg-type]
    ),
    "a pending Pod: nothing yet": (Origins(), None, (), POD, CLAIM, [video(1)], OriginsDecided(), Origins()),
    "an ended Pod: a reconcile removes it": (
        Origins(), None, (), replace(POD, phase="Succeeded"), CLAIM, [], OriginsDecided(reconcile=ASK_END),
        Origins(asked=("p1", 3)),
    ),
    "asked: not again until a later reconcile gives no word": (
        Origins(asked=("p1", 3)), None, (), replace(POD, phase="Failed"), CLAIM, [], OriginsDecided(),
        Origins(asked=("p1", 3)),
    ),
    "its word taken: marked, not asked again while the index lags": (
        Origins(asked=("p1", 3)), SUCCEEDED, (), replace(POD, phase="Succeeded"), CLAIM, [], OriginsDecided(),
        Origins(Retention(((ORIGIN, FACTS.stamp),)), asked=("p1", 3), taken="p1"),
    ),
    "its word taken once": (
        Origins(taken="p1"), SUCCEEDED, (), None, CLAIM, [], OriginsDecided(), Origins(LOOKED.retention, taken="p1"),
    ),
    "Failed: said, the next round after the interval": (
        Origins(), FAILED, (), None, CLAIM, [video(1)],
        OriginsDecided((PostEvent("Warning", ORIGIN_EXPIRY_FAILED, FAILED_MESSAGE),)),
        Origins(retention(failing=True), taken="p1"),
    ),
    "Failed again in the streak: not said again": (
        FAILING, FAILED, (), None, CLAIM, [], OriginsDecided(), Origins(retention(failing=True), taken="p1"),
    ),
    "stuck: said once, kept": (
        Origins(), None, (), STUCK, CLAIM, [video(1)],
        OriginsDecided((PostEvent("Warning", ORIGIN_EXPIRY_FAILED, f"Pod {POD.name} cannot delete the originals on "
                        "the claim yet: no node fits it: 0/2 nodes are available"),)),
        FAILING,
    ),
    "stuck, said already": (FAILING, None, (), STUCK, CLAIM, [video(1)], OriginsDecided(), FAILING),
    "a bucket's deletion failed after one: that one marked, said once": (
        Origins(), None, (Deleted((URL,), "deleting s3://videos/k/x: AccessDenied"),), None, BUCKET, [],
        OriginsDecided((PostEvent("Warning", ORIGIN_EXPIRY_FAILED, "deleting s3://videos/k/x: AccessDenied"),)),
        Origins(retention(expired=((URL, FACTS.stamp),), failing=True)),
    ),
    "a bucket's deletion went through: the streak ends": (
        FAILING, None, (Deleted((URL,)),), None, BUCKET, [IN_BUCKET], OriginsDecided(),
        Origins(retention(expired=((URL, FACTS.stamp),))),
    ),
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_origin_expiry_policy(row: tuple[Any, ...]) -> None:
    memory, ended, deleted, pod, storage, videos, decided, after = row
    assert expire_origins(memory, FACTS, ended, deleted, pod, storage, videos) == (decided, after)


def test_a_pod_asked_for_is_asked_again_once_a_later_reconcile_gave_no_word() -> None:
    ended = replace(POD, phase="Succeeded")
    asked = Origins(asked=("p1", 3))
    decided, memory = expire_origins(asked, replace(FACTS, reconciles=4), None, (), ended, CLAIM, [])
    assert decided.reconcile == ASK_END and memory.asked == ("p1", 4)
