"""Issue 29's small fields: clientUserId / clientEntityData (models, sidecars, webhook data, Event
annotations), status.transcodedQualities, status.sessions (the ingest's history and the operator's
merge) and RTMPS on 443 behind a LoadBalancer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

import kopf
import pytest
from devtools.catalog import livestream, recording, restream, stored_livestream
from devtools.fake_kube import FakeKubeApi
from pydantic import ValidationError
from streamops.api import LiveStream, Recording, Restream
from streamops.api.common import (
    CLIENT_ENTITY_DATA_ANNOTATION,
    CLIENT_USER_ID_ANNOTATION,
    ClientFields,
    client_annotations,
    client_fields,
    spec_client,
    spec_client_annotations,
)
from streamops.api.crd import crd_manifest
from streamops.api.kinds import LIVESTREAM, RESTREAM
from streamops.api.livestream import SESSIONS_KEPT, IngestService, PublishSession
from streamops.contract.ingest import RTMPS_PORT, IngestStatus
from streamops.contract.recorder import RecorderConfig
from streamops.control.livestream.exposure import ServiceObservation, ingest_reach
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.livestream.specs.urls import ingest_endpoints, reach_inputs
from streamops.control.livestream.status import (
    IngestObservation,
    PodObservation,
    livestream_status,
    merged_sessions,
)
from streamops.control.recording.specs.worker_config import recorder_config
from streamops.control.restream import backoff_event as B
from streamops.control.runtime.annotated_events import annotated_event, cut_message, post_event
from streamops.control.runtime.indexes import stream_entry
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.media.ffmpeg import SourceFacts
from streamops.media.ingest.session_history import SessionHistory, publish_protocol
from streamops.media.videos.sidecar import sidecar

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()
CLIENT = {"clientUserId": 4200000000123, "clientEntityData": '{"plan":"pro","note":"ünïcode"}'}


stream = partial(stored_livestream, uid="uid-1", generation=1)


# --- clientUserId / clientEntityData -----------------------------------------------------------------


def test_both_kinds_take_the_client_fields_within_their_bounds():
    s = stream(**CLIENT)
    assert (s.spec.client_user_id, s.spec.client_entity_data) == (CLIENT["clientUserId"], CLIENT["clientEntityData"])
    r = Restream.model_validate(restream(**CLIENT))
    assert r.spec.client() == ClientFields(client_user_id=4200000000123, client_entity_data=CLIENT["clientEntityData"])
    assert stream().spec.client() is None  # neither set: nothing to carry
    stream(clientEntityData="x" * 4096)
    for bad in ({"clientUserId": -1}, {"clientEntityData": "x" * 4097}, {"clientUserId": 2**63}):
        with pytest.raises(ValidationError):
            stream(**bad)


@pytest.mark.parametrize("kind", [LIVESTREAM, RESTREAM])
def test_the_crds_bound_them_for_the_api_server(kind):
    spec = crd_manifest(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["clientUserId"]["type"] == "integer" and spec["clientUserId"]["minimum"] == 0
    assert spec["clientUserId"]["format"] == "int64" and "maximum" not in spec["clientUserId"]  # (see the model)
    assert spec["clientEntityData"] == {**spec["clientEntityData"], "type": "string", "maxLength": 4096}


def test_the_one_shape_of_sidecars_webhook_data_and_annotations():
    client = stream(**CLIENT).spec.client()
    assert client_fields(client) == CLIENT
    assert client_fields(ClientFields(client_user_id=0)) == {"clientUserId": 0}  # 0 is a value, not unset
    assert client_fields(None) == {}
    assert client_annotations(client) == {
        CLIENT_USER_ID_ANNOTATION: "4200000000123",
        CLIENT_ENTITY_DATA_ANNOTATION: CLIENT["clientEntityData"],
    }
    assert spec_client_annotations(livestream("cam", **CLIENT)["spec"]) == client_annotations(client)
    assert spec_client_annotations({"title": "t"}) == {} == spec_client_annotations(None)
    assert client_fields(spec_client({"title": "t", **CLIENT})) == CLIENT  # the webhook events' data
    assert spec_client({"title": "t"}) is None and spec_client({"clientUserId": "not a number"}) is None
    assert spec_client_annotations({"clientUserId": "not a number"}) == {}


def test_the_recorder_gets_its_streams_client_fields_for_both_sidecars():
    s3 = {"s3": {"endpoint": "https://s3.example.test", "bucket": "recordings", "credentialsSecret": "creds"}}
    rec_body = recording("rec", storage=s3)
    rec_body["metadata"].update(namespace="media", uid="uid-r")
    rec = Recording.model_validate(rec_body)
    config = recorder_config(rec, stream(**CLIENT), SETTINGS, None, 8080)
    assert config.client is not None and config.upload is not None
    assert client_fields(config.client) == client_fields(config.upload.client) == CLIENT
    plain = recorder_config(rec, stream(), SETTINGS, None, 8080)
    assert plain.client is None and plain.upload is not None and plain.upload.client is None
    assert RecorderConfig.model_validate_json(config.model_dump_json(by_alias=True)) == config


def test_the_bucket_sidecar_carries_them_only_when_set():
    common = dict(
        title="t",
        stream="cam",
        recording="rec",
        url="s3://b/k.mp4",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=5),
        duration_seconds=5.0,
        size_bytes=10,
        codecs={},
    )
    assert sidecar(**common, client=stream(**CLIENT).spec.client()) == {**sidecar(**common), **CLIENT}
    assert "clientUserId" not in sidecar(**common)


def test_an_annotated_event_is_shaped_as_kopfs_own():
    body = {"apiVersion": "streaming.streamops.dev/v1alpha1", "kind": "LiveStream"}
    body["metadata"] = {"name": "cam", "namespace": "media", "uid": "uid-1"}
    annotations = spec_client_annotations(CLIENT)
    event = annotated_event(body, "Normal", "WentLive", "media arrives", annotations, T0)
    assert event["metadata"] == {"namespace": "media", "generateName": "kopf-event-", "annotations": annotations}
    assert event["involvedObject"] == {"apiVersion": body["apiVersion"], "kind": "LiveStream", **body["metadata"]}
    assert (event["type"], event["reason"], event["source"]) == ("Normal", "WentLive", {"component": "kopf"})
    assert len(cut_message("x" * 5000)) == 1024 and cut_message("short") == "short"


def test_events_with_annotations_are_created_by_the_operator_and_refusals_only_logged():
    api = FakeKubeApi()
    state = OperatorState(api=api, settings=SETTINGS)
    body = kopf.Body(
        {"apiVersion": "v", "kind": "Restream", "metadata": {"name": "out", "namespace": "media", "uid": "u"}}
    )
    annotations = spec_client_annotations(CLIENT)
    asyncio.run(post_event(state, body, "Warning", "Backoff", "the target failed", annotations, T0))
    (event,) = [o for (kind, _, _), o in api.store.items() if kind == "Event"]
    assert event["metadata"]["annotations"] == annotations and event["metadata"]["name"].startswith("kopf-event-")
    assert (event["involvedObject"]["name"], event["reason"]) == ("out", "Backoff")
    api.fail("create", "Event", status=500)
    asyncio.run(post_event(state, body, "Normal", "Again", "x", annotations, T0))  # logged, not raised
    assert [kind for kind, _, _ in api.store].count("Event") == 1
    # A namespace being deleted refuses new Events (403 NamespaceTerminating): dropped, not raised
    # into the object's status loop (a CI run caught the traceback it made).
    api.terminate_namespace("media")
    asyncio.run(post_event(state, body, "Normal", "Gone", "x", annotations, T0))
    assert [kind for kind, _, _ in api.store].count("Event") == 1


def test_the_restream_backoff_event_and_a_recordings_stream_facts_carry_them():
    ref = B.RestreamRef("media", "out", "uid-2")
    streak = B.FailureStreak(T0, 3, "refused")
    annotations = spec_client_annotations(CLIENT)
    assert B.backoff_event(ref, streak, T0, annotations)["metadata"]["annotations"] == annotations
    assert "annotations" not in B.backoff_event(ref, streak, T0)["metadata"]
    body = livestream("cam", **CLIENT)
    body["metadata"].update(namespace="media", uid="uid-1")
    (facts,) = stream_entry(body).values()
    assert dict(facts.client_annotations) == annotations


# --- status.transcodedQualities and status.sessions ----------------------------------------------------


def running():
    p = {"metadata": {"name": "cam-ingest"}, "spec": {"nodeName": "n1"}}
    p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    return PodObservation.of("cam-ingest", p)


def session(minute: int, ingest="primary", ended=True, **fields) -> PublishSession:
    start = T0 + timedelta(minutes=minute)
    end = start + timedelta(seconds=30) if ended else None
    return PublishSession(started_at=start, ended_at=end, ingest=ingest, protocol="rtmp", **fields)


def test_transcoded_qualities_are_what_the_running_ingest_reports():
    telemetry = IngestStatus(live=True, transcoded_qualities=["1080p", "720p", "360p"])
    observed = IngestObservation({"primary": running()}, telemetry={"primary": telemetry})
    assert livestream_status(stream(), observed, T0).transcoded_qualities == ["1080p", "720p", "360p"]
    passthrough = IngestObservation({"primary": running()}, telemetry={"primary": IngestStatus(live=True)})
    assert "transcodedQualities" not in livestream_status(stream(), passthrough, T0).wire()
    assert livestream_status(stream(), IngestObservation({"primary": running()}), T0).transcoded_qualities is None


def test_sessions_survive_an_ingest_restart_and_the_open_one_is_updated_in_place():
    earlier = [session(0), session(1, average_bitrate=1000)]
    open_now = session(2, ended=False, average_bitrate=2000)
    merged = merged_sessions(
        earlier, {"primary": IngestStatus(sessions=[open_now])}, T0
    )  # the restarted ingest knows one
    assert merged == [*earlier, open_now]
    closed = open_now.model_copy(update={"ended_at": T0 + timedelta(minutes=3), "average_bitrate": 2100})
    again = merged_sessions(merged, {"primary": IngestStatus(sessions=[closed])}, T0)
    assert again == [*earlier, closed]  # same ingest and start: one session
    backup = session(2, ingest="backup", ended=False)  # same start on the other ingest: another session
    both = merged_sessions(
        again, {"primary": IngestStatus(sessions=[closed]), "backup": IngestStatus(sessions=[backup])}, T0
    )
    assert [(s.ingest, s.started_at) for s in both][-2:] == [
        ("backup", backup.started_at),
        ("primary", T0 + timedelta(minutes=2)),
    ]


def test_an_open_session_its_ingest_no_longer_reports_ends_when_that_is_seen():
    """The ingest Pod went away mid-session: its new process reports a new session (or none), or
    the stream is switched off; the old one ends then. Unreported while no ingest answers: still on."""
    lost = session(0, ended=False)
    seen = T0 + timedelta(minutes=5)
    assert merged_sessions([lost], {}, seen) == [lost]  # nothing answers: it may be on
    backup_only = merged_sessions([lost], {"backup": IngestStatus()}, seen)
    assert backup_only == [lost]  # the backup's report says nothing of the primary's session
    fresh = session(4, ended=False)
    merged = merged_sessions([lost], {"primary": IngestStatus(sessions=[fresh])}, seen)
    assert merged == [lost.model_copy(update={"ended_at": seen}), fresh]
    assert merged_sessions(merged, {"primary": IngestStatus(sessions=[fresh])}, seen + timedelta(minutes=1)) == merged
    assert merged_sessions([lost], {}, seen, active=False) == [lost.model_copy(update={"ended_at": seen})]
    observed = IngestObservation({"primary": running()}, telemetry={"primary": IngestStatus(sessions=[fresh])})
    status = livestream_status(stream(status={"sessions": [lost.wire()]}), observed, seen)
    assert [(s.started_at, s.ended_at) for s in status.sessions or []] == [
        (lost.started_at, seen),
        (fresh.started_at, None),
    ]


def test_sessions_keep_the_newest_twenty_oldest_first():
    many = [session(m) for m in range(SESSIONS_KEPT + 5)]
    merged = merged_sessions(many[:10], {"primary": IngestStatus(sessions=many[10:])}, T0)
    assert merged == many[-SESSIONS_KEPT:]
    status = livestream_status(
        stream(status={"sessions": [s.model_dump(by_alias=True, mode="json") for s in many[:3]]}),
        IngestObservation({"primary": running()}, telemetry={"primary": IngestStatus(sessions=many[3:5])}),
        T0,
    )
    assert status.sessions == many[:5]
    with pytest.raises(ValidationError):  # the API model bounds it too
        IngestStatus(sessions=many)


def test_the_ingest_history_measures_average_and_peak_per_second():
    history = SessionHistory("primary")
    facts = SourceFacts(video_codec="h264", audio_codec="aac", width=640, height=360)
    history.start(100.0, T0, publish_protocol("rtmp", tls=True), facts)
    # 2 s at 1 Mbit/s, then 2 s at 3 Mbit/s, in 20 ms chunks (as the feed arrives).
    t = 100.0
    for rate, seconds in ((1_000_000, 2), (3_000_000, 2)):
        for _ in range(seconds * 50):
            t += 0.02
            history.media(t, rate // 8 // 50)
    history.frames(120)
    (now,) = history.report(t)
    assert (now.protocol, now.video_codec, now.width, now.ended_at) == ("rtmps", "h264", 640, None)
    assert now.average_bitrate == pytest.approx(2_000_000, rel=0.02)
    assert now.peak_bitrate == pytest.approx(3_000_000, rel=0.03)
    assert now.frame_rate == pytest.approx(30, rel=0.02)
    history.end(t, T0 + timedelta(seconds=3))
    history.start(t + 5, T0 + timedelta(seconds=8), publish_protocol("pull-1"), SourceFacts())
    first, second = history.report(t + 6)
    assert first.ended_at == T0 + timedelta(seconds=3) and second.ended_at is None and second.protocol == "pull"
    for i in range(SESSIONS_KEPT + 3):
        history.start(t + 10 + i, T0 + timedelta(minutes=i + 1), "srt", SourceFacts())
    reported = history.report(t + 100)
    assert len(reported) == SESSIONS_KEPT and [s.ended_at is None for s in reported].count(True) == 1


# --- RTMPS on 443 ------------------------------------------------------------------------------------


def rtmps_stream(service: dict | None = None) -> LiveStream:
    push = {"protocols": ["rtmp", "rtmps"], "tls": {"secretName": "cert"}}
    return stream(source={"push": push}, ingest={"service": service or {}})


def rtmps_port(s: LiveStream) -> tuple[int, str]:
    (entry,) = [p for p in ingest_service(s, "primary", SETTINGS)["spec"]["ports"] if p["name"] == "rtmps"]
    return entry["port"], entry["targetPort"]


def test_a_load_balancer_publishes_rtmps_on_443_and_the_url_says_so():
    s = rtmps_stream({"type": "LoadBalancer"})
    assert rtmps_port(s) == (443, "rtmps")  # the worker keeps listening on its unprivileged port
    observed = ServiceObservation.of(
        ingest_service(s, "primary", SETTINGS) | {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    )
    reach = ingest_reach(observed, reach_inputs(s, "primary", SETTINGS, None))
    endpoints = ingest_endpoints(s, {"primary": reach}, None)
    assert endpoints is not None and endpoints.push_url_rtmps == "rtmps://203.0.113.7:443/live"


def test_other_exposures_keep_their_rtmps_port_unless_asked():
    assert rtmps_port(rtmps_stream()) == (RTMPS_PORT, "rtmps")  # ClusterIP: as before
    assert rtmps_port(rtmps_stream({"type": "LoadBalancer", "rtmpsPort": 8443}))[0] == 8443
    assert rtmps_port(rtmps_stream({"rtmpsPort": 443}))[0] == 443
    node_port = rtmps_stream({"type": "NodePort"})
    assert rtmps_port(node_port)[0] == RTMPS_PORT
    with pytest.raises(ValidationError, match="rtmpsPort needs type LoadBalancer or ClusterIP"):
        IngestService(type="NodePort", rtmps_port=443)
