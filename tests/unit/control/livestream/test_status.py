"""LiveStream status is a pure function of what is observed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from devtools.catalog import livestream, named_ladder, stored_livestream
from streamops.api.common import Condition
from streamops.contract.ingest import IngestStatus
from streamops.control.livestream.status import (
    EndpointObservation,
    IngestObservation,
    PodObservation,
    livestream_status,
    stream_viewers,
)
from streamops.control.runtime.status_patch import status_patch
from streamops.control.shared.conditions import Observed, condition_transitions, merge_conditions

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


stream = stored_livestream


def pod(phase=None, ready=False, node="n1"):
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": "cam-ingest"},
        "spec": {"nodeName": node},
        "status": {"phase": phase, "conditions": conditions} if phase else {},
    }


# The ingest Service's EndpointSlices list the Pod ready: the Service routes publishers to it.
SERVED = {"primary": EndpointObservation("cam-ingest", served=True)}


def observe(p, endpoints=SERVED):
    return IngestObservation({"primary": PodObservation.of("cam-ingest", p)}, endpoints=endpoints)


def conditions(status):
    return {c.type: (c.status, c.reason) for c in status.conditions}


def test_first_visit_without_pod_is_reconciling_not_ready():
    status = livestream_status(stream(), observe(None), T0)
    assert status.observed_generation == 3
    assert conditions(status)["Ready"] == ("False", "IngestStarting")
    assert conditions(status)["Reconciling"][0] == "True"
    assert "Stalled" not in conditions(status)
    assert all(c.observed_generation == 3 for c in status.conditions)


def test_pending_pod_says_why():
    status = livestream_status(stream(), observe(pod(None, node=None)), T0)
    ready = status.condition("Ready")
    assert ready.reason == "IngestPending" and "waiting for a node" in ready.message


def test_running_pod_is_ready_only_once_it_accepts_publishers():
    # Running but its readiness probe not passed yet: a push now would be refused by the Service.
    starting = livestream_status(stream(), observe(pod("Running")), T0)
    assert conditions(starting)["Ready"] == ("False", "IngestStarting")
    status = livestream_status(stream(), observe(pod("Running", ready=True)), T0)
    assert conditions(status)["Ready"] == ("True", "IngestRunning")
    assert "Reconciling" not in conditions(status)
    assert status.live is False and conditions(status)["Live"] == ("False", "NoMedia")


def test_ready_pod_is_not_live_only_the_worker_says_live():
    # Ready means "accepting publishers": the Service routes encoders before media flows.
    status = livestream_status(stream(), observe(pod("Running", ready=True)), T0)
    assert status.live is False and conditions(status)["Live"] == ("False", "NoMedia")
    observed = IngestObservation(
        {"primary": PodObservation.of("cam-ingest", pod("Running", ready=True))},
        telemetry={"primary": IngestStatus(live=True)},
    )
    status = livestream_status(stream(), observed, T0)
    assert status.live is True and conditions(status)["Live"][0] == "True"


def test_transition_time_moves_only_on_change():
    first = livestream_status(stream(), observe(pod("Running", ready=True)), T0)
    again = livestream_status(
        stream(status=first.wire()), observe(pod("Running", ready=True)), T0 + timedelta(minutes=5)
    )
    assert again.condition("Ready").last_transition_time == T0
    flipped = livestream_status(stream(status=first.wire()), observe(pod("Failed")), T0 + timedelta(minutes=5))
    assert flipped.condition("Ready").last_transition_time == T0 + timedelta(minutes=5)


def test_missing_referenced_secret_stalls():
    s = stream(source={"push": {"streamKeySecretRef": {"name": "gone"}}})
    status = livestream_status(s, IngestObservation({}, key_secret_missing="gone"), T0)
    assert conditions(status)["Stalled"] == ("True", "StreamKeySecretNotFound")
    assert conditions(status)["Ready"][0] == "False"


def test_inactive_stream_is_ready_and_not_live():
    status = livestream_status(stream(active=False), observe(None), T0)
    assert conditions(status)["Ready"] == ("True", "Inactive")
    assert status.live is False and status.active is False


def test_status_has_no_key_material():
    status = livestream_status(stream(), observe(pod("Running")), T0).wire()
    assert status["ingest"] == {
        "pushUrl": "rtmp://cam-ingest.media.svc:1935/live",
        "pushUrlSrt": "srt://cam-ingest.media.svc:9998",
        "streamKeySecret": "cam-stream-key",
        "exposure": "ClusterIP",
        "reachableFrom": "inside the cluster only",
    }


def test_status_patch_is_minimal_and_removes_vanished_fields():
    old = {"live": True, "frameRate": 30, "ingest": {"pushUrl": "a", "backupPushUrl": "b"}}
    new = {"live": True, "ingest": {"pushUrl": "a"}}
    assert status_patch(old, new) == {"frameRate": None, "ingest": {"backupPushUrl": None}}
    assert status_patch(new, new) is None
    assert status_patch(None, new) == new


def test_merge_drops_false_reconciling_and_events_follow_transitions():
    merged = merge_conditions([], [Observed("Ready", "True", "Ok"), Observed("Reconciling", "False", "Done")], 1, T0)
    assert [c.type for c in merged] == ["Ready"]
    before = [Condition(type="Ready", status="True", reason="Ok", last_transition_time=T0)]
    after = [Condition(type="Ready", status="False", reason="IngestFailed", message="m", last_transition_time=T0)]
    [event] = condition_transitions(before, after)
    assert (event.type, event.reason) == ("Warning", "IngestFailed")
    assert condition_transitions(after, after) == []


def test_spec_the_operator_cannot_use_is_stalled_not_retried():
    from streamops.api import LiveStreamStatus
    from streamops.control.runtime.decisions import invalid_spec_status

    raw = livestream("cam")
    raw["metadata"]["generation"] = 4
    status = invalid_spec_status(raw, "spec rejected by the operator: source: boom", T0, LiveStreamStatus)
    assert status.observed_generation == 4
    assert conditions(status) == {"Ready": ("False", "InvalidSpec"), "Stalled": ("True", "InvalidSpec")}


def test_a_missing_quality_set_stalls_the_stream_and_a_running_ingest_stays_live():
    named = stream(transcoding=named_ladder("sports"))
    why = ("QualitySetNotFound", "QualitySet sports in namespace media, named in spec.transcoding.qualitySetRef, ...")
    telemetry = {"primary": IngestStatus(live=True)}
    observed = replace(observe(pod("Running", ready=True)), quality_set_problem=why, telemetry=telemetry)
    status = livestream_status(named, observed, T0)
    assert conditions(status)["Ready"] == ("False", "QualitySetNotFound")
    assert conditions(status)["Stalled"] == ("True", "QualitySetNotFound")
    assert status.condition("Ready").message == why[1]
    assert status.live and conditions(status)["Live"][0] == "True", "what runs goes on"


def test_a_stream_naming_a_set_is_transcoded_for_browsers():
    named = stream(transcoding=named_ladder("default", cluster=True))
    telemetry = {"primary": IngestStatus(live=True, video_codec="hevc")}
    observed = IngestObservation(
        {"primary": PodObservation.of("cam-ingest", pod("Running", True))}, telemetry=telemetry
    )
    assert conditions(livestream_status(named, observed, T0))["BrowserPlayable"][1] == "Transcoded"


def test_srt_and_rtsp_readers_are_counted_in_the_viewers_and_their_total():
    counts = {"hls": 1, "srt": 2, "rtsp": 3}
    report = IngestStatus.model_validate(
        {"live": True, "viewers": {"counts": counts, "sessions": {"hls": ["a"]}, "windowSeconds": 30}}
    )
    viewers = stream_viewers(report, None)
    assert (viewers.hls, viewers.srt, viewers.rtsp, viewers.total) == (1, 2, 3, 6)
