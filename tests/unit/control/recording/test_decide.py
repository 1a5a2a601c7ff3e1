"""A Recording's decide (decide.py), pure, so rows: an observation and the memory → the actions in
order (a status write named by its type: its content is test_status*.py's) and what the memory keeps.
POST /start at most once per START_AGAIN_SECONDS, /stop once per Pod, one force-delete per lost Pod,
the reasons to reconcile, the final reconcile after the final status, retention's deletions, the wake."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import quiet_loop, stored_livestream, stored_recording
from streamops.contract.recorder import RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.recording.decide import RecordingMemory, RecordingObserved, decide
from streamops.control.recording.outcome import RecordingOutcome
from streamops.control.recording.reasons import RECORDER_CANNOT_MOVE
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.runtime.decisions import (
    ForceDelete,
    PostEvent,
    Reconcile,
    ResyncWithin,
    Wake,
    WorkerRequest,
    WriteStatus,
)
from streamops.control.runtime.indexes import StreamFacts
from streamops.control.shared.conditions import WORKER_REPLACED
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.retention_policy import Deleted, DeleteVideos, Retention
from streamops.control.storage.storage_quota import QuotaUse
from streamops.control.storage.storing_decide import CarryClientFields
from streamops.control.storage.video_expiry import VIDEO_EXPIRY_FAILED
from streamops.control.storage.video_storage import StorageRefusal
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange

NOW = datetime(2026, 11, 29, 18, 0, 0, 250_000, tzinfo=UTC)
SETTINGS = OperatorSettings()
FACTS = quiet_loop("rec", NOW, SETTINGS)
RECORDING = stored_recording()
BODY = RECORDING.wire()
STOPPED = stored_recording(stopped=True).wire()
POD = PodObservation(name="rec-recorder", exists=True, uid="u1", phase="Running", ip="10.0.0.5", http_port=8080)
STANDBY = PodObservation(name="cam-recorder-standby", exists=True, uid="s1", phase="Running")
STREAM = StreamFacts(uid="stream-uid", live=True, backup_live=False)
CONFIG = recorder_config(RECORDING, stored_livestream(uid="stream-uid"), SETTINGS, None, 8080)
OUTCOME = RecordingOutcome(generation=1, stream_uid="stream-uid")
ADOPTED = replace(OUTCOME, start_config=CONFIG)
WAITING = RecordingOutcome(generation=1, waiting_for_stream=True)
RESTART = replace(OUTCOME, pod_change=PodChange("wait", "config"))
REPLACED = replace(OUTCOME, pod_change=PodChange("replace", "image"))
REFUSED = replace(OUTCOME, storage_refused=StorageRefusal("StorageCredentialsMissing", "Secret s3-creds"))
FULL = QuotaUse("namespace", used=100, limit=100)


def telemetry(state: str) -> RecorderStatus:
    return RecorderStatus.model_validate({"state": state, "recording": state == "recording"})


HINTS = {"recorder": "rec-recorder", "standby": None, "quota_full": False}
RECONCILE = Reconcile.of(HINTS)
POLL = Wake(SETTINGS.telemetry.interval_seconds)
IDLE = Wake(SETTINGS.telemetry.idle_interval_seconds)
START = WorkerRequest(POD, "POST", START_PATH, "cam", "start", json.dumps(CONFIG.wire()).encode())
STOP = WorkerRequest(POD, "POST", STOP_PATH, "cam", "stop")
LOST = replace(POD, deletion_deadline=NOW - timedelta(seconds=SETTINGS.node_loss.force_delete_seconds + 1), node="n2")
WRITE = "WriteStatus"
NO_FIELDS = CarryClientFields(())
SEEN = RecordingMemory(client_fields=(), status_inputs="seen")  # (a status written before: see `written`)


def observed(**changes: Any) -> RecordingObserved:
    base = RecordingObserved(FACTS, OUTCOME, BODY, {}, pod=POD, stream=STREAM, telemetry=telemetry("recording"))
    return replace(base, **changes)


def shown(actions: list[object]) -> list[object]:
    """The actions with each status write by its type."""
    return [WRITE if isinstance(a, WriteStatus) else a for a in actions]


# Each row: the observation, the memory → the actions.
ROWS: dict[str, tuple[RecordingObserved, RecordingMemory, list[object]]] = {
    "a reconcile when due, the rest waits for its outcome": (
        observed(facts=replace(FACTS, reconcile_due=True)), RecordingMemory(), [RECONCILE, POLL],
    ),
    "a lost recorder: one force-delete first": (
        observed(pod=LOST, facts=replace(FACTS, reconcile_due=True)), RecordingMemory(),
        [ForceDelete(LOST, NOW), RECONCILE, POLL],
    ),
    "a lost recorder deleted already: not again": (
        observed(pod=LOST, facts=replace(FACTS, reconcile_due=True, force_deleted=frozenset({"u1"}))),
        RecordingMemory(), [RECONCILE, POLL],
    ),
    "the stream it waited for appeared": (observed(outcome=WAITING), SEEN, [RECONCILE, POLL]),
    "its stream replaced by a new object": (
        observed(stream=replace(STREAM, uid="new")), SEEN, [RECONCILE, POLL],
    ),
    "the quota filled before a recorder started": (
        observed(pod=None, telemetry=None, quota=FULL), SEEN,
        [Reconcile.of({**HINTS, "recorder": None, "quota_full": True}), IDLE],
    ),
    "the quota full with a recorder: no reconcile, /stop": (
        observed(quota=FULL), replace(SEEN, quota_full=True), [STOP, WRITE, POLL],
    ),
    "a recorder that waited for its restart is idle": (
        observed(outcome=RESTART, telemetry=telemetry("standby")), SEEN, [RECONCILE, POLL],
    ),
    "a recorder that waits for its restart still records": (
        observed(outcome=RESTART), SEEN, [WRITE, POLL],
    ),
    "an adopted standby waits: POST /start": (
        observed(outcome=ADOPTED, telemetry=telemetry("standby")), SEEN, [START, WRITE, POLL],
    ),
    "sent less than START_AGAIN_SECONDS ago: not again": (
        observed(outcome=ADOPTED, telemetry=telemetry("standby")), replace(SEEN, start_sent_at=99.0),
        [WRITE, POLL],
    ),
    "sent longer ago and it still waits: again": (
        observed(outcome=ADOPTED, telemetry=telemetry("standby")), replace(SEEN, start_sent_at=97.0),
        [START, WRITE, POLL],
    ),
    "a /start still in flight: none sent, none remembered": (
        observed(outcome=ADOPTED, telemetry=telemetry("standby"), facts=replace(FACTS, in_flight=frozenset({"start"}))),
        SEEN, [WRITE, POLL],
    ),
    "no /start while the quota is full": (
        observed(outcome=ADOPTED, telemetry=telemetry("standby"), quota=FULL), replace(SEEN, quota_full=True),
        [WRITE, POLL],
    ),
    "stopped: POST /stop": (observed(body=STOPPED), SEEN, [STOP, WRITE, POLL]),
    "stopped, /stop sent to this Pod: not again": (
        observed(body=STOPPED), replace(SEEN, stop_sent_to="u1"), [WRITE, POLL],
    ),
    "stopped, /stop sent to an earlier Pod: to this one": (
        observed(body=STOPPED), replace(SEEN, stop_sent_to="u0"), [STOP, WRITE, POLL],
    ),
    "stopped and finalised: the final status, then the reconcile that removes the recorder": (
        observed(body=STOPPED, telemetry=telemetry("stopped")), SEEN, [WRITE, RECONCILE, POLL],
    ),
    "a replaced recorder: its Event once per reconcile": (
        observed(outcome=REPLACED, facts=replace(FACTS, reconciles=2)), replace(SEEN, announced=1),
        [PostEvent("Normal", WORKER_REPLACED, "recorder Pod rec-recorder replaced: image changed"),
         WRITE, POLL],
    ),
    "a missing storage Secret: looked for again soon": (
        observed(outcome=REFUSED, pod=None, telemetry=None), SEEN, [ResyncWithin(5.0), WRITE, IDLE],
    ),
    "the stream's client fields once": (
        observed(stream=replace(STREAM, client_annotations=(("clientUserId", "7"),))), SEEN,
        [CarryClientFields((("clientUserId", "7"),)), WRITE, POLL],
    ),
    "the first tick carries the stream's client fields, none as they may be": (
        observed(), RecordingMemory(), [NO_FIELDS, WRITE, POLL],
    ),
    "no outcome yet (a failed first reconcile)": (
        observed(outcome=None, facts=replace(FACTS, retry_in=2.0)), RecordingMemory(), [Wake(0.5)],
    ),
}  # fmt: skip


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_decide(row: tuple[RecordingObserved, RecordingMemory, list[object]]) -> None:
    seen, memory, expected = row
    actions, _ = decide(seen, memory)
    assert shown(actions) == expected


def test_an_unchanged_tick_writes_nothing_and_a_stop_is_remembered_by_pod() -> None:
    actions, memory = decide(observed(body=STOPPED), RecordingMemory())
    assert STOP in actions and memory.stop_sent_to == "u1"
    again, memory = decide(observed(body=STOPPED), memory)
    assert shown(again) == [POLL], "the same inputs: no write, no second /stop"


S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds", "deleteAfterDays": 1}
OLD = {
    "title": "t",
    "url": "s3://videos/k/record-1.mp4",
    "upload": "uploaded",
    "durationSeconds": 10.0,
    "sizeBytes": 10,
    "startedAt": "2026-11-20T10:00:00Z",
    "endedAt": "2026-11-20T10:00:10Z",
}
WRITTEN = {"storage": {"s3": S3}, "videos": [OLD]}


def test_retention_deletes_expired_videos_then_marks_them_or_says_why_not_once() -> None:
    actions, memory = decide(observed(written=WRITTEN), SEEN)
    [delete] = [a for a in actions if isinstance(a, DeleteVideos)]
    assert [v.url for v in delete.videos] == [OLD["url"]] and memory.videos.checked_at == FACTS.monotonic
    failed = Deleted((), "deleting s3://videos/k/record-1.mp4: AccessDenied")
    later = replace(FACTS, monotonic=100.0 + SETTINGS.recordings.retention_interval_seconds)
    actions, memory = decide(observed(written=WRITTEN, videos_deleted=(failed,), facts=later), memory)
    assert PostEvent("Warning", VIDEO_EXPIRY_FAILED, failed.failed or "") in actions
    assert any(isinstance(a, DeleteVideos) for a in actions), "tried again at the next round"
    done = Deleted((str(OLD["url"]),))
    actions, memory = decide(observed(written=WRITTEN, videos_deleted=(done,)), memory)
    assert memory.videos == Retention(((str(OLD["url"]), FACTS.stamp),), later.monotonic)
    assert WRITE in shown(actions), "the status marks it (expiredAt)"


def test_a_replaced_recorder_is_announced_even_when_a_reconcile_is_due_at_once() -> None:
    """The replaced Pod's DELETED event asks for a reconcile at once: its Event comes first, or the
    next outcome (without the replacement) passes over it."""
    seen = observed(outcome=REPLACED, facts=replace(FACTS, reconciles=2, reconcile_due=True))
    actions, memory = decide(seen, replace(SEEN, announced=1))
    assert [type(a).__name__ for a in actions][:2] == ["PostEvent", "Reconcile"] and memory.announced == 2


def test_a_recorder_that_cannot_leave_a_cordoned_node_is_said_once_per_reason() -> None:
    why = "node w2 is cordoned (kubectl drain), but the recorder cannot be handed over to another node: ..."
    stays = replace(OUTCOME, cannot_move=why)
    actions, memory = decide(observed(outcome=stays), SEEN)
    assert PostEvent("Warning", RECORDER_CANNOT_MOVE, why) in actions and memory.cannot_move == why
    again, memory = decide(observed(outcome=stays), memory)
    assert not [a for a in again if isinstance(a, PostEvent)], "said once"
    _, memory = decide(observed(), memory)  # uncordoned
    assert memory.cannot_move == ""
