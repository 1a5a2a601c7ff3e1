"""The LiveStream reconciler (reconcile.py) against the fake of our own API adapter: what one pass
creates, and in which order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.shared.settings import IngestSettings, OperatorSettings, PlaybackSettings
from streamops.control.workers.handover_marks import HANDOVER_FAILED_ANNOTATION, HandoverFailure

NS = "media"
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()
NODE_PORT = OperatorSettings(ingest=IngestSettings(service_type="NodePort", external_host="203.0.113.7"))


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def test_a_new_streams_ingest_starts_with_its_allocated_node_ports_announced():
    """The Service is created before the Pod in one reconcile; the Pod's configuration carries the
    nodePorts the API server allocated (here the fake API server's), so no second Pod follows."""
    api = FakeKubeApi()
    body = api.add({**livestream("cam"), "metadata": {"name": "cam", "namespace": NS, "uid": "uid-1", "generation": 1}})
    reconcile_livestream(api, NODE_PORT, body)
    service = api.object("Service", NS, "cam-ingest")
    node_ports = {p["name"]: p.get("nodePort") for p in service["spec"]["ports"]}
    webrtc = config(api.object("Pod", NS, "cam-ingest")).webrtc
    assert webrtc is not None and webrtc.advertise_hosts == ["203.0.113.7"]
    assert (webrtc.advertise_udp_port, webrtc.advertise_tcp_port) == (
        node_ports["webrtc-udp"],
        node_ports["webrtc-tcp"],
    )


def test_no_standby_is_kept_for_a_stream_recording_to_object_storage(api):
    from streamops.control.livestream.reconcile import reconcile_livestream

    api.add_in(NS, livestream("cam", recording={"standby": True, "storage": {"s3": S3}}))
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    reconcile_livestream(api, SETTINGS, body, None, auto_recording_exists=False)
    assert api.names("Pod") == ["cam-ingest"]


def test_each_child_is_read_once_and_before_any_write(api):
    """observe.py reads the route, the auto Recording, the warm recorder, the free standby name and
    the default claim; apply.py writes without reading them again (the route was read twice)."""
    settings = OperatorSettings(playback=PlaybackSettings(ingress_enabled=True))
    api.add_in(
        NS, livestream("cam", recording={"auto": True, "standby": True}, playback={"ingress": {"host": "tv.example"}})
    )
    for _ in range(2):  # the first pass creates them, the second finds them
        api.clear_calls()
        body = api.object("LiveStream", NS, "cam")
        assert body is not None
        reconcile_livestream(api, settings, body, None, auto_recording_exists=True, standby="cam-recorder-1")
        reads = [(c.kind, c.name) for c in api.calls if c.verb == "get"]
        assert len(reads) == len(set(reads)), f"read twice: {reads}"
        first_write = next(i for i, c in enumerate(api.calls) if c.verb != "get" and c.kind != "NetworkPolicy")
        late = [(c.kind, c.name) for c in api.calls[first_write:] if c.verb == "get"]
        assert not {
            ("Ingress", "cam-playback"),
            ("Recording", "cam-auto"),
            ("PersistentVolumeClaim", "recordings"),
        } & set(late), late
    assert api.names("Ingress") == ["cam-playback"] and api.names("Recording") == ["cam-auto"]
    assert api.names("Pod") == ["cam-ingest", "cam-recorder-1"]


# --- the two slots and the serving label (docs/design/handover.md) --------------------------------

SERVING_LABEL = "streaming.streamops.dev/serving"


def stream(api: FakeKubeApi) -> dict[str, Any]:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    return body


def test_a_pod_from_before_handovers_is_labelled_before_its_services_select_by_the_label(api):
    """The upgrade path: no Service ever selects by a label its running Pod lacks (no cut)."""
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, stream(api))
    # As an operator before this one left them: no serving label, selectors without it.
    pod = api.modify("Pod", NS, "cam-ingest", {"metadata": {"labels": {SERVING_LABEL: None}}})
    for name in ("cam-ingest", "cam-ingest-internal"):
        api.modify("Service", NS, name, {"spec": {"selector": {SERVING_LABEL: None}}})
    uid = pod["metadata"]["uid"]
    api.clear_calls()
    reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    writes = [(c.verb, c.kind, c.name) for c in api.writes if c.result == "ok"]
    assert writes[:3] == [
        ("patch", "Pod", "cam-ingest"),
        ("patch", "Service", "cam-ingest"),
        ("patch", "Service", "cam-ingest-internal"),
    ]
    pod = api.object("Pod", NS, "cam-ingest") or {}
    assert pod["metadata"]["uid"] == uid and pod["metadata"]["labels"][SERVING_LABEL] == "true", "no restart"


def test_a_live_ingest_edited_gets_a_successor_in_the_free_slot_not_serving(api):
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, stream(api))
    running = api.object("Pod", NS, "cam-ingest") or {}
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 4}}})
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    assert outcome.pod_changes["primary"].action == "handover"
    assert outcome.pod_changes["primary"].part == "config.hls.segmentSeconds"
    assert [(c.verb, c.kind, c.name) for c in api.writes if c.kind == "Pod"] == [("create", "Pod", "cam-ingest-b")]
    successor = api.object("Pod", NS, "cam-ingest-b") or {}
    assert SERVING_LABEL not in successor["metadata"]["labels"]
    annotations = successor["metadata"]["annotations"]
    assert annotations["streaming.streamops.dev/successor-of"] == running["metadata"]["uid"]
    assert annotations["streaming.streamops.dev/handover-for"] == "config.hls.segmentSeconds"
    assert config(successor).hls.segment_seconds == 4 and config(running).hls.segment_seconds != 4
    # Again: under way, nothing written.
    api.clear_calls()
    reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    assert not [c for c in api.writes if c.kind == "Pod"]
    # Edited again meanwhile: that successor is stale; the status loop cancels it (unless past the
    # point of no return: handover.py), then the next reconcile makes the new one.
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 6}}})
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    assert not [c for c in api.writes if c.kind == "Pod"]
    assert outcome.handover_cancels["primary"].why == "config.hls.segmentSeconds changed again since it was made"


def test_once_handed_over_the_successor_serves_and_the_predecessor_is_left_to_the_loop(api):
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, stream(api))
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 4}}})
    reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    # The loop moved the label (handover.py): the successor serves, the predecessor released.
    api.modify("Pod", NS, "cam-ingest-b", {"metadata": {"labels": {SERVING_LABEL: "true"}}})
    api.modify(
        "Pod",
        NS,
        "cam-ingest",
        {
            "metadata": {
                "labels": {SERVING_LABEL: None},
                "annotations": {"streaming.streamops.dev/handed-over-at": "2026-11-29T18:00:00Z"},
            }
        },
    )
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    assert outcome.pod_changes == {} and not [c for c in api.writes if c.kind == "Pod"]


def test_after_a_failed_handover_the_next_successor_waits_for_its_retry(api):
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, stream(api))
    failure = HandoverFailure(datetime.now(UTC).replace(microsecond=0), 1, "not Ready")
    api.modify("Pod", NS, "cam-ingest", {"metadata": {"annotations": {HANDOVER_FAILED_ANNOTATION: failure.record()}}})
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 4}}})
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    assert outcome.pod_changes["primary"].retry_at == failure.retry_at
    assert not [c for c in api.writes if c.kind == "Pod"]


@pytest.mark.parametrize(
    ("policy", "action"), [("idle", "replace"), ("immediate", "replace"), ("handover", "handover")]
)
def test_the_streams_annotation_overrides_the_restart_policy_for_a_spec_edit(api, policy, action):
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, stream(api))
    api.modify(
        "LiveStream",
        NS,
        "cam",
        {
            "metadata": {"annotations": {"streaming.streamops.dev/restarts": policy}},
            "spec": {"hls": {"segmentSeconds": 4}},
        },
    )
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    assert outcome.pod_changes["primary"].action == action
    assert outcome.replaced == ({"primary": "cam-ingest"} if action == "replace" else {})


# --- a handover whose reason goes away mid-way (issue 56) ------------------------------------------


def handing_over(api: FakeKubeApi) -> tuple[dict[str, Any], dict[str, Any]]:
    """A live ingest edited: its successor made, not serving yet."""
    api.add_in(NS, livestream("cam"))
    reconcile_livestream(api, SETTINGS, stream(api))
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 4}}})
    reconcile_livestream(api, SETTINGS, stream(api), primary_live=True)
    return api.object("Pod", NS, "cam-ingest") or {}, api.object("Pod", NS, "cam-ingest-b") or {}


def test_a_successor_no_longer_wanted_is_left_to_the_loop_which_may_be_past_the_point_of_no_return(api):
    """The reconcile's view may be older than the loop's label patches (ci31: the successor deleted
    while the loop released its predecessor): it names the successor, the loop decides."""
    _, successor = handing_over(api)
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 2}}})  # the edit undone
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=False)
    assert not [c for c in api.writes if c.kind == "Pod"]
    cancel = outcome.handover_cancels["primary"]
    assert cancel.successor == successor["metadata"]["uid"]
    assert cancel.why == "config.hls.segmentSeconds is as cam-ingest runs it again"


def test_an_idle_predecessor_mid_handover_is_handed_over_not_replaced(api):
    """Its publisher cut (a release does that) is no reason to replace it and its successor."""
    _, successor = handing_over(api)
    api.clear_calls()
    outcome = reconcile_livestream(api, SETTINGS, stream(api), primary_live=False)
    assert outcome.pod_changes["primary"].action == "handover"
    assert not [c for c in api.writes if c.kind == "Pod"]
    assert (api.object("Pod", NS, "cam-ingest-b") or {})["metadata"]["uid"] == successor["metadata"]["uid"]


def test_a_released_predecessor_is_never_labelled_serving_again(api):
    handing_over(api)
    api.modify(
        "Pod",
        NS,
        "cam-ingest",
        {
            "metadata": {
                "labels": {SERVING_LABEL: None},
                "annotations": {"streaming.streamops.dev/handed-over-at": "2026-11-29T18:00:00Z"},
            }
        },
    )
    api.delete("Pod", NS, "cam-ingest-b")  # its successor lost
    api.modify("LiveStream", NS, "cam", {"spec": {"hls": {"segmentSeconds": 2}}})  # nothing to replace it for
    api.clear_calls()
    reconcile_livestream(api, SETTINGS, stream(api), primary_live=False)
    assert not [c for c in api.writes if c.kind == "Pod"], "left to the status loop, which deletes it"
    assert SERVING_LABEL not in ((api.object("Pod", NS, "cam-ingest") or {})["metadata"].get("labels") or {})
