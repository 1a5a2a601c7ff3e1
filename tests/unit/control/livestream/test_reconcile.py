"""The LiveStream reconciler (reconcile.py) against the fake of our own API adapter: what one pass
creates, and in which order."""

from __future__ import annotations

from typing import Any

import pytest
from devtools.catalog import livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.shared.settings import IngestSettings, OperatorSettings, PlaybackSettings

NS = "media"
S3 = {"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "s3-creds"}
SETTINGS = OperatorSettings()
NODE_PORT = OperatorSettings(ingest=IngestSettings(service_type="NodePort", external_host="203.0.113.7"))


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


@pytest.fixture
def api() -> FakeKubeApi:
    return operator_view()


def put(api: FakeKubeApi, body: dict[str, Any]) -> dict[str, Any]:
    body["metadata"]["namespace"] = NS
    return api.add(body)


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

    put(api, livestream("cam", recording={"standby": True, "storage": {"s3": S3}}))
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    reconcile_livestream(api, SETTINGS, body, None, auto_recording_exists=False)
    assert api.names("Pod") == ["cam-ingest"]


def test_each_child_is_read_once_and_before_any_write(api):
    """observe.py reads the route, the auto Recording, the warm recorder, the free standby name and
    the default claim; apply.py writes without reading them again (the route was read twice)."""
    settings = OperatorSettings(playback=PlaybackSettings(ingress_enabled=True))
    put(api, livestream("cam", recording={"auto": True, "standby": True}, playback={"ingress": {"host": "tv.example"}}))
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
