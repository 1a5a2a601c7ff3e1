"""A LiveStream loop's decide (control/livestream/decide.py), pure: a row is an observation and a
memory, and the actions (and memory) expected. The actions' performers: runtime/tick.py and
test_overlay_switching.py; the whole loop against an API server: tests/cluster."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from devtools.catalog import livestream, pull, quiet_loop, stored
from streamops.api.common import SecretKeyRef
from streamops.contract.ingest import HANDOVER_FOLLOW_PATH, PLAYER_SETTINGS_PATH, IngestStatus, PlayerSettings
from streamops.contract.overlay import OverlaySwitch
from streamops.control.livestream.deactivation import DEACTIVATED_ANNOTATION, Deactivation
from streamops.control.livestream.decide import (
    TLS_SECRET_RETRY_SECONDS,
    LiveStreamMemory,
    LiveStreamObserved,
    RecordingSeen,
    StreamMetrics,
    SwitchOverlays,
    decide,
)
from streamops.control.livestream.handover import HANDING_OVER
from streamops.control.livestream.handover_abort import HANDOVER_CANCELLED, HandoverCancel
from streamops.control.livestream.outcome import StreamOutcome
from streamops.control.runtime.decisions import (
    ForceDelete,
    LoopFacts,
    PostEvent,
    Reconcile,
    ResyncWithin,
    Say,
    Wake,
    WorkerRequest,
    WriteStatus,
)
from streamops.control.runtime.handover_steps import HANDOVER_FAILED, DeletePod
from streamops.control.shared.conditions import RESTART_PENDING, WORKER_REPLACED
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.handover_marks import HandoverFailure
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import PodChange

SETTINGS = OperatorSettings()
NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
TICK = Wake(SETTINGS.telemetry.interval_seconds)  # a worker runs: its telemetry is read every tick
IDLE = Wake(SETTINGS.telemetry.idle_interval_seconds)
PRIMARY = PodObservation(
    "cam-ingest", exists=True, uid="p1", phase="Running", ready=True, ip="10.0.0.5", http_port=8081
)
STANDBY = PodObservation("cam-recorder-1", exists=True, uid="s1", phase="Running", ready=True)
WAIT = PodChange("wait", "config")
REPLACE = PodChange("replace", "image")
OUTCOME = StreamOutcome(3)
LIVE = IngestStatus(live=True)
IDLE_INGEST = IngestStatus(live=False)
GAVE_UP = IngestStatus(live=False, active=False, deactivated_reason="no data from any pull URL")
LOST = replace(
    PRIMARY,
    deleting=True,
    node="n1",
    deletion_deadline=NOW - timedelta(hours=1),
    deletion_grace_seconds=30,
    disruption="DeletionByTaintManager",
)


def facts(**changes: Any) -> LoopFacts:
    base = quiet_loop("cam", NOW, SETTINGS, generation=3)
    return replace(base, **changes)


def body(annotations: dict[str, str] | None = None, **spec: Any) -> kopf.Body:
    """The LiveStream "cam" as the watch shows it."""
    raw = stored(livestream("cam", **spec))
    raw["metadata"]["annotations"] = annotations or {}
    return kopf.Body(raw)


BODY = body()


def seen(outcome: StreamOutcome | None = OUTCOME, loop: LoopFacts | None = None, **changes: Any) -> LiveStreamObserved:
    """A push stream whose primary ingest runs, its telemetry idle unless `changes` say otherwise."""
    base = LiveStreamObserved(
        facts=loop or facts(),
        outcome=outcome,
        body=BODY,
        written={},
        pods={"primary": PRIMARY},
        telemetry={"primary": IDLE_INGEST},
    )
    return replace(base, **changes)


def hints(**changes: Any) -> Reconcile:
    told = {"standby": None, "recorder_running": False, "auto_recording_exists": False}
    told |= {"primary_live": None, "backup_live": None}
    return Reconcile.of(told | changes)


def kinds(actions: list[Any]) -> list[type]:
    return [type(a) for a in actions]


def without(actions: list[Any], *types: type) -> list[Any]:
    """The actions that are not of `types` (every tick reports metrics, most write status)."""
    return [a for a in actions if not isinstance(a, types)]


# --- 1-2: reconciling ---------------------------------------------------------------------------------

RECONCILE_ROWS = [
    pytest.param(seen(None, facts(reconcile_due=True)), LiveStreamMemory(), [hints(), TICK], id="first-look"),
    pytest.param(seen(None, facts(retry_in=4.0)), LiveStreamMemory(), [Wake(4.0)], id="first-failed-waits-its-retry"),
    pytest.param(
        seen(loop=facts(reconcile_due=True), standby=STANDBY, recorder_running=True),
        LiveStreamMemory(live={"primary": True}),
        [hints(standby="cam-recorder-1", recorder_running=True, primary_live=True), TICK],
        id="due-with-the-indexes-hints-and-last-live",
    ),
    pytest.param(
        seen(recordings=(RecordingSeen("cam-auto", auto=True),), loop=facts(reconcile_due=True)),
        LiveStreamMemory(),
        [hints(auto_recording_exists=True), TICK],
        id="an-auto-recording-in-the-index",
    ),
    pytest.param(
        seen(replace(OUTCOME, deactivation_annotation="x")),
        LiveStreamMemory(),
        [hints(), TICK],
        id="the-deactivation-record-changed",
    ),
    pytest.param(
        seen(outcome=replace(OUTCOME, deactivation_annotation="x"), loop=facts(retry_in=2.0)),
        LiveStreamMemory(),
        None,  # no reconcile: the rest of the tick
        id="record-changed-but-a-failed-reconcile-waits",
    ),
]


@pytest.mark.parametrize(("observed", "memory", "expected"), RECONCILE_ROWS)
def test_a_due_reconcile_ends_the_tick(observed: LiveStreamObserved, memory: LiveStreamMemory, expected: Any) -> None:
    actions, after = decide(observed, memory)
    if expected is None:
        assert not any(isinstance(a, Reconcile) for a in actions)
    else:  # (the outcome at hand is remembered as announced: it replaced nothing here)
        assert actions == expected and replace(after, announced=None) == memory


def test_a_replaced_ingest_is_announced_even_when_a_reconcile_is_due_at_once():
    """The replaced Pod's DELETED event asks for a reconcile at once: the tick that sees the
    replacing outcome says it before that reconcile, which gives an outcome without it (a cluster
    test waited for WorkerReplaced in vain)."""
    outcome = replace(OUTCOME, pod_changes={"primary": REPLACE})
    actions, memory = decide(seen(outcome, facts(reconcile_due=True)), LiveStreamMemory())
    kinds = [type(a) for a in actions]
    assert kinds == [PostEvent, Reconcile, Wake] and actions[0].reason == WORKER_REPLACED
    assert memory.announced is outcome


# --- 3-9: a tick with an outcome -------------------------------------------------------------------


def test_replaced_ingests_are_announced_once_per_reconcile():
    outcome = replace(OUTCOME, pod_changes={"primary": REPLACE, "backup": WAIT})
    actions, memory = decide(seen(outcome), LiveStreamMemory())
    events = [a for a in actions if isinstance(a, PostEvent)]
    assert [(e.type, e.reason) for e in events] == [("Normal", WORKER_REPLACED)] and "cam-ingest" in events[0].message
    again, _ = decide(seen(outcome), memory)
    assert not any(isinstance(a, PostEvent) for a in again), "the same outcome: said once"
    fresh, _ = decide(seen(replace(outcome)), memory)
    assert any(isinstance(a, PostEvent) for a in fresh), "a new reconcile's outcome"


def test_the_replaced_event_names_the_pod_replaced_in_either_slot():
    outcome = replace(OUTCOME, pod_changes={"primary": REPLACE}, replaced={"primary": "cam-ingest-b"})
    [event] = [a for a in decide(seen(outcome), LiveStreamMemory())[0] if isinstance(a, PostEvent)]
    assert "Pod cam-ingest-b replaced" in event.message


@pytest.mark.parametrize(
    ("outcome", "resync"),
    [
        (OUTCOME, False),
        (replace(OUTCOME, tls_secret_problem=("TLSSecretMissing", "no Secret")), True),
        (replace(OUTCOME, policy_refusals=("not labelled",)), True),
    ],
)
def test_a_missing_or_refused_secret_is_looked_at_again_soon(outcome: StreamOutcome, resync: bool) -> None:
    actions, _ = decide(seen(outcome), LiveStreamMemory())
    assert (ResyncWithin(TLS_SECRET_RETRY_SECONDS) in actions) is resync


def test_a_lost_pod_gets_one_force_delete():
    observed = seen(pods={"primary": LOST}, telemetry={})
    actions, _ = decide(observed, LiveStreamMemory())
    assert [a for a in actions if isinstance(a, ForceDelete)] == [ForceDelete(LOST, NOW)]
    done = seen(pods={"primary": LOST}, telemetry={}, loop=facts(force_deleted=frozenset({"p1"})))
    assert not any(isinstance(a, ForceDelete) for a in decide(done, LiveStreamMemory())[0]), "once"
    standby = seen(standby=replace(LOST, name="cam-recorder-1", uid="s1"), telemetry={})
    assert [a.pod.uid for a in decide(standby, LiveStreamMemory())[0] if isinstance(a, ForceDelete)] == ["s1"]


def test_every_tick_reports_the_streams_metrics():
    actions, _ = decide(seen(standby=STANDBY), LiveStreamMemory())
    assert StreamMetrics(True, (("ingest", (PRIMARY,)), ("recorder", (STANDBY,)))) in actions
    off, _ = decide(seen(body=body(active=False), pods={}, telemetry={}), LiveStreamMemory())
    assert StreamMetrics(False, (("ingest", ()), ("recorder", (None,)))) in off


SCORE = {"name": "score", "url": "https://widgets.example.com/score", "left": 5, "top": 5, "width": 40, "height": 20}
LADDER = {"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]}
OVERLAY_SPEC = {"overlays": [SCORE], "transcoding": LADDER}


def test_an_overlay_switch_goes_to_an_ingest_that_shows_others_signed_with_the_stream_key():
    shows_none = IngestStatus(live=True, overlays=[], overlays_enabled=[])
    observed = seen(body=body(**OVERLAY_SPEC), telemetry={"primary": shows_none})
    actions, _ = decide(observed, LiveStreamMemory())
    key = SecretKeyRef(name="cam-stream-key", key="streamKey")
    assert [a for a in actions if isinstance(a, SwitchOverlays)] == [
        SwitchOverlays("cam", key, (("overlays/primary", PRIMARY, OverlaySwitch(enabled=["score"])),))
    ]
    busy = replace(observed, facts=facts(in_flight=frozenset({"overlays/primary"})))
    assert not any(isinstance(a, SwitchOverlays) for a in decide(busy, LiveStreamMemory())[0]), "one in flight"
    shows_it = IngestStatus(live=True, overlays=[], overlays_enabled=["score"])
    done = replace(observed, telemetry={"primary": shows_it})
    assert not any(isinstance(a, SwitchOverlays) for a in decide(done, LiveStreamMemory())[0])
    pulled = seen(body=body(source=pull("rtmp://127.0.0.1/live/a"), **OVERLAY_SPEC), telemetry={"primary": shows_none})
    [switch] = [a for a in decide(pulled, LiveStreamMemory())[0] if isinstance(a, SwitchOverlays)]
    assert switch.key is None, "a pull stream has no key: unsigned"


def test_player_settings_go_to_an_ingest_that_shows_others():
    wanted = PlayerSettings(projection="vr360")
    other = IngestStatus(live=True, player_settings="old-digest")
    observed = seen(body=body(playback={"projection": "vr360"}), telemetry={"primary": other})
    requests = [a for a in decide(observed, LiveStreamMemory())[0] if isinstance(a, WorkerRequest)]
    body_sent = json.dumps(wanted.wire()).encode()
    assert requests == [
        WorkerRequest(PRIMARY, "POST", PLAYER_SETTINGS_PATH, "cam", "player-settings/primary", body_sent)
    ]
    busy = replace(observed, facts=facts(in_flight=frozenset({"player-settings/primary"})))
    assert not any(isinstance(a, WorkerRequest) for a in decide(busy, LiveStreamMemory())[0])
    same = replace(observed, telemetry={"primary": IngestStatus(live=True, player_settings=wanted.digest())})
    assert not any(isinstance(a, WorkerRequest) for a in decide(same, LiveStreamMemory())[0])


IDLE_RESTART_ROWS = [
    pytest.param({"primary": WAIT}, IDLE_INGEST, [hints(primary_live=False)], id="waited-and-idle-now"),
    pytest.param({"primary": WAIT}, LIVE, [], id="waits-while-live"),
    pytest.param({"primary": REPLACE}, IDLE_INGEST, [], id="nothing-waits"),
    pytest.param({"backup": WAIT}, IDLE_INGEST, [], id="the-backup-not-read-yet"),
]


@pytest.mark.parametrize(("changes", "telemetry", "expected"), IDLE_RESTART_ROWS)
def test_an_idle_ingest_lets_its_pending_restart_happen(
    changes: dict[str, PodChange], telemetry: IngestStatus, expected: list[Reconcile]
) -> None:
    outcome = replace(OUTCOME, pod_changes=changes)
    actions, memory = decide(seen(outcome, telemetry={"primary": telemetry}), LiveStreamMemory(announced=outcome))
    assert [a for a in actions if isinstance(a, Reconcile)] == expected
    assert memory.live == {"primary": telemetry.live}
    retrying = seen(outcome, telemetry={"primary": telemetry}, loop=facts(retry_in=3.0))
    assert not any(isinstance(a, Reconcile) for a in decide(retrying, LiveStreamMemory(announced=outcome))[0])


def test_a_deactivation_report_reconciles_once_per_pod():
    pulled = body(source=pull("rtmp://127.0.0.1/live/a"))
    observed = seen(body=pulled, telemetry={"primary": GAVE_UP})
    report = hints(primary_live=False, deactivated="no data from any pull URL", deactivated_pod="p1")
    actions, memory = decide(observed, LiveStreamMemory())
    assert [a for a in actions if isinstance(a, Reconcile)] == [report]
    assert memory.reporting == ("p1", 1)
    # The next tick has the reconcile's outcome: it recorded the report, which is not sent again.
    answered = replace(observed, outcome=replace(OUTCOME, deactivation_recorded=True), facts=facts(reconciles=2))
    actions, memory = decide(answered, memory)
    assert memory.reported == "p1" and memory.reporting is None
    assert not any(isinstance(a, Reconcile) for a in actions)
    # Not recorded (the Pod differs from the spec's): asked again at the next tick.
    unrecorded = replace(observed, facts=facts(reconciles=2))
    actions, memory = decide(unrecorded, LiveStreamMemory(reporting=("p1", 1)))
    assert memory.reported is None and [a for a in actions if isinstance(a, Reconcile)] == [report]
    # In force already: no report.
    record = Deactivation("u", 3, "no data").annotation()
    in_force = replace(OUTCOME, deactivation=Deactivation("u", 3, "no data"), deactivation_annotation=record)
    recorded = body({DEACTIVATED_ANNOTATION: record}, source=pull("rtmp://127.0.0.1/live/a"))
    held = replace(observed, outcome=in_force, body=recorded)
    assert not any(isinstance(a, Reconcile) for a in decide(held, LiveStreamMemory())[0])


def test_the_status_is_written_when_what_it_is_made_of_changed():
    actions, memory = decide(seen(), LiveStreamMemory())
    [write] = [a for a in actions if isinstance(a, WriteStatus)]
    assert write.status["conditions"] and write.inputs == memory.inputs
    again, _ = decide(seen(), memory)
    assert not any(isinstance(a, WriteStatus) for a in again), "nothing changed: nothing written"
    deferred, _ = decide(seen(loop=facts(write_pending=True)), memory)
    assert any(isinstance(a, WriteStatus) for a in deferred), "a deferred write is tried again"
    live, after = decide(seen(telemetry={"primary": LIVE}), memory)
    assert any(isinstance(a, WriteStatus) for a in live) and after.primary_before == LIVE


def test_a_spec_the_operator_cannot_use_gets_conditions_only():
    actions, _ = decide(seen(replace(OUTCOME, invalid_spec="spec.source: bad")), LiveStreamMemory())
    [write] = [a for a in actions if isinstance(a, WriteStatus)]
    assert {c["reason"] for c in write.status["conditions"]} == {"InvalidSpec"} and write.events == ()


def test_the_tick_ends_with_its_wake():
    actions, _ = decide(seen(), LiveStreamMemory())
    assert actions[-1] == TICK and kinds(actions).count(Wake) == 1
    nothing, _ = decide(seen(pods={}, telemetry={}), LiveStreamMemory())
    assert nothing[-1] == IDLE
    order = kinds(without(decide(seen(replace(OUTCOME, pod_changes={"primary": WAIT})), LiveStreamMemory())[0]))
    assert order == [StreamMetrics, Reconcile, WriteStatus, Wake], "the reconcile before the status write"


# --- a handover (handover.py's steps; their table: test_handover.py) ------------------------------

SUCCESSOR = PodObservation(
    "cam-ingest-b",
    exists=True,
    uid="p2",
    phase="Running",
    ready=True,
    ip="10.0.0.6",
    http_port=8081,
    successor_of="p1",
    handover_for="containers[ingest].image",
    created_at=NOW - timedelta(seconds=5),
)
HANDING = replace(OUTCOME, pod_changes={"primary": PodChange("handover", "containers[ingest].image")})


def conditions_of(actions: list[Any]) -> dict[str, dict[str, str]]:
    [write] = [a for a in actions if isinstance(a, WriteStatus)]
    return {c["type"]: c for c in write.status["conditions"]}


def test_a_handover_step_is_taken_and_status_says_handing_over():
    observed = seen(HANDING, telemetry={"primary": LIVE}, others={"primary": SUCCESSOR}, other_telemetry={})
    actions, memory = decide(observed, LiveStreamMemory())
    [follow] = [a for a in actions if isinstance(a, WorkerRequest)]
    assert (follow.pod, follow.path) == (SUCCESSOR, HANDOVER_FOLLOW_PATH)
    handing = conditions_of(actions)[HANDING_OVER]
    assert (handing["status"], handing["reason"]) == ("True", "Following")
    assert "handing over from cam-ingest to cam-ingest-b because containers[ingest].image changed" in handing["message"]
    assert memory.handover.sent, "remembered: not sent again next tick"
    # No WorkerReplaced Event for a handover (HandedOver says it when it is done).
    assert not [a for a in actions if isinstance(a, PostEvent) and a.reason == WORKER_REPLACED]
    # The step logged, once per change: not again at the next tick.
    [said] = [a for a in actions if isinstance(a, Say)]
    assert said.text.startswith("handover Following: primary ingest handing over from cam-ingest to cam-ingest-b")
    assert not [a for a in decide(observed, memory)[0] if isinstance(a, Say)]


def test_a_failed_handover_leaves_restart_pending_saying_why():
    failure = HandoverFailure(NOW - timedelta(seconds=5), 1, "cam-ingest-b was not Ready within 60 s")
    primary = replace(PRIMARY, handover_failed=failure.record())
    held = replace(HANDING, pod_changes={"primary": replace(HANDING.pod_changes["primary"], retry_at=failure.retry_at)})
    actions, _ = decide(seen(held, pods={"primary": primary}, telemetry={"primary": LIVE}), LiveStreamMemory())
    pending = conditions_of(actions)[RESTART_PENDING]
    assert (pending["status"], pending["reason"]) == ("True", HANDOVER_FAILED)
    assert "was not Ready within 60 s" in pending["message"] and "cam-ingest keeps running" in pending["message"]
    assert HANDING_OVER not in conditions_of(actions)
    # Its retry is due: a reconcile makes the next successor.
    later = facts(now=failure.retry_at)
    actions, _ = decide(
        seen(held, loop=later, pods={"primary": primary}, telemetry={"primary": LIVE}), LiveStreamMemory()
    )
    assert any(isinstance(a, Reconcile) for a in actions)


def test_a_cancelled_handover_deletes_its_successor_and_takes_no_step_of_it():
    """(handover_abort.py's table: test_handover_abort.py) The reconcile named the successor."""
    cancelled = replace(HANDING, pod_changes={}, handover_cancels={"primary": HandoverCancel("p2", "node n2 is back")})
    observed = seen(cancelled, telemetry={"primary": LIVE}, others={"primary": SUCCESSOR}, other_telemetry={})
    actions, _ = decide(observed, LiveStreamMemory())
    assert DeletePod(SUCCESSOR) in actions and not [a for a in actions if isinstance(a, WorkerRequest)]
    [event] = [a for a in actions if isinstance(a, PostEvent)]
    assert (event.type, event.reason) == ("Normal", HANDOVER_CANCELLED)
    assert HANDING_OVER not in conditions_of(actions)


def test_a_stream_stays_live_while_its_publisher_moves_to_the_successor():
    """The Services moved, the encoder not yet reconnected: the predecessor's media is what is on air."""
    serving = replace(SUCCESSOR, serving=True)
    predecessor = replace(PRIMARY, serving=False, handed_over_at=NOW - timedelta(seconds=1))
    observed = seen(
        OUTCOME,
        pods={"primary": serving},
        telemetry={"primary": IDLE_INGEST},
        others={"primary": predecessor},
        other_telemetry={"primary": LIVE},
    )
    actions, memory = decide(observed, LiveStreamMemory())
    assert memory.live == {"primary": True}, "busy: no other change replaces it meanwhile"
    assert conditions_of(actions)["Live"]["status"] == "True"
