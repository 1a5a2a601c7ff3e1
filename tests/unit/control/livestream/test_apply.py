"""A LiveStream's plan carried out (control/livestream/apply.py) against the fake of our own API
adapter: the writes of the auto Recording, the warm recorder and the playback route, and what the
server's answers become. A whole reconcile's writes and their order: test_reconcilers.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import LiveStream
from streamops.control.livestream.apply import apply_auto_recording, apply_standby, ensure_playback_route
from streamops.control.livestream.observe import observe
from streamops.control.livestream.plan import AutoRecording, Standby, plan_children
from streamops.control.livestream.specs.auto_recording import auto_recording
from streamops.control.livestream.specs.route import playback_ingress, playback_route
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.control.storage.recordings_claim import recordings_claim
from streamops.control.workers.ports import PortAllocator

NS = "media"
SETTINGS = OperatorSettings()


def stream(api: FakeKubeApi, **spec: Any) -> LiveStream:
    body = livestream("cam", **spec)
    body["metadata"]["namespace"] = NS
    return LiveStream.model_validate(api.add(body))


def writes(api: FakeKubeApi) -> list[tuple[str, str, str]]:
    return [(c.verb, c.kind, c.name) for c in api.writes]


def test_the_auto_recording_is_deleted_before_its_fresh_one_is_created():
    api = operator_view()
    cam = stream(api, recording={"auto": True})
    stopped = api.add({**auto_recording(cam), "spec": {"streamRef": {"name": "cam"}, "stopped": True}})
    api.clear_calls()
    apply_auto_recording(api, AutoRecording(delete=stopped, create=auto_recording(cam)), NS, "cam-auto")
    assert writes(api) == [("delete", "Recording", "cam-auto"), ("create", "Recording", "cam-auto")]
    api.clear_calls()
    apply_auto_recording(api, AutoRecording(stop=True), NS, "cam-auto")
    assert writes(api) == [("patch", "Recording", "cam-auto")] and api.writes[0].body == {"spec": {"stopped": True}}
    api.clear_calls()
    apply_auto_recording(api, AutoRecording(), NS, "cam-auto")
    assert api.writes == []


def test_a_new_standby_gets_the_claim_its_credential_then_its_pod_on_an_allocated_port():
    api = operator_view()
    cam = stream(api, recording={"standby": True})
    plan = plan_children(cam, SETTINGS, observe(api, cam, SETTINGS, auto_recording_exists=False), {}, False, False)
    assert plan.standby_recorder == Standby(new_name="cam-recorder-1", claim=recordings_claim(NS, SETTINGS.recordings))
    allocator = PortAllocator(range(31000, 31010))
    api.clear_calls()
    apply_standby(api, SETTINGS, plan, allocator, cam.metadata.uid)
    assert writes(api) == [
        ("create", "PersistentVolumeClaim", SETTINGS.recordings.claim),
        ("create", "Secret", "cam-worker-credential"),
        ("create", "Pod", "cam-recorder-1"),
    ]
    pod = api.object("Pod", NS, "cam-recorder-1")
    assert pod is not None and len(allocator._used) == 1
    # Created meanwhile (the index had not seen it): its port goes back.
    apply_standby(api, SETTINGS, replace(plan, standby_recorder=Standby(new_name="cam-recorder-1")), allocator, "u")
    assert len(allocator._used) == 1
    # No longer wanted: the running one goes.
    api.clear_calls()
    apply_standby(api, SETTINGS, replace(plan, standby_recorder=Standby(current=pod)), allocator, cam.metadata.uid)
    assert writes(api) == [("delete", "Pod", "cam-recorder-1")]


def test_a_route_whose_api_is_not_served_or_that_is_refused_is_said():
    api = operator_view()
    settings = OperatorSettings(playback=PlaybackSettings(ingress_enabled=True))
    cam = stream(api)
    route = playback_route(cam, settings)
    assert route is not None
    wanted = {"Ingress": playback_ingress(cam, route)}
    observed = observe(api, cam, settings, auto_recording_exists=False)
    api.fail("create", "Ingress", "cam-playback", status=404, body="404 page not found")
    assert "does not serve Ingress" in (ensure_playback_route(api, cam, wanted, observed) or "")
    api.fail("create", "Ingress", "cam-playback", status=422, body='{"message": "spec.rules: Invalid value"}')
    assert (
        ensure_playback_route(api, cam, wanted, observed) == "Ingress cam-playback refused: spec.rules: Invalid value"
    )
    assert ensure_playback_route(api, cam, {"Ingress": None}, observed) is None, "nothing there, nothing wanted"
