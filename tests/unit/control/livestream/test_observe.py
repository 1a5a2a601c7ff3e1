"""What a LiveStream's reconcile reads (control/livestream/observe.py), against the fake of our own
API adapter: each child once, a server read only where the stream may have that child. What is
decided from it: test_plan.py; the reconcile's writes: test_reconcile.py, test_reconcilers.py."""

from __future__ import annotations

from typing import Any

from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api import LiveStream
from streamops.control.livestream.observation import StandbyObserved
from streamops.control.livestream.observe import observe
from streamops.control.livestream.specs.auto_recording import auto_recording
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.control.storage.recorder_pod import recorder_standby_pod
from streamops.kube.naming import owner_reference

NS = "media"
SETTINGS = OperatorSettings()
INGRESS = OperatorSettings(playback=PlaybackSettings(ingress_enabled=True))


def stream(api: FakeKubeApi, **spec: Any) -> LiveStream:
    body = livestream("cam", **spec)
    body["metadata"]["namespace"] = NS
    return LiveStream.model_validate(api.add(body))


def server_reads(api: FakeKubeApi) -> list[tuple[str, str]]:
    return [(c.kind, c.name) for c in api.calls if c.verb == "get" and c.source == "server"]


def test_a_stream_without_a_route_auto_recording_or_standby_reads_no_server():
    api = operator_view()
    observed = observe(api, stream(api), SETTINGS, auto_recording_exists=False)
    assert server_reads(api) == [] and observed.routes == {} and observed.auto_recording is None
    assert observed.standby == StandbyObserved()


def test_the_route_asked_for_and_the_auto_recording_are_read_once():
    api = operator_view()
    cam = stream(api, playback={"ingress": {"host": "tv.example"}}, recording={"auto": True})
    api.add(auto_recording(cam))
    observed = observe(api, cam, INGRESS, auto_recording_exists=True)
    assert server_reads(api) == [("Ingress", "cam-playback"), ("Recording", "cam-auto")]
    assert observed.routes == {"Ingress": None}
    assert observed.auto_recording is not None and observed.auto_recording["metadata"]["name"] == "cam-auto"
    api.clear_calls()
    off = stream(api)
    assert observe(api, off, SETTINGS, auto_recording_exists=True).auto_recording is not None, "one may be left to stop"


def test_a_standby_asked_for_finds_the_free_name_and_the_claim_only_while_it_has_none():
    api = operator_view()
    cam = stream(api, recording={"standby": True})
    observed = observe(api, cam, SETTINGS, auto_recording_exists=False)
    assert observed.standby == StandbyObserved(None, "cam-recorder-1", claim_exists=False)
    assert server_reads(api) == [("PersistentVolumeClaim", SETTINGS.recordings.claim)]
    # Its own standby runs: nothing more is read.
    own = recorder_standby_pod(cam, "cam-recorder-1", SETTINGS)
    api.add(own)
    api.clear_calls()
    observed = observe(api, cam, SETTINGS, auto_recording_exists=False, standby="cam-recorder-1")
    assert observed.standby.pod is not None and observed.standby.free_name is None and server_reads(api) == []
    # A Recording adopted it: the next name is free.
    api.modify("Pod", NS, "cam-recorder-1", {"metadata": {"ownerReferences": [owner_reference("Recording", "r", "r")]}})
    observed = observe(api, cam, SETTINGS, auto_recording_exists=False, standby="cam-recorder-1")
    assert observed.standby.free_name == "cam-recorder-2"
    # A Recording runs its own recorder: no standby is asked for beside it.
    recording = observe(api, cam, SETTINGS, auto_recording_exists=False, recorder_running=True)
    assert recording.standby.free_name is None
