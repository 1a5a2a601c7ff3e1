"""Which difference restarts a running worker, and when (control/workers/restarts.py, workers/children.py roll_pod)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import livestream, named_ladder, quality_set, recording, restream, stored_livestream
from devtools.fake_kube import FakeKubeApi
from pydantic import Field
from streamops.api.common import Condition
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.status import IngestObservation, livestream_status
from streamops.control.recording.reconcile import reconcile_recording
from streamops.control.restream.reconcile import reconcile_restream
from streamops.control.shared.conditions import RESTART_PENDING, WAITING_FOR_IDLE
from streamops.control.shared.settings import NodeLossSettings, OperatorSettings, WorkerSettings
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.restarts import (
    BUILT_FOR_ANNOTATION,
    BUILT_FROM_ANNOTATION,
    REPLACED_FOR_ANNOTATION,
    RESTARTS_ANNOTATION,
    SPEC_PARTS_ANNOTATION,
    UNKNOWN_PART,
    PodChange,
    config_parts,
    first_difference,
    owner_difference,
    parts_of,
    pod_change,
    pod_difference,
    restart_policy,
)
from streamops.control.workers.worker_pod import WorkerContainer, worker_pod
from streamops.kube.naming import SPEC_HASH_ANNOTATION

NS = "media"
# The restart policy idle (today's rules: a busy ingest waits); handover's rows are below.
SETTINGS = OperatorSettings(worker=WorkerSettings(restart_policy="idle"))
# A chart-wide worker setting a helm upgrade may change (worker.nodeLoss.tolerationSeconds).
UPGRADED = SETTINGS.model_copy(
    update={"node_loss": NodeLossSettings(toleration_seconds=SETTINGS.node_loss.toleration_seconds + 7)}
)


# --- the parts and their first difference ---------------------------------------------------------


def test_a_changed_setting_names_the_pod_field_and_a_changed_spec_the_config_field() -> None:
    stream = stored_livestream()
    running = ingest_pod(stream, "primary", SETTINGS)
    assert pod_difference(ingest_pod(stream, "primary", SETTINGS), running) is None
    assert pod_difference(ingest_pod(stream, "primary", UPGRADED), running) == "spec.tolerations"
    respec = stored_livestream(hls={"segmentSeconds": 4})
    assert pod_difference(ingest_pod(respec, "primary", SETTINGS), running) == ("config.hls.segmentSeconds")


class NextIngestConfig(IngestConfig):
    """The contract of a later operator: one more field, with a default that is not None."""

    jitter_buffer_ms: int = Field(default=200, alias="jitterBufferMs")


def next_version_pod(config: IngestConfig, spec: dict[str, Any]) -> dict[str, Any]:
    """`worker_pod` of the same Pod with the later contract (what the upgraded operator wants)."""
    newer = NextIngestConfig.model_validate(config.model_dump(by_alias=True))
    container = WorkerContainer("ingest", "STREAMOPS_INGEST_CONFIG", newer, {"http": (8080, "TCP")}, {})
    return worker_pod({"name": "p", "annotations": {}}, container, SETTINGS, None) | {"spec": spec}


def test_an_upgrade_that_adds_a_contract_field_at_its_default_needs_no_restart() -> None:
    config = IngestConfig.model_validate({"stream": "cam", "source": {"push": {}}})
    container = WorkerContainer("ingest", "STREAMOPS_INGEST_CONFIG", config, {"http": (8080, "TCP")}, {})
    running = worker_pod({"name": "p", "annotations": {}}, container, SETTINGS, None)
    newer = NextIngestConfig.model_validate(config.model_dump(by_alias=True))
    want = {
        **config_parts(newer),
        **{k: v for k, v in (parts_of(running) or {}).items() if not k.startswith("config.")},
    }
    have = parts_of(running) or {}
    assert "config.jitterBufferMs" in want and "config.jitterBufferMs" not in have
    assert first_difference(want, have) is None  # the field's default is what the running worker does anyway
    # Not at its default: the running worker would not do it, so it differs.
    newer.jitter_buffer_ms = 50
    assert first_difference({**want, **config_parts(newer)}, have) == "config.jitterBufferMs"
    # A default that changed between versions differs too (the running worker has the old value).
    assert first_difference({"config.x": "d:aaa"}, {"config.x": "d:bbb"}) == "config.x"
    # A field the desired Pod no longer has.
    assert first_difference({}, {"spec.hostNetwork": "abc"}) == "spec.hostNetwork"


def test_a_pod_from_an_operator_that_recorded_no_parts_is_compared_by_its_hash() -> None:
    stream = stored_livestream()
    desired = ingest_pod(stream, "primary", SETTINGS)
    old = json.loads(json.dumps(desired))
    del old["metadata"]["annotations"][SPEC_PARTS_ANNOTATION]
    assert pod_difference(desired, old) is None
    old["metadata"]["annotations"][SPEC_HASH_ANNOTATION] = "0" * 16
    assert pod_difference(desired, old) == UNKNOWN_PART


@pytest.mark.parametrize(
    ("part", "built_for", "busy", "immediate", "action"),
    [
        (None, "3", True, False, "keep"),
        ("spec.tolerations", "3", False, False, "replace"),  # idle: now
        ("spec.tolerations", "3", True, False, "wait"),  # a chart-wide setting while live: when idle
        ("spec.tolerations", "3", True, True, "replace"),  # ...unless the owner asks
        ("config.hls.segmentSeconds", "2", True, False, "replace"),  # the user changed the spec: now
        ("config.hls.segmentSeconds", "3", True, False, "wait"),  # same generation: the operator's doing
        ("spec.tolerations", "2", True, False, "wait"),  # a spec edit that left the worker as it is
        ("config.hls.segmentSeconds", None, True, False, "wait"),  # built by an older operator
    ],
)
def test_when_a_difference_restarts(
    part: str | None, built_for: str | None, busy: bool, immediate: bool, action: str
) -> None:
    assert pod_change(part, built_for, 3, busy, immediate) == PodChange(action, part)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("part", "built_for", "busy", "action"),
    [
        (None, "3", True, "keep"),
        ("spec.tolerations", "3", False, "replace"),  # idle: now, no successor needed
        ("spec.tolerations", "3", True, "handover"),  # a chart-wide setting while live
        ("containers[ingest].image", "3", True, "handover"),  # a new worker image while live
        ("config.hls.segmentSeconds", "2", True, "handover"),  # the user's spec edit the worker needs
        ("config.hls.segmentSeconds", "3", True, "handover"),  # the operator's doing
        ("config.hls.segmentSeconds", None, True, "handover"),  # built by an older operator
    ],
)
def test_a_busy_ingest_under_the_handover_policy_is_handed_over(
    part: str | None, built_for: str | None, busy: bool, action: str
) -> None:
    change = pod_change(part, built_for, 3, busy, immediate=False, handover=True)
    assert change == PodChange(action, part)  # type: ignore[arg-type]
    # immediate still wins: the owner asks for the cut
    assert pod_change(part, built_for, 3, busy, immediate=True, handover=True).action in ("keep", "replace")


@pytest.mark.parametrize(
    ("annotation", "default", "policy"),
    [
        (None, "handover", "handover"),
        ("immediate", "handover", "immediate"),
        ("idle", "handover", "idle"),
        ("handover", "idle", "handover"),
        ("soon", "idle", "idle"),  # not a policy: the operator's
    ],
)
def test_the_owners_annotation_overrides_the_restart_policy(annotation: str | None, default: str, policy: str) -> None:
    assert restart_policy(annotation, default) == policy  # type: ignore[arg-type]


# --- reconciles against the fake API server ------------------------------------------------------


def writes(api: FakeKubeApi) -> list[tuple[str, str, str]]:
    return [(c.verb, c.kind, c.name) for c in api.writes if c.result == "ok"]


def test_a_live_ingest_waits_for_a_setting_and_is_replaced_once_idle(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, api.object("LiveStream", NS, "cam") or {})
    pod, body = api.object("Pod", NS, "cam-ingest") or {}, api.object("LiveStream", NS, "cam") or {}
    assert pod["metadata"]["annotations"][BUILT_FOR_ANNOTATION] == str(body["metadata"]["generation"])
    api.clear_calls()

    body = api.object("LiveStream", NS, "cam") or {}
    outcome = reconcile_livestream(api, UPGRADED, body, primary_live=True)
    assert ("delete", "Pod", "cam-ingest") not in writes(api), "a live ingest is not restarted for a setting"
    assert outcome.pod_changes == {"primary": PodChange("wait", "spec.tolerations")}
    # Status says so, naming the field and how to have it now.
    pods = {"primary": PodObservation("cam-ingest")}
    [pending] = pending_conditions(IngestObservation(pods=pods, restart_pending={"primary": "spec.tolerations"}))
    assert (pending.status, pending.reason) == ("True", WAITING_FOR_IDLE)
    assert "primary ingest: spec.tolerations changed" in pending.message and RESTARTS_ANNOTATION in pending.message
    assert not pending_conditions(IngestObservation(pods=pods))  # none while nothing waits

    # The stream's status says live when the loop has not read the worker yet (an operator restart).
    api.modify("LiveStream", NS, "cam", {"status": {"live": True}})
    body = api.object("LiveStream", NS, "cam") or {}
    assert reconcile_livestream(api, UPGRADED, body).pod_changes["primary"].action == "wait"

    api.clear_calls()
    outcome = reconcile_livestream(api, UPGRADED, body, primary_live=False)
    assert outcome.pod_changes == {"primary": PodChange("replace", "spec.tolerations")}
    assert writes(api) == [("patch", "Pod", "cam-ingest"), ("delete", "Pod", "cam-ingest")]
    [patch] = [c.body for c in api.writes if (c.verb, c.kind, c.result) == ("patch", "Pod", "ok")]
    assert patch == {"metadata": {"annotations": {REPLACED_FOR_ANNOTATION: "spec.tolerations"}}}


def test_the_owner_asks_for_the_restart_now(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, api.object("LiveStream", NS, "cam") or {})
    api.modify("LiveStream", NS, "cam", {"metadata": {"annotations": {RESTARTS_ANNOTATION: "immediate"}}})
    outcome = reconcile_livestream(api, UPGRADED, api.object("LiveStream", NS, "cam") or {}, primary_live=True)
    assert outcome.pod_changes == {"primary": PodChange("replace", "spec.tolerations")}


def test_a_spec_change_reaches_a_live_ingest_at_once(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, api.object("LiveStream", NS, "cam") or {})
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 4}}})
    outcome = reconcile_livestream(api, SETTINGS, api.object("LiveStream", NS, "cam") or {}, primary_live=True)
    assert outcome.pod_changes == {"primary": PodChange("replace", "config.hls.segmentSeconds")}


def test_a_recording_recorder_and_a_pushing_pusher_wait_too(api: FakeKubeApi) -> None:
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, api.object("LiveStream", NS, "cam") or {})
    api.add_in(NS, recording("rec"))
    api.add_in(NS, restream("out", uri="rtmp://target.example/live/x"))
    reconcile_recording(api, SETTINGS, api.object("Recording", NS, "rec") or {})
    reconcile_restream(api, SETTINGS, api.object("Restream", NS, "out") or {})
    assert api.object("Pod", NS, "rec-recorder") and api.object("Pod", NS, "cam-pusher")
    api.modify("Recording", NS, "rec", {"status": {"recording": True}})
    api.modify("Restream", NS, "out", {"status": {"live": True}})
    api.clear_calls()
    rec = reconcile_recording(api, UPGRADED, api.object("Recording", NS, "rec") or {})
    out = reconcile_restream(api, UPGRADED, api.object("Restream", NS, "out") or {})
    assert (rec.pod_change, out.pod_change) == (PodChange("wait", "spec.tolerations"),) * 2
    assert not [w for w in writes(api) if w[0] == "delete"]
    # Idle: replaced.
    api.modify("Recording", NS, "rec", {"status": {"recording": False}})
    api.modify("Restream", NS, "out", {"status": {"live": False}})
    assert reconcile_recording(api, UPGRADED, api.object("Recording", NS, "rec") or {}).pod_change.action == "replace"
    assert reconcile_restream(api, UPGRADED, api.object("Restream", NS, "out") or {}).pod_change.action == "replace"


def pending_conditions(observed: IngestObservation) -> list[Condition]:
    status = livestream_status(stored_livestream(), observed, datetime(2026, 11, 27, tzinfo=UTC))
    return [c for c in status.conditions if c.type == RESTART_PENDING]


# --- a ladder from a quality set: the set's change is not the stream's (issue 41) ---------------------


@pytest.mark.parametrize(
    ("owner_part", "built_for", "busy", "action", "named"),
    [
        (None, "2", True, "wait", "config.transcoding.renditions"),  # the stream's title edited meanwhile
        ("config.hls.segmentSeconds", "2", True, "replace", "config.hls.segmentSeconds"),  # and its HLS too
        (None, "3", True, "wait", "config.transcoding.renditions"),  # the set alone
        (None, "2", False, "replace", "config.transcoding.renditions"),  # idle: now
    ],
)
def test_a_difference_from_a_referenced_set_waits_whatever_the_owners_generation(
    owner_part: str | None, built_for: str, busy: bool, action: str, named: str
) -> None:
    part = "config.transcoding.renditions"
    change = pod_change(part, built_for, 3, busy, False, owner_part, referenced=True)
    assert change == PodChange(action, named)  # type: ignore[arg-type]


def test_owner_difference_leaves_out_the_parts_of_the_same_set_only() -> None:
    def pod(parts: dict[str, str], built: dict[str, str] | None) -> dict[str, Any]:
        annotations = {SPEC_PARTS_ANNOTATION: json.dumps(parts)}
        if built is not None:
            annotations[BUILT_FROM_ANNOTATION] = json.dumps(built)
        return {"metadata": {"annotations": annotations}}

    hd = {"config.transcoding.": "QualitySet/hd"}
    running = pod({"config.transcoding.renditions": "a", "config.title": "x"}, hd)
    assert owner_difference(pod({"config.transcoding.renditions": "b", "config.title": "x"}, hd), running) is None
    other = {"config.transcoding.": "QualitySet/sports"}
    desired = pod({"config.transcoding.renditions": "b", "config.title": "x"}, other)
    assert owner_difference(desired, running) == "config.transcoding.renditions", "another set: the user's doing"
    inline = pod({"config.transcoding.renditions": "a", "config.title": "x"}, None)
    assert owner_difference(pod({"config.transcoding.renditions": "b", "config.title": "x"}, hd), inline) == (
        "config.transcoding.renditions"
    ), "a set instead of inline renditions: the user's doing"


SET_LADDER = [
    {"name": "360p", "height": 360, "videoBitrateKbps": 500, "audioBitrateKbps": 64},
    {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
]


def ladder_of(api: FakeKubeApi) -> list[tuple[str, int]]:
    pod = api.object("Pod", NS, "cam-ingest") or {}
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    return [(r["name"], r["videoBitrateKbps"]) for r in config["transcoding"]["renditions"]]


def stream_body(api: FakeKubeApi) -> dict[str, Any]:
    return api.object("LiveStream", NS, "cam") or {}


def test_a_set_edited_while_live_waits_for_the_next_session_even_across_a_title_edit(api: FakeKubeApi) -> None:
    api.add_in(NS, quality_set("hd", *SET_LADDER))
    api.add_in(NS, livestream("cam", transcoding=named_ladder("hd")))
    reconcile_livestream(api, SETTINGS, stream_body(api))
    assert ladder_of(api) == [("360p", 500), ("180p", 200)]
    pod_uid = (api.object("Pod", NS, "cam-ingest") or {})["metadata"]["uid"]

    api.modify("QualitySet", NS, "hd", {"spec": {"renditions": [{**SET_LADDER[0], "videoBitrateKbps": 700}]}})
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=True)
    assert outcome.pod_changes == {"primary": PodChange("wait", "config.transcoding.renditions")}
    assert not [w for w in writes(api) if w[1] == "Pod"], "a live ingest keeps its ladder"
    # The stream's title changes meanwhile (a new generation, nothing the ingest sees): still waits.
    api.modify("LiveStream", NS, "cam", {"spec": {"title": "Renamed"}})
    outcome = reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=True)
    assert outcome.pod_changes["primary"].action == "wait"
    assert (api.object("Pod", NS, "cam-ingest") or {})["metadata"]["uid"] == pod_uid
    # Status names the set.
    pods = {"primary": PodObservation("cam-ingest")}
    named = stored_livestream(transcoding=named_ladder("hd"))
    observed = IngestObservation(pods=pods, restart_pending={"primary": "config.transcoding.renditions"})
    status = livestream_status(named, observed, datetime(2026, 11, 27, tzinfo=UTC))
    [pending] = [c for c in status.conditions if c.type == RESTART_PENDING]
    assert "primary ingest: config.transcoding.renditions (from QualitySet hd) changed" in pending.message

    # Idle: replaced, and the new Pod has the set's new ladder.
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=False)
    assert outcome.pod_changes == {"primary": PodChange("replace", "config.transcoding.renditions")}
    assert ("delete", "Pod", "cam-ingest") in writes(api)
    reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=False)
    assert ladder_of(api) == [("360p", 700)]


def test_naming_another_set_reaches_a_live_ingest_at_once(api: FakeKubeApi) -> None:
    api.add_in(NS, quality_set("hd", *SET_LADDER))
    api.add_in(NS, quality_set("low", SET_LADDER[1]))
    api.add_in(NS, livestream("cam", transcoding=named_ladder("hd")))
    reconcile_livestream(api, SETTINGS, stream_body(api))
    api.modify("LiveStream", NS, "cam", {"spec": {"transcoding": named_ladder("low")}})
    outcome = reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=True)
    assert outcome.pod_changes == {"primary": PodChange("replace", "config.transcoding.renditions")}


def test_a_set_deleted_under_a_live_stream_leaves_its_ingest_running_and_says_why(api: FakeKubeApi) -> None:
    api.add_in(NS, quality_set("hd", *SET_LADDER))
    api.add_in(NS, livestream("cam", transcoding=named_ladder("hd")))
    reconcile_livestream(api, SETTINGS, stream_body(api))
    api.delete("QualitySet", NS, "hd")
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=False)  # even when idle
    assert not [w for w in writes(api) if w[1] == "Pod"] and outcome.pod_changes == {}
    assert ladder_of(api) == [("360p", 500), ("180p", 200)], "nothing lost"
    assert outcome.quality_set_problem is not None and outcome.quality_set_problem[0] == "QualitySetNotFound"
    # Back: the stream has its ladder again, with no restart (the same set as before).
    api.add_in(NS, quality_set("hd", *SET_LADDER))
    outcome = reconcile_livestream(api, SETTINGS, stream_body(api), primary_live=False)
    assert outcome.quality_set_problem is None and outcome.pod_changes == {}
