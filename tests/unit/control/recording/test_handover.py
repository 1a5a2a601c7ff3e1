"""A busy recorder handed over to a successor (control/recording/handover.py, and the reconcile's
successor: successor_pod.plan_successor through reconcile_recording against the fake API server): every step,
bound and failure, once each. docs/design/handover.md, Part 5."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from devtools.catalog import livestream, recording
from devtools.fake_kube import FakeKubeApi
from streamops.contract.recorder import CONFIG_ENV, RELEASE_PATH, RecorderConfig, RecorderStatus
from streamops.contract.worker import START_PATH, STOP_PATH
from streamops.control.recording.handover import (
    HURRY_SLOT,
    RELEASE_SLOT,
    START_SECONDS,
    START_SLOT,
    STOP_SLOT,
    RecorderPair,
    recorder_handover,
    recorder_stop,
)
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.runtime.decisions import PostEvent, WorkerRequest
from streamops.control.runtime.handover_steps import (
    HANDED_OVER,
    HANDOVER_CANCELLED,
    HANDOVER_FAILED,
    READY_SECONDS,
    RESEND_SECONDS,
    DeletePod,
    HandoverMemory,
    PatchPod,
)
from streamops.control.shared.settings import WorkerSettings
from streamops.control.workers.handover_marks import (
    HANDOVER_FAILED_ANNOTATION,
    HANDOVER_FOR_ANNOTATION,
    SUCCESSOR_OF_ANNOTATION,
    HandoverFailure,
)
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import SPEC_PARTS_ANNOTATION, PodChange
from streamops.kube.naming import RESTARTS_ANNOTATION

from tests.unit.control.runtime.test_handover_steps import HANDING_OVER, NOW, UPGRADED, worker_pair

OLD, NEW = worker_pair("rec-recorder", "containers[record].image")
CONFIG = RecorderConfig(
    feed_url="http://cam-ingest-internal:8081/feed",
    directory="default/rec",
    reconnect_window_seconds=10,
    max_segment_seconds=3600,
    min_duration_seconds=10,
)
RECORDING = RecorderStatus(state="recording", recording=True, duration=600.0)
RELEASING = RECORDING.model_copy(update={"handover": "releasing"})
RELEASED = RECORDING.model_copy(update={"handover": "released", "state": "stopped", "recording": False})
STANDBY = RecorderStatus(state="standby")
TAKEN = RecorderStatus(state="recording", recording=True, duration=601.0)


def step(
    pair: RecorderPair,
    memory: HandoverMemory | None = None,
    in_flight: frozenset[str] = frozenset(),
    at: float = 0,
    config: RecorderConfig | None = CONFIG,
) -> tuple[list[Any], str, HandoverMemory]:
    actions, state, after = recorder_handover(
        pair, config, "cam", NOW, 100.0 + at, in_flight, memory or HandoverMemory()
    )
    return actions, state.step, after


def test_a_successor_not_ready_yet_is_waited_for() -> None:
    assert step(RecorderPair(OLD, replace(NEW, ready=False), RECORDING))[:2] == ([], "Starting")


def test_a_ready_successor_has_the_predecessor_release_the_video_first() -> None:
    actions, state, memory = step(RecorderPair(OLD, NEW, RECORDING, STANDBY))
    assert state == "Releasing"
    assert actions == [WorkerRequest(OLD, "POST", RELEASE_PATH, "cam", RELEASE_SLOT)]
    assert step(RecorderPair(OLD, NEW, RECORDING, STANDBY), memory, at=RESEND_SECONDS / 2)[0] == []
    assert step(RecorderPair(OLD, NEW, RECORDING, STANDBY), memory, frozenset({RELEASE_SLOT}), RESEND_SECONDS)[0] == []
    again = step(RecorderPair(OLD, NEW, RECORDING, STANDBY), memory, at=RESEND_SECONDS)[0]
    assert len(again) == 1, "refused (409: finalising a video) or lost: asked again"
    assert step(RecorderPair(OLD, NEW, None, STANDBY))[0] == [], "the predecessor not read yet"


def test_once_released_the_successor_is_started_with_the_recording() -> None:
    actions, state, _ = step(RecorderPair(OLD, NEW, RELEASING, STANDBY))
    [start] = actions
    assert state == "Continuing" and start.pod == NEW and (start.method, start.path) == ("POST", START_PATH)
    assert start.slot == START_SLOT and json.loads(start.body)["directory"] == "default/rec"
    assert step(RecorderPair(OLD, NEW, RELEASING, STANDBY), config=None)[0] == [], "no configuration yet"


def test_the_predecessor_goes_once_its_part_ended_and_it_is_said_once() -> None:
    pair = RecorderPair(OLD, NEW, RELEASING, TAKEN)
    assert step(pair)[:2] == ([], "Ending"), "its part runs until ours has read the feed"
    assert pair.telemetry == TAKEN, "the status is the successor's once it runs the Recording"
    actions, _, memory = step(RecorderPair(OLD, NEW, RELEASED, TAKEN))
    event = "recorder handed over from rec-recorder to rec-recorder-b because containers[record].image changed"
    assert actions == [DeletePod(OLD), PostEvent("Normal", HANDED_OVER, event)]
    assert step(RecorderPair(OLD, NEW, RELEASED, TAKEN), memory)[0] == []
    assert RecorderPair(OLD, NEW, RECORDING, STANDBY).telemetry == RECORDING, "a standby's status is not shown"


@pytest.mark.parametrize(
    ("successor", "why"),
    [
        (
            replace(NEW, ready=False, created_at=NOW - timedelta(seconds=READY_SECONDS + 1), waiting="ErrImagePull"),
            "rec-recorder-b was not Ready within 60 s (ErrImagePull)",
        ),
        (replace(NEW, phase="Failed", ready=False, detail="OOMKilled"), "Pod rec-recorder-b is Failed: OOMKilled"),
        (
            replace(NEW, created_at=NOW - timedelta(seconds=START_SECONDS + 1)),
            "rec-recorder-b did not take the recording over within 120 s",
        ),
    ],
    ids=["not-ready", "failed", "not-started"],
)
def test_a_failed_successor_goes_and_the_predecessor_records_on(successor: PodObservation, why: str) -> None:
    actions, _, memory = step(RecorderPair(OLD, successor, RECORDING, STANDBY))
    patch, delete, event = actions
    assert isinstance(patch, PatchPod) and patch.pod == OLD
    record = HandoverFailure.parse(patch.patch["metadata"]["annotations"][HANDOVER_FAILED_ANNOTATION])
    assert record == HandoverFailure(NOW, 1, why)
    assert delete == DeletePod(successor)
    message = f"recorder handover from rec-recorder to rec-recorder-b failed: {why}; rec-recorder keeps recording"
    assert event == PostEvent("Warning", HANDOVER_FAILED, f"{message}, tried again in 30 s")
    assert step(RecorderPair(OLD, successor, RECORDING, STANDBY), memory)[0] == [], "once"


def test_a_successor_failing_after_the_release_takes_the_predecessor_with_it() -> None:
    late = replace(NEW, created_at=NOW - timedelta(seconds=START_SECONDS + 1))
    actions, _, _ = step(RecorderPair(OLD, late, RELEASED, STANDBY))
    assert actions[:2] == [DeletePod(late), DeletePod(OLD)], "a new recorder continues from the state file"
    assert isinstance(actions[2], PostEvent) and "had released the video" in actions[2].message


# --- the recording ends mid-handover: its stop to the Pod that holds the state file ------------------


def stop(
    pair: RecorderPair, memory: HandoverMemory | None = None, in_flight: frozenset[str] = frozenset(), at: float = 0
) -> tuple[list[Any], HandoverMemory]:
    actions, state, after = recorder_stop(pair, "cam", NOW, 100.0 + at, in_flight, memory or HandoverMemory())
    assert state.step == "Stopping"
    return actions, after


CANCELLED = PostEvent(
    "Normal",
    HANDOVER_CANCELLED,
    "recorder handover from rec-recorder to rec-recorder-b cancelled: the recording ends; rec-recorder finalises "
    "the video",
)
STOP_OLD = WorkerRequest(OLD, "POST", STOP_PATH, "cam", STOP_SLOT)


@pytest.mark.parametrize(
    "pair",
    [
        RecorderPair(OLD, replace(NEW, ready=False), RECORDING),  # Starting
        RecorderPair(OLD, NEW, RECORDING, STANDBY),  # Releasing: not asked yet, or refused (409)
        RecorderPair(OLD, NEW, RELEASING, STANDBY),  # Continuing: released, the successor not started
        RecorderPair(OLD, NEW, None, STANDBY),  # the predecessor not read: it holds it unless it said released
    ],
    ids=["starting", "releasing", "released-not-taken", "predecessor-unread"],
)
def test_before_the_successor_took_the_video_a_stop_cancels_and_goes_to_the_predecessor(pair: RecorderPair) -> None:
    actions, memory = stop(pair)
    assert actions == [DeletePod(pair.successor), CANCELLED, STOP_OLD], "never started now; a release taken back"
    assert stop(pair, memory, at=RESEND_SECONDS / 2)[0] == [], "once, and the stop not before the resend bound"
    assert stop(pair, memory, at=RESEND_SECONDS)[0] == [STOP_OLD], "no answer yet: sent again"
    assert stop(pair, memory, frozenset({STOP_SLOT}), RESEND_SECONDS)[0] == [], "in flight"
    said_stopped = replace(pair, predecessor_status=RECORDING.model_copy(update={"state": "stopped"}))
    assert stop(said_stopped, memory, at=RESEND_SECONDS)[0] == []


def test_a_successor_not_read_is_not_deleted_before_the_predecessor_said_it_never_released_the_video() -> None:
    actions, memory = stop(RecorderPair(OLD, NEW, RELEASING, None))
    assert actions == [STOP_OLD], "its stop takes the video back only if the successor never wrote the state file"
    after, _ = stop(RecorderPair(OLD, NEW, RECORDING.model_copy(update={"state": "stopped"}), None), memory)
    assert after == [DeletePod(NEW), CANCELLED], "taken back (released no more): the successor goes"


@pytest.mark.parametrize("slot", [RELEASE_SLOT, START_SLOT])
def test_a_release_or_a_start_in_flight_is_waited_for_its_answer_says_who_holds_the_video(slot: str) -> None:
    assert stop(RecorderPair(OLD, NEW, RELEASING, STANDBY), in_flight=frozenset({slot}))[0] == []


def test_once_the_successor_took_the_video_the_predecessor_s_part_ends_then_the_successor_is_stopped() -> None:
    actions, memory = stop(RecorderPair(OLD, NEW, RELEASING, TAKEN))
    assert actions == [WorkerRequest(OLD, "POST", STOP_PATH, "cam", HURRY_SLOT)], "its part, now: it finalises nothing"
    actions, memory = stop(RecorderPair(OLD, NEW, RELEASED, TAKEN), memory)
    event = "recorder handed over from rec-recorder to rec-recorder-b because containers[record].image changed"
    stop_new = WorkerRequest(NEW, "POST", STOP_PATH, "cam", STOP_SLOT)
    assert actions == [DeletePod(OLD), PostEvent("Normal", HANDED_OVER, event), stop_new]
    assert stop(RecorderPair(OLD, NEW, RELEASED, TAKEN), memory)[0] == []
    assert stop(RecorderPair(OLD, NEW, None, TAKEN))[0][-1] == stop_new, "the predecessor gone: the successor's stop"


def test_decide_sends_the_stop_of_a_stopped_recording_to_the_holder_once() -> None:
    from streamops.control.recording.decide import RecordingMemory, decide
    from streamops.control.recording.outcome import RecordingOutcome

    from tests.unit.control.recording.test_decide import POD, SEEN, STOPPED, observed, telemetry

    successor = replace(NEW, successor_of=POD.uid, created_at=None)
    outcome = RecordingOutcome(generation=1, stream_uid="stream-uid")  # stopped: no configuration for it
    body = STOPPED
    released = telemetry("recording").model_copy(update={"handover": "releasing"})
    seen = observed(outcome=outcome, body=body, successor=successor, successor_telemetry=STANDBY, telemetry=released)
    actions, after = decide(seen, SEEN)
    requests = [(a.pod.name, a.path) for a in actions if isinstance(a, WorkerRequest)]
    assert requests == [("rec-recorder", STOP_PATH)] and DeletePod(successor) in actions
    assert after.stop_sent_to == POD.uid
    # The successor deleted: the pair is over, and the ordinary stop does not send it again.
    alone = replace(seen, successor=None, successor_telemetry=None)
    again, _ = decide(alone, after)
    assert [a for a in again if isinstance(a, WorkerRequest)] == []
    taken = replace(seen, successor_telemetry=TAKEN, telemetry=RELEASED)
    actions, _ = decide(taken, RecordingMemory(client_fields=()))
    requests = [(a.pod.name, a.path) for a in actions if isinstance(a, WorkerRequest)]
    assert requests == [("rec-recorder-b", STOP_PATH)] and DeletePod(POD) in actions


# --- the reconcile: the successor made in the other slot, as a warm recorder -----------------------

NS = "default"


def recording_recorder(api: FakeKubeApi, restarts: str | None = None, **spec: Any) -> dict[str, Any]:
    """`restarts`: the Recording's own restart policy (its annotation; None: the operator's)."""
    api.add_in(NS, livestream("cam"))
    body = recording("rec", **spec)
    if restarts is not None:
        body["metadata"].setdefault("annotations", {})[RESTARTS_ANNOTATION] = restarts
    api.add_in(NS, body)
    reconcile_recording(api, HANDING_OVER, api.object("Recording", NS, "rec") or {})
    api.modify("Recording", NS, "rec", {"status": {"recording": True}})
    return api.object("Pod", NS, "rec-recorder") or {}


def config_of(pod: dict[str, Any]) -> dict[str, Any]:
    env = pod["spec"]["containers"][0]["env"]
    return json.loads(next(e["value"] for e in env if e["name"] == CONFIG_ENV))


def test_a_busy_recorder_that_must_change_gets_a_warm_successor_in_the_other_slot(api: FakeKubeApi) -> None:
    old = recording_recorder(api)
    outcome = reconcile_recording(api, UPGRADED, api.object("Recording", NS, "rec") or {})
    assert outcome.pod_change == PodChange("handover", "spec.tolerations")
    assert outcome.handover_config is not None, "the status loop starts it without waiting for another reconcile"
    assert api.object("Pod", NS, "rec-recorder") == old, "the predecessor records on"
    successor = api.object("Pod", NS, "rec-recorder-b") or {}
    annotations = successor["metadata"]["annotations"]
    assert annotations[SUCCESSOR_OF_ANNOTATION] == old["metadata"]["uid"]
    assert annotations[HANDOVER_FOR_ANNOTATION] == "spec.tolerations"
    assert config_of(successor)["standby"] is True, "a warm recorder: the Recording comes by POST /start"
    assert config_of(old)["directory"] == "default/rec" or config_of(old)["directory"]
    assert successor["spec"]["volumes"] == old["spec"]["volumes"], "the same claim: the same state file"
    # Reconciled again: the successor is sent the Recording's configuration, and left alone, even
    # while the status says not recording (the successor starting, the predecessor's part ended).
    api.modify("Recording", NS, "rec", {"status": {"recording": False}})
    again = reconcile_recording(api, UPGRADED, api.object("Recording", NS, "rec") or {})
    assert again.pod_change.action == "handover" and api.object("Pod", NS, "rec-recorder") == old
    api.modify("Recording", NS, "rec", {"status": {"recording": True}})
    assert again.handover_config is not None and again.handover_config.directory == config_of(old)["directory"]
    assert (api.object("Pod", NS, "rec-recorder-b") or {})["metadata"]["uid"] == successor["metadata"]["uid"]
    # Once the predecessor is gone the successor is the recorder: nothing differs (its parts are the
    # desired Pod's), and a restart of it in standby is sent the Recording by POST /start.
    api.delete("Pod", NS, "rec-recorder", old["metadata"]["uid"])
    after = reconcile_recording(api, UPGRADED, api.object("Recording", NS, "rec") or {}, recorder="rec-recorder-b")
    assert after.pod_change.action == "keep" and after.start_config is not None
    assert api.object("Pod", NS, "rec-recorder") is None
    assert (
        annotations[SPEC_PARTS_ANNOTATION]
        == (api.object("Pod", NS, "rec-recorder-b") or {})["metadata"]["annotations"][SPEC_PARTS_ANNOTATION]
    )
    # Idle, another change: the recorder in the second slot is the one replaced.
    api.modify("Recording", NS, "rec", {"status": {"recording": False}})
    api.clear_calls()
    reconcile_recording(api, HANDING_OVER, api.object("Recording", NS, "rec") or {}, recorder="rec-recorder-b")
    assert [(c.verb, c.name) for c in api.writes if c.verb == "delete"] == [("delete", "rec-recorder-b")]


def test_under_the_policy_idle_or_on_a_one_pod_claim_a_busy_recorder_still_waits(api: FakeKubeApi) -> None:
    recording_recorder(api, restarts="idle")
    assert UPGRADED.worker.restart_policy == "handover"
    outcome = reconcile_recording(api, UPGRADED, api.object("Recording", NS, "rec") or {})
    assert outcome.pod_change.action == "wait", "the Recording's own policy idle: it waits for idle"
    api.modify("Recording", NS, "rec", {"metadata": {"annotations": {RESTARTS_ANNOTATION: None}}})
    idle = UPGRADED.model_copy(update={"worker": WorkerSettings(restart_policy="idle")})
    assert reconcile_recording(api, idle, api.object("Recording", NS, "rec") or {}).pod_change.action == "wait"
    recordings = UPGRADED.recordings.model_copy(update={"access_mode": "ReadWriteOncePod"})
    one_pod = UPGRADED.model_copy(update={"recordings": recordings})
    assert reconcile_recording(api, one_pod, api.object("Recording", NS, "rec") or {}).pod_change.action != "handover"
    assert api.object("Pod", NS, "rec-recorder-b") is None


# --- the loop's decide: the handover's step instead of the recorder's commands ---------------------


def test_during_a_handover_decide_takes_its_step_and_status_reads_the_successor() -> None:
    from streamops.control.recording.decide import RecordingMemory, decide
    from streamops.control.recording.outcome import RecordingOutcome

    from tests.unit.control.recording.test_decide import CONFIG, POD, SEEN, observed, telemetry

    successor = replace(NEW, successor_of=POD.uid, created_at=None)
    outcome = RecordingOutcome(generation=1, stream_uid="stream-uid", handover_config=CONFIG)
    seen = observed(outcome=outcome, successor=successor, successor_telemetry=STANDBY)
    actions, after = decide(seen, SEEN)
    requests = [a for a in actions if isinstance(a, WorkerRequest)]
    assert [(r.pod.name, r.path) for r in requests] == [("rec-recorder", RELEASE_PATH)]
    assert after.handover.sent and seen.shown == telemetry("recording"), "a standby's status is not shown"
    released = telemetry("recording").model_copy(update={"handover": "releasing"})
    actions, _ = decide(replace(seen, telemetry=released), RecordingMemory(client_fields=()))
    assert [(r.pod.name, r.path) for r in actions if isinstance(r, WorkerRequest)] == [("rec-recorder-b", START_PATH)]
    taken = replace(seen, telemetry=released, successor_telemetry=TAKEN)
    assert taken.shown == TAKEN


def test_on_the_host_network_the_successor_has_a_host_port_of_its_own(api: FakeKubeApi) -> None:
    from streamops.control.livestream.reconcile import reconcile_livestream
    from streamops.control.workers.ports import PortAllocator

    host = HANDING_OVER.model_copy(update={"worker": HANDING_OVER.worker.model_copy(update={"host_network": True})})
    upgraded = host.model_copy(update={"node_loss": UPGRADED.node_loss})
    ports = PortAllocator(range(25100, 25200))
    api.add_in(NS, livestream("cam"))
    asking = recording("rec")
    asking["metadata"].setdefault("annotations", {})[RESTARTS_ANNOTATION] = "handover"
    api.add_in(NS, asking)
    reconcile_livestream(api, host, api.object("LiveStream", NS, "cam") or {}, allocator=ports)
    reconcile_recording(api, host, api.object("Recording", NS, "rec") or {}, allocator=ports)
    api.modify("Recording", NS, "rec", {"status": {"recording": True}})
    reconcile_recording(api, upgraded, api.object("Recording", NS, "rec") or {}, allocator=ports)
    old, new = (api.object("Pod", NS, name) or {} for name in ("rec-recorder", "rec-recorder-b"))
    port_of = {n: p["spec"]["containers"][0]["ports"][0]["containerPort"] for n, p in (("old", old), ("new", new))}
    assert port_of["old"] != port_of["new"] and config_of(new)["httpPort"] == port_of["new"]
    again = reconcile_recording(api, upgraded, api.object("Recording", NS, "rec") or {}, allocator=ports)
    assert again.handover_config is not None and again.handover_config.http_port == port_of["new"]
    assert (api.object("Pod", NS, "rec-recorder-b") or {})["metadata"]["uid"] == new["metadata"]["uid"], "under way"
