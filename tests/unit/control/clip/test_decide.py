"""A Clip's decide (decide.py), pure, so rows: an observation and the memory → the actions in order (a
status write named by its type: its content is test_reconcile.py's and the status tests'). The reasons
to reconcile (the quota turning before a clipper starts, told how full), the final reconcile once the
final status is written, one force-delete per lost Pod, retention of the stored video, the wake."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import quiet_loop, stored_clip
from streamops.contract.clipper import ClipperStatus
from streamops.control.clip.decide import ClipMemory, ClipObserved, decide
from streamops.control.clip.outcome import ClipOutcome
from streamops.control.runtime.decisions import ForceDelete, Reconcile, ResyncWithin, Wake, WriteStatus
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.retention_policy import Deleted, DeleteVideos
from streamops.control.storage.storage_quota import QuotaUse
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.pod_observation import PodObservation

NOW = datetime(2026, 11, 29, 18, 0, 0, 250_000, tzinfo=UTC)
SETTINGS = OperatorSettings()
FACTS = quiet_loop("clip", NOW, SETTINGS)
BODY = stored_clip(lastSeconds=30).wire()
POD = PodObservation(name="clip-clipper", exists=True, uid="u1", phase="Running", ip="10.0.0.5", http_port=8080)
STREAM = StreamFacts(uid="stream-uid", live=True, backup_live=False)
OUTCOME = ClipOutcome(generation=1, stream_uid="stream-uid")
FULL = QuotaUse("namespace", used=100, limit=100)
NO_SPACE = FULL.describe()
VIDEO = {
    "title": "t",
    "url": "s3://videos/k/clip.mp4",
    "upload": "uploaded",
    "durationSeconds": 10.0,
    "sizeBytes": 10,
    "startedAt": "2026-11-20T10:00:00Z",
    "endedAt": "2026-11-20T10:00:10Z",
}
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds", "deleteAfterDays": 1}
STORED = ClipperStatus.model_validate({"state": "succeeded", "video": VIDEO})
FINAL = {
    "conditions": [
        {"type": "Succeeded", "status": "True", "reason": "Clipped", "lastTransitionTime": "2026-11-20T10:00:20Z"}
    ],
    "storage": {"s3": S3},
    "videos": [VIDEO],
}
POLL = Wake(SETTINGS.telemetry.interval_seconds)
IDLE = Wake(SETTINGS.telemetry.idle_interval_seconds)
RECONCILE = Reconcile.of({"no_space": None})
LOST = replace(POD, deletion_deadline=NOW - timedelta(seconds=SETTINGS.node_loss.force_delete_seconds + 1), node="n2")
SEEN = ClipMemory(client_fields=(), status_inputs="seen")
WRITE = "WriteStatus"


def observed(**changes: Any) -> ClipObserved:
    base = ClipObserved(FACTS, OUTCOME, BODY, {}, pod=POD, stream=STREAM, telemetry=ClipperStatus(state="cutting"))
    return replace(base, **changes)


def shown(actions: list[object]) -> list[object]:
    return [WRITE if isinstance(a, WriteStatus) else a for a in actions]


ROWS: dict[str, tuple[ClipObserved, ClipMemory, list[object]]] = {
    "a reconcile when due": (observed(facts=replace(FACTS, reconcile_due=True)), SEEN, [RECONCILE, POLL]),
    "a lost clipper: one force-delete first": (
        observed(pod=LOST, facts=replace(FACTS, reconcile_due=True)), SEEN, [ForceDelete(LOST, NOW), RECONCILE, POLL],
    ),
    "the stream it waited for appeared": (
        observed(outcome=replace(OUTCOME, waiting_for_stream=True)), SEEN, [RECONCILE, POLL],
    ),
    "the quota filled before the clipper started: told how full": (
        observed(pod=None, telemetry=None, quota=FULL, quota_checked=True), SEEN,
        [Reconcile.of({"no_space": NO_SPACE}), IDLE],
    ),
    "full, as it was: no reconcile": (
        observed(pod=None, telemetry=None, quota=FULL, quota_checked=True),
        replace(SEEN, quota_full=True, no_space=NO_SPACE), [WRITE, IDLE],
    ),
    "a clipper runs: the quota not looked at": (observed(quota=FULL), SEEN, [WRITE, POLL]),
    "cutting: the status": (observed(), SEEN, [WRITE, POLL]),
    "stored: the final status, then the reconcile that removes the clipper": (
        observed(telemetry=STORED), SEEN, [WRITE, Reconcile.of({"no_space": None, "final": True}), POLL],
    ),
    "a missing storage Secret: looked for again soon": (
        observed(outcome=replace(OUTCOME, storage_refused=StorageRefusal("StorageCredentialsMissing", "m")), pod=None),
        SEEN, [ResyncWithin(5.0), WRITE, IDLE],
    ),
    "no outcome yet": (observed(outcome=None), SEEN, [POLL]),
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_decide(row: tuple[ClipObserved, ClipMemory, list[object]]) -> None:
    seen, memory, expected = row
    actions, _ = decide(seen, memory)
    assert shown(actions) == expected


def test_a_stored_clips_video_expires_by_retention_and_the_status_marks_it() -> None:
    final = observed(pod=None, telemetry=None, written=FINAL)
    actions, memory = decide(final, SEEN)
    [delete] = [a for a in actions if isinstance(a, DeleteVideos)]
    assert [v.url for v in delete.videos] == [VIDEO["url"]]
    actions, memory = decide(replace(final, videos_deleted=(Deleted((VIDEO["url"],)),)), memory)
    assert memory.videos.deleted() == {VIDEO["url"]: FACTS.stamp} and WRITE in shown(actions)
