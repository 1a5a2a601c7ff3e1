"""plan_children() as the pure function it is: what a LiveStream's reconcile wants from the stream,
the settings and an Observed built by hand (no API at all), and the second-phase functions apply.py
calls once a write has answered. The writes themselves: tests/unit/control/test_reconcilers.py."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from devtools.catalog import named_ladder, pull, stored_livestream
from streamops.api import LiveStream
from streamops.api.livestream import QualitySetRef, Rendition
from streamops.control.livestream.admission import Admission
from streamops.control.livestream.deactivation import DEACTIVATED_ANNOTATION, Deactivation, in_force
from streamops.control.livestream.handover_abort import HandoverCancel
from streamops.control.livestream.observation import ROLES, KeyCheck, Observed, StandbyObserved
from streamops.control.livestream.plan import (
    AutoRecording,
    Plan,
    Standby,
    deactivation_patch,
    in_handover,
    in_slot,
    plan_children,
    plan_successor,
    recorded_deactivation,
    wanted_internal_service,
    wanted_pod,
    wanted_routes,
    wanted_standby,
)
from streamops.control.livestream.specs.auto_recording import auto_recording
from streamops.control.livestream.specs.route import playback_route
from streamops.control.shared.quality_sets import QualitySetLookup
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.control.storage.recorder_pod import recorder_standby_pod
from streamops.control.storage.recordings_claim import recordings_claim
from streamops.control.workers.handover_marks import (
    HANDED_OVER_AT_ANNOTATION,
    HANDOVER_FAILED_ANNOTATION,
    HANDOVER_FOR_ANNOTATION,
    SERVING_LABEL,
    SUCCESSOR_OF_ANNOTATION,
    HandoverFailure,
)
from streamops.control.workers.restarts import (
    BUILT_FOR_ANNOTATION,
    BUILT_FROM_ANNOTATION,
    SPEC_PARTS_ANNOTATION,
    PodChange,
)
from streamops.kube.naming import PLAYBACK_ROUTE_ANNOTATION, owner_reference

SETTINGS = OperatorSettings()
PULL = pull("rtmp://127.0.0.1/live/a")


def observed(stream: LiveStream, settings: OperatorSettings = SETTINGS, **changes: Any) -> Observed:
    """Nothing of the stream's exists yet; its Secrets are fine; the policy admits everything."""
    route = playback_route(stream, settings)
    empty = dict.fromkeys(ROLES)
    base = Observed(
        key=KeyCheck(),
        tls_problem=None,
        tls_refused=None,
        asked_route=route,
        admission=Admission(stream, route),
        services=empty,
        internal_services=empty,
        pods=empty,
        deactivation=in_force(stream),
    )
    return replace(base, **changes)


def plan(stream: LiveStream, settings: OperatorSettings = SETTINGS, **changes: Any) -> Plan:
    return plan_children(stream, settings, observed(stream, settings, **changes), live={}, immediate=False)


def ingests(p: Plan) -> list[str]:
    return [role for role, wants in p.roles.items() if wants.ingest]


def deactivated(stream: LiveStream, reason: str = "no data") -> LiveStream:
    record = Deactivation(stream.metadata.uid or "", stream.metadata.generation or 0, reason)
    metadata = stream.metadata.model_copy(update={"annotations": {DEACTIVATED_ANNOTATION: record.annotation()}})
    return stream.model_copy(update={"metadata": metadata})


def test_an_active_push_stream_plans_its_primary_and_a_generated_key():
    p = plan(stream := stored_livestream())
    assert ingests(p) == ["primary"] and p.roles["primary"].services and not p.roles["backup"].services
    assert p.generate_key and p.deactivation is None and p.refusals == ()
    pod = wanted_pod(p, "primary", SETTINGS, None, None, None)
    assert pod is not None and pod["metadata"]["name"] == f"{stream.metadata.name}-ingest"
    assert wanted_internal_service(p, "backup", None) is None, "a role the stream lacks has no Services"


def test_an_inactive_stream_plans_no_pod_but_keeps_its_service():
    p = plan(stored_livestream(active=False))
    assert ingests(p) == [] and p.roles["primary"].services
    assert wanted_pod(p, "primary", SETTINGS, None, None, None) is None


def test_a_backup_role_plans_two_ingests():
    p = plan(stored_livestream(source={"push": {"protocols": ["rtmp"], "backup": True}}))
    assert ingests(p) == ["primary", "backup"]
    assert all(p.roles[role].services for role in ROLES)


def test_a_deactivated_pull_stream_plans_no_ingest_and_keeps_its_record():
    stream = deactivated(stored_livestream(source=PULL))
    o = observed(stream, deactivation_record=stream.metadata.annotations[DEACTIVATED_ANNOTATION])
    p = plan_children(stream, SETTINGS, o, live={}, immediate=False)
    assert p.deactivation is not None and ingests(p) == [] and p.roles["primary"].services
    assert not p.generate_key, "a pull stream has no key"
    assert deactivation_patch(p.deactivation, o) is None, "a record that holds is not written again"


def test_a_record_that_no_longer_holds_is_removed():
    stream = stored_livestream(source=PULL)  # (the record names another generation: a spec change ended it)
    stale = Deactivation(stream.metadata.uid or "", 1, "no data").annotation()
    p = plan(stream, deactivation_record=stale)
    assert p.deactivation is None and ingests(p) == ["primary"]
    assert deactivation_patch(None, observed(stream, deactivation_record=stale)) == {
        "metadata": {"annotations": {DEACTIVATED_ANNOTATION: None}}
    }


def test_a_refused_or_missing_key_plans_no_ingest():
    stream = stored_livestream(source={"push": {"protocols": ["rtmp"], "streamKeySecretRef": {"name": "mykey"}}})
    refused = plan(stream, key=KeyCheck(refused="mykey is not labelled"))
    assert ingests(refused) == [] and refused.roles["primary"].services
    assert refused.refusals == ("mykey is not labelled",) and not refused.generate_key
    assert ingests(plan(stream, key=KeyCheck(missing="mykey"))) == []
    assert ingests(plan(stream, key=KeyCheck(invalid_for_srt="too short"))) == ["primary"], "RTMP takes any key"


def test_an_unusable_certificate_plans_no_ingest():
    assert ingests(plan(stored_livestream(), tls_problem=("TLSSecretMissing", "no Secret"))) == []
    assert ingests(plan(stored_livestream(), tls_refused="not labelled")) == []


def test_standby_is_wanted_only_on_the_default_claim_of_an_active_stream():
    assert plan(stored_livestream(recording={"standby": True})).standby
    assert not plan(stored_livestream()).standby
    assert not plan(stored_livestream(active=False, recording={"standby": True})).standby
    elsewhere = {"standby": True, "storage": {"pvc": {"claimName": "archive"}}}
    assert not plan(stored_livestream(recording=elsewhere)).standby, "a standby writes to the default claim"
    assert not plan(stored_livestream(recording={"standby": True}), key=KeyCheck(missing="k")).standby


def test_no_standby_beside_a_recordings_recorder():
    """Issue 53: a stream with one Recording runs ingest, one recorder, one pusher: the standby a
    Recording adopted is not replaced until that recorder is gone."""
    stream = stored_livestream(recording={"standby": True})
    recording = plan_children(stream, SETTINGS, observed(stream, SETTINGS), {}, False, recorder_running=True)
    assert not recording.standby
    assert plan_children(stream, SETTINGS, observed(stream, SETTINGS), {}, False, recorder_running=False).standby


def test_standby_is_not_wanted_while_deactivated():
    stream = deactivated(stored_livestream(source=PULL, recording={"standby": True}))
    assert not plan(stream).standby


def recording(stream: LiveStream, owner: str | None = None, **spec: Any) -> dict[str, Any]:
    """The auto Recording as observed: the stream's own unless `owner` says whose."""
    made = auto_recording(stream)
    if owner is not None:
        made["metadata"]["ownerReferences"] = [owner_reference("LiveStream", "other", owner)]
    made["metadata"]["uid"] = "rec-uid"
    made["spec"].update(spec)
    return made


def test_the_auto_recording_is_created_stopped_and_replaced_as_observed():
    on, off = stored_livestream(recording={"auto": True}), stored_livestream()
    fresh = auto_recording(on)
    running, stopped = recording(on), recording(on, stopped=True)
    going = recording(on, stopped=True)
    going["metadata"]["deletionTimestamp"] = "2026-11-29T00:00:00Z"
    rows = [
        (on, None, True, AutoRecording(create=fresh)),
        (on, running, True, AutoRecording()),
        (on, stopped, True, AutoRecording(delete=stopped, create=fresh)),
        (on, going, True, AutoRecording()),  # its replacement waits until it is gone
        (on, recording(on, owner="someone"), True, AutoRecording()),  # a user's own: left alone
        (off, running, True, AutoRecording(stop=True)),
        (off, stopped, True, AutoRecording()),
        (off, None, False, AutoRecording()),  # off, and the index has none: nothing read, nothing done
    ]
    for stream, current, exists, expected in rows:
        p = plan_children(stream, SETTINGS, observed(stream, auto_recording=current), {}, False, exists)
        assert p.auto_recording == expected, (stream.spec.recording.auto, current)


def test_the_standby_recorder_is_kept_removed_or_made_under_the_free_name():
    stream = stored_livestream(recording={"standby": True})
    uid = stream.metadata.uid or ""
    own = recorder_standby_pod(stream, "cam-recorder-1", SETTINGS)
    own["metadata"]["uid"] = "pod-uid"
    adopted = {**own, "metadata": {**own["metadata"], "ownerReferences": [owner_reference("Recording", "r", "r")]}}
    new = StandbyObserved(None, "cam-recorder-1", claim_exists=False)
    made = plan(stream, standby=new)
    assert made.standby_recorder == Standby(
        new_name="cam-recorder-1", claim=recordings_claim("media", SETTINGS.recordings)
    )
    assert wanted_standby(made, SETTINGS, {"http": 31000}) == recorder_standby_pod(
        stream, "cam-recorder-1", SETTINGS, {"http": 31000}
    )
    kept = plan(stream, standby=StandbyObserved(own)).standby_recorder
    assert kept == Standby(current=own, desired=recorder_standby_pod(stream, "cam-recorder-1", SETTINGS))
    assert (
        plan(stream, standby=StandbyObserved(adopted, "cam-recorder-2")).standby_recorder.new_name == "cam-recorder-2"
    )
    inactive = stored_livestream(active=False, recording={"standby": True}, uid=uid)
    assert plan(inactive, standby=StandbyObserved(own)).standby_recorder == Standby(current=own)
    assert wanted_standby(plan(stream, standby=StandbyObserved(own)), SETTINGS, None) is None


def test_live_and_immediate_reach_the_roles_as_given():
    stream = stored_livestream(source={"push": {"protocols": ["rtmp"], "backup": True}})
    p = plan_children(stream, SETTINGS, observed(stream), live={"primary": True}, immediate=True)
    assert p.roles["primary"].live and not p.roles["backup"].live and p.immediate


def test_a_route_the_policy_refused_is_none_and_said():
    settings = OperatorSettings(playback=PlaybackSettings(ingress_enabled=True))
    stream = stored_livestream()
    o = observed(stream, settings)
    assert o.asked_route is not None
    p = plan_children(stream, settings, replace(o, admission=Admission(stream, None, ("no",))), {}, False)
    assert p.route is None and p.route_refused and p.refusals == ("no",)
    assert not plan(stream, settings).route_refused


def test_the_route_the_stream_had_is_read_off_its_own_primary_service_only():
    stream = stored_livestream()
    assert stream.metadata.uid
    service = {
        "metadata": {
            "name": "cam-ingest",
            "annotations": {PLAYBACK_ROUTE_ANNOTATION: "Ingress"},
            "ownerReferences": [owner_reference("LiveStream", "cam", stream.metadata.uid)],
        }
    }
    p = plan(stream, services={"primary": service, "backup": None})
    assert p.had_route == "Ingress" and p.route is None
    assert wanted_routes(p, 8080) == {"Ingress": None}, "the route it had is deleted"
    foreign = {"metadata": {**service["metadata"], "ownerReferences": []}}
    assert plan(stream, services={"primary": foreign, "backup": None}).had_route is None, "a user's Service"


def test_plan_children_reads_nothing_but_its_arguments():
    """Pure: the same inputs give the same plan, twice, with no API anywhere in reach."""
    stream = stored_livestream(source={"push": {"protocols": ["rtmp", "srt"], "backup": True}})
    assert plan(stream) == plan(stream)


# --- a ladder named by a quality set (control/shared/quality_sets.py) ------------------------------

HD = (
    Rendition(name="360p", height=360, video_bitrate_kbps=500, audio_bitrate_kbps=64),
    Rendition(name="180p", height=180, video_bitrate_kbps=200, audio_bitrate_kbps=64),
)


def with_set(stream: LiveStream, renditions: tuple[Rendition, ...] | None = HD, **changes: Any) -> Plan:
    """The plan when the set the stream names was read as `renditions` (None: no such set)."""
    ref = stream.spec.transcoding.quality_set_ref if stream.spec.transcoding else None
    assert ref is not None
    return plan(stream, quality_set=QualitySetLookup(ref, renditions), **changes)


def ingest_config(pod: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    return config


def test_the_ingest_of_a_stream_naming_a_set_is_built_with_the_sets_ladder_inline() -> None:
    named = stored_livestream(transcoding=named_ladder("hd"))
    p = with_set(named)
    pod = wanted_pod(p, "primary", SETTINGS, None, None, None)
    assert pod is not None and ingests(p) == ["primary"]
    inline = stored_livestream(transcoding={"renditions": [r.wire() for r in HD]})
    same = wanted_pod(plan(inline), "primary", SETTINGS, None, None, None)
    assert same is not None
    # The worker gets what an inline ladder gives it: it knows nothing of sets.
    assert ingest_config(pod) == ingest_config(same)
    assert [r["name"] for r in ingest_config(pod)["transcoding"]["renditions"]] == ["360p", "180p"]
    assert pod["spec"]["containers"][0]["resources"] == same["spec"]["containers"][0]["resources"], "sized to transcode"
    # ...and the Pod records which set its ladder came from (a change of the set waits for an idle ingest).
    assert json.loads(pod["metadata"]["annotations"][BUILT_FROM_ANNOTATION]) == {"config.transcoding.": "QualitySet/hd"}
    assert BUILT_FROM_ANNOTATION not in same["metadata"]["annotations"]


def test_a_missing_set_holds_a_running_ingest_as_it_is_and_starts_none() -> None:
    named = stored_livestream(transcoding=named_ladder("gone", cluster=True), source={"push": {"backup": True}})
    p = with_set(named, None)
    assert ingests(p) == [] and all(p.roles[role].hold for role in ROLES), "kept as it runs, none made or deleted"
    assert all(p.roles[role].services for role in ROLES), "its Services stay"
    assert p.quality_set is not None and p.quality_set.missing
    # Switched off, nothing is held: the ingest goes as any switched-off stream's does.
    off = with_set(stored_livestream(active=False, transcoding=named_ladder("gone")), None)
    assert not any(off.roles[role].hold or off.roles[role].ingest for role in ROLES)


def test_a_pull_ingest_held_for_a_missing_set_still_records_its_deactivation() -> None:
    stream = stored_livestream(source=PULL, transcoding=named_ladder("gone"))
    running = {"metadata": {"name": "cam-ingest", "uid": "pod-1"}}
    gone = QualitySetLookup(QualitySetRef(name="gone"), None)
    o = observed(stream, pods={"primary": running, "backup": None}, report=("no data", "pod-1"), quality_set=gone)
    p = plan_children(stream, SETTINGS, o, live={}, immediate=False)
    assert p.roles["primary"].hold
    found = recorded_deactivation(p, SETTINGS, o, None)
    assert found is not None and found.reason == "no data", "the Pod that reported it is the one kept"


# --- the role's second slot: plan_successor --------------------------------------------------------

SLOTS = ("cam-ingest", "cam-ingest-b")
NOW = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
HANDOVER = PodChange("handover", "containers[ingest].image")


def slot_pod(name: str, uid: str, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": uid, "labels": {}, "annotations": dict(annotations)}, "spec": {}}


DESIRED = slot_pod("cam-ingest", "")
RUNNING = slot_pod("cam-ingest", "a")
SUCCESSOR = slot_pod("cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "a"})
PREDECESSOR = slot_pod("cam-ingest-b", "b", **{HANDED_OVER_AT_ANNOTATION: "2026-11-29T17:59:50Z"})


@pytest.mark.parametrize(
    ("change", "current", "other", "creates", "deletes"),
    [
        (PodChange("keep"), RUNNING, None, None, None),
        # no handover wanted: the successor is the status loop's to cancel (below), not deleted here
        (PodChange("keep"), RUNNING, SUCCESSOR, None, None),
        (PodChange("keep"), RUNNING, PREDECESSOR, None, None),  # the loop deletes a released predecessor
        (HANDOVER, RUNNING, None, "cam-ingest-b", None),
        (HANDOVER, slot_pod("cam-ingest-b", "a"), None, "cam-ingest", None),  # the slots take turns
        (HANDOVER, RUNNING, SUCCESSOR, None, None),  # under way
        (HANDOVER, RUNNING, slot_pod("cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "z"}), None, "cam-ingest-b"),
        (HANDOVER, RUNNING, PREDECESSOR, None, None),  # the last one still releasing: the next waits
    ],
)
def test_the_second_slot(
    change: PodChange, current: dict[str, Any], other: dict[str, Any] | None, creates: str | None, deletes: str | None
) -> None:
    successor = plan_successor(DESIRED, current, other, change, SLOTS, 4, NOW)
    assert (successor.create or {}).get("metadata", {}).get("name") == creates
    assert (successor.delete or {}).get("metadata", {}).get("name") == deletes
    if successor.create is not None:
        meta = successor.create["metadata"]
        assert SERVING_LABEL not in meta["labels"], "not serving until it has caught up"
        assert meta["annotations"][SUCCESSOR_OF_ANNOTATION] == current["metadata"]["uid"]
        assert meta["annotations"][BUILT_FOR_ANNOTATION] == "4"


def test_a_failed_handover_holds_the_next_until_its_retry() -> None:
    failure = HandoverFailure(NOW - timedelta(seconds=10), 1, "not Ready")
    running = slot_pod("cam-ingest", "a", **{HANDOVER_FAILED_ANNOTATION: failure.record()})
    held = plan_successor(DESIRED, running, None, HANDOVER, SLOTS, 4, NOW)
    assert held.create is None and held.change.retry_at == NOW + timedelta(seconds=20)
    later = plan_successor(DESIRED, running, None, HANDOVER, SLOTS, 4, NOW + timedelta(seconds=20))
    assert later.create is not None


def test_in_slot_names_and_labels_a_copy() -> None:
    serving = in_slot(DESIRED, "cam-ingest-b", serving=True)
    assert serving["metadata"]["name"] == "cam-ingest-b" and serving["metadata"]["labels"][SERVING_LABEL] == "true"
    assert DESIRED["metadata"] == {"name": "cam-ingest", "uid": "", "labels": {}, "annotations": {}}
    assert SERVING_LABEL not in in_slot(serving, "cam-ingest", serving=False)["metadata"]["labels"]


# --- a handover whose reason goes away (issue 56: the node uncordoned mid-way) ----------------------

ON_NODE_2 = {**RUNNING, "spec": {"nodeName": "node-2"}}
FOR_NODE = slot_pod("cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "a", HANDOVER_FOR_ANNOTATION: "node"})
FOR_IMAGE = slot_pod(
    "cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "a", HANDOVER_FOR_ANNOTATION: "containers[ingest].image"}
)


@pytest.mark.parametrize(
    ("change", "other", "why"),
    [
        (PodChange("keep"), FOR_NODE, "node node-2 is no longer cordoned"),
        (PodChange("keep"), FOR_IMAGE, "containers[ingest].image is as cam-ingest runs it again"),
        (PodChange("wait", "config.dvr"), FOR_IMAGE, "the restart policy no longer hands cam-ingest over"),
    ],
)
def test_a_successor_no_longer_wanted_is_not_deleted_here_but_named_to_the_status_loop(
    change: PodChange, other: dict[str, Any], why: str
) -> None:
    """Whether it may still go (before the point of no return) is the status loop's to decide: this
    view may be older than the loop's label patches."""
    successor = plan_successor(DESIRED, ON_NODE_2, other, change, SLOTS, 4, NOW)
    assert successor.delete is None and successor.create is None
    assert successor.cancel == HandoverCancel("b", why)


def test_a_stale_successor_is_named_to_the_status_loop_too() -> None:
    stale = {
        **FOR_IMAGE,
        "metadata": {**FOR_IMAGE["metadata"], "annotations": {**FOR_IMAGE["metadata"]["annotations"]}},
    }
    stale["metadata"]["annotations"][SPEC_PARTS_ANNOTATION] = json.dumps({"config.dvr": "old"})
    desired = {
        **DESIRED,
        "metadata": {**DESIRED["metadata"], "annotations": {SPEC_PARTS_ANNOTATION: '{"config.dvr": "new"}'}},
    }
    successor = plan_successor(desired, RUNNING, stale, HANDOVER, SLOTS, 4, NOW)
    assert successor.delete is None and successor.cancel == HandoverCancel(
        "b", "config.dvr changed again since it was made"
    )


def test_the_predecessor_of_the_serving_pod_is_the_status_loops_even_before_its_release() -> None:
    # The successor serves; its predecessor only moved to its releasing budget so far (no
    # handed-over-at yet): the status loop releases then deletes it.
    serving = slot_pod("cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "a"})
    holding = slot_pod("cam-ingest", "a")
    for change in (PodChange("keep"), HANDOVER):
        decided = plan_successor(DESIRED, serving, holding, change, SLOTS, 4, NOW)
        assert (decided.delete, decided.create, decided.cancel) == (None, None, None)


def test_a_released_predecessor_whose_successor_is_gone_is_never_handed_over_again() -> None:
    """hoflake run 10: the successor deleted while its predecessor releases; the reconcile then sees
    the predecessor alone (the serving Pod by elimination), still differing from the spec. It takes
    no media: a new successor would follow nothing, and (in a handover again) it would never be cut.
    No successor: the status loop cuts it (handover_abort) and a fresh ingest follows."""
    released = slot_pod("cam-ingest-b", "b", **{HANDED_OVER_AT_ANNOTATION: "2026-11-29T17:59:50Z"})
    for change in (HANDOVER, PodChange("keep")):
        decided = plan_successor(DESIRED, released, None, change, SLOTS, 4, NOW)
        assert (decided.create, decided.delete, decided.cancel) == (None, None, None)


@pytest.mark.parametrize("desired", [DESIRED, None])
def test_a_successor_goes_with_its_predecessor_when_the_reconcile_removes_both(desired: dict[str, Any] | None) -> None:
    # the stream stopped (no desired Pod), or a restart asked now (replace): nothing is left released
    change = PodChange("replace", "config.dvr") if desired is not None else PodChange("keep")
    assert plan_successor(desired, RUNNING, SUCCESSOR, change, SLOTS, 4, NOW).delete == SUCCESSOR


@pytest.mark.parametrize(
    ("current", "other", "paired"),
    [
        (RUNNING, SUCCESSOR, True),
        (slot_pod("cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "a"}), slot_pod("cam-ingest", "a"), True),
        (RUNNING, None, False),
        (RUNNING, slot_pod("cam-ingest-b", "b", **{SUCCESSOR_OF_ANNOTATION: "z"}), False),
        (
            RUNNING,
            {**SUCCESSOR, "metadata": {**SUCCESSOR["metadata"], "deletionTimestamp": "2026-11-29T18:00:00Z"}},
            False,
        ),
    ],
)
def test_in_handover(current: dict[str, Any], other: dict[str, Any] | None, paired: bool) -> None:
    assert in_handover(current, other) is paired
