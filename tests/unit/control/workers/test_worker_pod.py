"""Recorder and pusher Pods, the auto Recording, the recordings claim, host-port allocation and
the RBAC rules: pure builders, no cluster."""

from __future__ import annotations

import json
from functools import partial

import pytest
from devtools.catalog import stored_livestream, stored_recording, stored_restream
from pydantic import ValidationError
from streamops.control.livestream.exposure import ReachInputs, ServiceObservation, ingest_reach
from streamops.control.livestream.specs.auto_recording import auto_recording
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.service import ingest_internal_service, ingest_service
from streamops.control.livestream.specs.urls import ingest_endpoints, playback_base, playback_urls
from streamops.control.recording.specs.pod import recorder_pod
from streamops.control.recording.specs.settings import recording_settings
from streamops.control.recording.specs.storage import recording_directory
from streamops.control.restream.specs.owner_patch import restream_owner_patch
from streamops.control.restream.specs.pod import shared_pusher_pod
from streamops.control.runtime.rbac import cluster_role_rules
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings, WorkerSettings
from streamops.control.storage.recordings_claim import recordings_claim
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, ingest_ports
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortAllocator, PortExhausted, ports_of
from streamops.kube.naming import HOST_PORTS_ANNOTATION, SPEC_HASH_ANNOTATION

SETTINGS = OperatorSettings()
HOST = OperatorSettings(worker=WorkerSettings(host_network=True, address="127.0.0.1", bind_address="127.0.0.1"))
INGEST_PORTS = {
    "http": 30001,
    "rtmp": 30002,
    "srt": 30003,
    "webrtc-udp": 30004,
    "webrtc-tcp": 30005,
    "internal": 30006,
}


stream = partial(stored_livestream, uid="stream-uid", generation=1)
rec = stored_recording
rst = stored_restream


def config(pod) -> dict:
    return json.loads(pod["spec"]["containers"][0]["env"][0]["value"])


def test_recorder_pod_is_owned_by_the_recording_and_writes_to_the_claim():
    pod = recorder_pod(rec(), stream(), SETTINGS)
    assert [(r["kind"], r["uid"]) for r in pod["metadata"]["ownerReferences"]] == [("Recording", "0123456789abcdef")]
    assert pod["metadata"]["name"] == "rec-recorder"
    c = config(pod)
    assert c["feedUrl"] == "http://cam-ingest-internal.media.svc:8081/feed", "the internal Service's"
    assert (c["recordingsRoot"], c["directory"]) == ("/recordings", "media/rec-01234567")
    assert (c["reconnectWindowSeconds"], c["maxSegmentSeconds"], c["minDurationSeconds"]) == (10, 14400, 10)
    assert c["title"] == "Camera"
    volume, credential, private = pod["spec"]["volumes"]
    assert volume["persistentVolumeClaim"] == {"claimName": "streamops-recordings"}
    assert_mounts_the_credential(pod, credential, private)
    assert "hostNetwork" not in pod["spec"]


def assert_mounts_the_credential(pod, credential, private):
    """The stream's worker credential (never inlined: a 0440 Secret file its config names) and the
    in-memory private directory its feed readers' FFmpeg argument files go to."""
    assert credential == {
        "name": "worker-credential",
        "secret": {
            "secretName": "cam-worker-credential",
            "items": [{"key": "credential", "path": "credential"}],
            "defaultMode": 0o440,
        },
    }
    assert private["emptyDir"]["medium"] == "Memory"
    mounts = {m["name"]: m for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["worker-credential"] == {
        "name": "worker-credential",
        "mountPath": "/var/run/secrets/streamops/worker-credential",
        "readOnly": True,
    }
    assert mounts[private["name"]]["mountPath"] == "/run/streamops/private"
    assert config(pod)["credentialFile"] == "/var/run/secrets/streamops/worker-credential/credential"
    assert "cam-worker-credential" not in json.dumps(pod["spec"]["containers"][0]["env"])


def test_recording_settings_fall_back_to_the_stream():
    s = stream(recording={"reconnectWindowSeconds": 30, "minDurationSeconds": 5})
    effective = recording_settings(rec(minDurationSeconds=0), s)
    assert (effective.reconnect_window_seconds, effective.min_duration_seconds, effective.type) == (30, 0, "origin")
    transcoded = stream(transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]})
    assert config(recorder_pod(rec(type="transcoded"), transcoded, SETTINGS))["feedUrl"].endswith("/feed/transcoded")


def test_recording_directory_and_claim_can_be_chosen():
    r = rec(storage={"pvc": {"claimName": "archive", "subPath": "live/2026"}})
    assert recording_directory(r) == "live/2026/rec-01234567"
    pod = recorder_pod(r, stream(), SETTINGS)
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "archive"


def test_recordings_claim_is_owned_by_nothing():
    claim = recordings_claim("media", RecordingsSettings(storage_class="fast"))
    assert "ownerReferences" not in claim["metadata"]
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_auto_recording_is_owned_by_the_stream():
    r = auto_recording(stream(recording={"auto": True}))
    assert r["metadata"]["name"] == "cam-auto"
    assert r["metadata"]["ownerReferences"][0]["kind"] == "LiveStream"
    assert r["spec"] == {"streamRef": {"name": "cam"}}


def test_the_streams_pusher_mounts_no_key_and_names_no_target():
    """Its targets, keys and CAs come over PUT /targets (docs/design/shared-pusher.md): nothing of a
    Restream is in its spec but its owner reference."""
    pod = shared_pusher_pod(stream(), [rst(streamKeySecretRef={"name": "yt"})], SETTINGS)
    c = config(pod)
    assert pod["metadata"]["name"] == "cam-pusher" and c["stream"] == "cam"
    assert not {"uri", "feedUrl", "streamKeyFile", "tlsCaFile"} & set(c)
    private, credential = pod["spec"]["volumes"]
    assert_mounts_the_credential(pod, credential, private)
    # The key files and the FIFOs that hand FFmpeg a target and its key: in memory, where the worker may write.
    assert private["emptyDir"]["medium"] == "Memory"
    mounts = {m["name"]: m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["private"] == c["privateDir"]
    [owner] = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["controller"]) == ("Restream", False)


def test_restream_gets_the_stream_as_owner_once():
    s = stream()
    patch = restream_owner_patch({}, s)
    [ref] = patch["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["uid"]) == ("LiveStream", "stream-uid") and "controller" not in ref
    assert restream_owner_patch(patch["metadata"], s) is None
    stale = {"ownerReferences": [{"kind": "LiveStream", "name": "cam", "uid": "old"}]}
    assert [r["uid"] for r in restream_owner_patch(stale, s)["metadata"]["ownerReferences"]] == ["stream-uid"]


def test_host_network_workers_use_allocated_ports_everywhere():
    s = stream()
    pod = ingest_pod(s, "primary", HOST, INGEST_PORTS)
    assert pod["spec"]["hostNetwork"] is True
    assert config(pod)["ports"] == ingest_ports(INGEST_PORTS).wire() and config(pod)["bindAddress"] == "127.0.0.1"
    assert config(pod)["ports"]["webrtcUdp"] == 30004 and config(pod)["webrtc"]["iceTcp"] is True
    # The kubelet would probe the node's address; the worker listens on 127.0.0.1 only.
    container = pod["spec"]["containers"][0]
    assert (
        container["readinessProbe"]["httpGet"]["host"] == container["livenessProbe"]["httpGet"]["host"] == "127.0.0.1"
    )
    assert {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]} == INGEST_PORTS
    # ... and so does the operator when it reads the worker's /status (not the node's Pod IP).
    running = {**pod, "status": {"phase": "Running", "podIP": "192.0.2.2"}}
    status_url = PodObservation.of("cam-ingest", running).status_url
    assert status_url == f"http://127.0.0.1:{INGEST_PORTS['internal']}/status", "its internal port"
    service = ingest_service(s, "primary", HOST, INGEST_PORTS)
    assert ports_of(service) == INGEST_PORTS
    public_ports = {name: port for name, port in INGEST_PORTS.items() if name != "internal"}
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == public_ports, "internal: its own Service"
    internal = ingest_internal_service(s, "primary", INGEST_PORTS)
    assert internal["spec"]["type"] == "ClusterIP"
    entry = {"name": "internal", "port": 30006, "targetPort": "internal", "protocol": "TCP"}
    assert internal["spec"]["ports"] == [entry]
    given = ReachInputs("cam-ingest.media.svc", POD_NETWORK_PORTS, worker_address="127.0.0.1", host_network=True,
                        host_ports=INGEST_PORTS)  # fmt: skip
    reach = ingest_reach(ServiceObservation.of(service), given)
    endpoints = ingest_endpoints(s, {"primary": reach})
    assert endpoints.push_url == "rtmp://127.0.0.1:30002/live" and endpoints.push_url_srt == "srt://127.0.0.1:30003"
    assert endpoints.exposure == "HostNetwork"
    playback = playback_urls(s, playback_base(None, reach))
    assert playback.hls_cmaf_url == "http://127.0.0.1:30001/hls/cmaf/index.m3u8"
    recorder = recorder_pod(rec(), s, HOST, INGEST_PORTS, {"http": 30010})
    assert config(recorder)["feedUrl"] == "http://127.0.0.1:30006/feed" and config(recorder)["httpPort"] == 30010
    assert json.loads(recorder["metadata"]["annotations"][HOST_PORTS_ANNOTATION]) == {"http": 30010}


def test_spec_hash_ignores_nothing_the_worker_uses():
    a = recorder_pod(rec(), stream(), SETTINGS)["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    b = recorder_pod(rec(maxSegmentSeconds=60), stream(), SETTINGS)["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    assert a != b


def test_port_allocator_hands_out_free_ports_and_reuses_late():
    allocator = PortAllocator(range(100, 106))
    allocator.reset([100])  # what the cluster says is in use (OperatorState.seed_ports)
    first = allocator.allocate(["http", "rtmp", "srt"])
    assert first == {"http": 101, "rtmp": 102, "srt": 103}
    allocator.release([101])
    assert allocator.allocate(["http"]) == {"http": 104}  # round-robin: the released one comes later
    assert allocator.allocate(["a", "b"]) == {"a": 105, "b": 101}
    with pytest.raises(PortExhausted):
        allocator.allocate(["c"])
    allocator.reset([100])
    assert allocator.used == 1


def test_ports_of_tolerates_garbage():
    assert ports_of(None) == {}
    assert ports_of({"metadata": {"annotations": {HOST_PORTS_ANNOTATION: "not json"}}}) == {}


def test_rbac_is_least_privilege():
    rules = cluster_role_rules()
    verbs = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert verbs[("", "secrets")] == {"get", "create"}, "never list or watch Secrets"
    assert "delete" not in verbs[("", "persistentvolumeclaims")], "videos outlive everything"
    assert not any("*" in v or r == "*" for (_, r), v in verbs.items())
    assert verbs[("streaming.streamops.dev", "livestreams/status")] == {"patch"}
    for route in (("networking.k8s.io", "ingresses"), ("gateway.networking.k8s.io", "httproutes")):
        assert {"list", "watch"} <= verbs[route], "playback routes are watched: a deleted one is put back at once"


def test_standby_recorder_pod_belongs_to_the_stream_and_waits_for_work():
    from streamops.contract.recorder import RECORDINGS_ROOT
    from streamops.control.storage.recorder_pod import recorder_standby_pod, standby_pod_name

    s = stream(recording={"standby": True})
    name = standby_pod_name("cam", 2)
    assert name == "cam-recorder-2"
    pod = recorder_standby_pod(s, name, HOST, {"http": 31000})
    meta = pod["metadata"]
    assert meta["name"] == name and [r["kind"] for r in meta["ownerReferences"]] == ["LiveStream"]
    assert meta["labels"]["app.kubernetes.io/component"] == "recorder-standby"
    assert config(pod) == {
        "standby": True,
        "recordingsRoot": RECORDINGS_ROOT,
        "httpHost": "127.0.0.1",
        "httpPort": 31000,
        "credentialFile": "/var/run/secrets/streamops/worker-credential/credential",
    }
    volume, credential, private = pod["spec"]["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == HOST.recordings.claim
    assert pod["spec"]["containers"][0]["volumeMounts"][0] == {"name": "recordings", "mountPath": RECORDINGS_ROOT}
    assert_mounts_the_credential(pod, credential, private)
    assert pod["spec"]["hostNetwork"] is True and json.loads(meta["annotations"][HOST_PORTS_ANNOTATION]) == {
        "http": 31000
    }


def test_adoption_hands_the_standby_to_the_recording_and_is_never_rolled():
    from streamops.control.recording.specs.adoption import adoption_patch
    from streamops.control.recording.specs.pod import recorder_pod
    from streamops.control.storage.recorder_pod import recorder_standby_pod
    from streamops.control.workers.children import ensure_pod
    from streamops.kube.naming import ADOPTED_ANNOTATION

    patch = adoption_patch(rec())
    assert patch["metadata"]["ownerReferences"][0]["uid"] == "0123456789abcdef"
    assert patch["metadata"]["labels"]["app.kubernetes.io/component"] == "recorder"
    assert patch["metadata"]["annotations"] == {ADOPTED_ANNOTATION: "rec"}

    adopted = recorder_standby_pod(stream(recording={"standby": True}), "cam-recorder-1", SETTINGS)
    adopted["metadata"].update(uid="pod-uid", ownerReferences=patch["metadata"]["ownerReferences"])
    adopted["metadata"]["annotations"].update(patch["metadata"]["annotations"])

    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"no API call expected, got {name}")

    desired = recorder_pod(rec(), stream(), SETTINGS)
    assert (
        desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        != adopted["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    )
    assert ensure_pod(NoCalls(), desired, adopted, "0123456789abcdef") is adopted, "an adopted standby is kept"


def test_default_requests_and_limits_are_the_measured_ones():
    """Requests and limits come from bench-media and smaps_rollup (issue 15; the figures are cited
    beside each default): every worker Pod gets them, requests never above limits, and the memory
    limit leaves at least 2x the request (a pusher's FFmpeg buffers while a target stalls, a
    recorder's join and upload)."""
    from streamops.control.storage.recorder_pod import recorder_standby_pod

    def mi(quantity: str) -> int:
        return int(quantity.removesuffix("Mi")) if quantity.endswith("Mi") else int(quantity.removesuffix("Gi")) * 1024

    s = stream(recording={"standby": True})
    pusher = container_resources(shared_pusher_pod(s, [rst()], SETTINGS))
    recorder = container_resources(recorder_pod(rec(), s, SETTINGS))
    assert container_resources(recorder_standby_pod(s, "cam-recorder-1", SETTINGS)) == recorder
    ingest = container_resources(ingest_pod(s, "primary", SETTINGS))
    assert ingest == {"requests": {"cpu": "75m", "memory": "96Mi"}, "limits": {"memory": "512Mi"}}
    assert pusher == {"requests": {"cpu": "25m", "memory": "48Mi"}, "limits": {"memory": "1Gi"}}
    assert recorder == {"requests": {"cpu": "25m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
    for r in (pusher, recorder, ingest):
        assert mi(r["limits"]["memory"]) >= 2 * mi(r["requests"]["memory"])
        assert "cpu" not in r["limits"]  # a CPU limit throttles FFmpeg mid-stream: requests only


def container_resources(pod):
    [container] = pod["spec"]["containers"]
    return container["resources"]


def test_the_admin_replaces_a_workers_default_from_the_environment_and_a_stream_still_wins():
    """STREAMOPS_WORKER_RESOURCES (the chart's worker.resources): a worker named there gets exactly
    that, the others keep their measured default; a LiveStream's spec.resources wins for its ingest;
    a misspelt worker is refused when the operator starts."""
    from streamops.control.storage.recorder_pod import recorder_standby_pod

    pusher = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
    env = {"STREAMOPS_WORKER_RESOURCES": json.dumps({"pusher": pusher, "recorder": {"limits": {"memory": "1Gi"}}})}
    settings = SETTINGS.model_copy(
        update={
            "worker": SETTINGS.worker.model_copy(update={"resources": OperatorSettings.from_env(env).worker.resources})
        }
    )
    s = stream(recording={"standby": True})
    assert container_resources(shared_pusher_pod(s, [rst()], settings)) == pusher
    assert container_resources(recorder_standby_pod(s, "cam-recorder-1", settings)) == {"limits": {"memory": "1Gi"}}
    assert container_resources(ingest_pod(s, "primary", settings)) == container_resources(
        ingest_pod(s, "primary", SETTINGS)
    )
    own = {"requests": {"cpu": "200m"}}
    assert container_resources(ingest_pod(stream(resources=own), "primary", settings)) == own
    assert OperatorSettings.from_env({"STREAMOPS_WORKER_RESOURCES": "{}"}).worker.resources == SETTINGS.worker.resources
    with pytest.raises(ValidationError, match="pushers"):
        OperatorSettings.from_env({"STREAMOPS_WORKER_RESOURCES": json.dumps({"pushers": pusher})})


def test_every_ingest_mounts_the_streams_worker_credential_and_its_sidecar_does_not():
    s = stream(
        overlays=[{"name": "logo", "url": "https://example.com/logo.html", "width": 10, "height": 10}],
        transcoding={"renditions": [{"name": "360p", "height": 360, "videoBitrateKbps": 800}]},
        source={"push": {"protocols": ["rtmp"], "backup": True}},
    )
    for role in ("primary", "backup"):
        pod = ingest_pod(s, role, SETTINGS)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert_mounts_the_credential(pod, volumes["worker-credential"], volumes["private"])
        for sidecar in pod["spec"]["containers"][1:]:
            assert not any(m["name"] == "worker-credential" for m in sidecar.get("volumeMounts", []))
