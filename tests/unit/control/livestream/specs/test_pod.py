"""The ingest Pod (specs/pod.py): ownership, labels, restrictions, ports, how the stream key reaches
it, which role runs WebRTC, and when a change must roll it."""

from __future__ import annotations

import base64
import json
from functools import partial
from typing import Any

from devtools.catalog import pull, stored_livestream
from streamops.contract.ingest import IngestConfig
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.secret import stream_key_ref, stream_key_secret
from streamops.control.livestream.specs.urls import ingest_endpoints
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings
from streamops.kube.naming import SPEC_HASH_ANNOTATION

SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="uid-1", generation=1)


def config(pod: dict[str, Any]) -> IngestConfig:
    return IngestConfig.model_validate_json(pod["spec"]["containers"][0]["env"][0]["value"])


def test_pod_is_owned_labelled_and_restricted():
    pod = ingest_pod(stream(), "primary", SETTINGS)
    meta = pod["metadata"]
    assert meta["name"] == "cam-ingest" and meta["namespace"] == "media"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "LiveStream",
            "name": "cam",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "streamops"
    assert meta["labels"]["app.kubernetes.io/component"] == "ingest"
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    protocols = {p["name"]: p["protocol"] for p in container["ports"]}
    assert protocols == {
        "http": "TCP",
        "internal": "TCP",
        "rtmp": "TCP",
        "srt": "UDP",
        "webrtc-udp": "UDP",
        "webrtc-tcp": "TCP",
    }


def test_key_is_mounted_never_inlined():
    secret = stream_key_secret(stream(), "s3cr3t-key")
    assert base64.b64decode(secret["data"]["streamKey"]).decode() == "s3cr3t-key"
    pod = ingest_pod(stream(), "primary", SETTINGS)
    assert "s3cr3t-key" not in json.dumps(pod)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "stream-key")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"] == "cam-stream-key"
    config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
    assert config["streamKeyFile"].startswith("/var/run/secrets/streamops/")


def test_referenced_key_is_used():
    s = stream(source={"push": {"streamKeySecretRef": {"name": "mine", "key": "k"}}})
    assert stream_key_ref(s).name == "mine"
    item = next(v for v in ingest_pod(s, "primary", SETTINGS)["spec"]["volumes"] if v["name"] == "stream-key")
    assert item["secret"] == {"secretName": "mine", "items": [{"key": "k", "path": "stream-key"}]}


def test_pull_stream_has_no_key_and_no_push_ports():
    s = stream(source=pull("rtmp://127.0.0.1/live/a"))
    assert stream_key_ref(s) is None and ingest_endpoints(s, {}) is None
    pod = ingest_pod(s, "primary", SETTINGS)
    # No push ports; WebRTC playback's (WHEP is for every source).
    names = [p["name"] for p in pod["spec"]["containers"][0]["ports"]]
    assert names == ["http", "internal", "webrtc-udp", "webrtc-tcp"]
    assert all(v["name"] != "stream-key" for v in pod["spec"]["volumes"])


def test_rtsp_credentials_are_mounted_files_the_config_points_at():
    source = {
        "pull": {
            "urls": ["rtsp://cam.lan/1", "rtmp://origin/live/a"],
            "rtsp": {"transport": "udp"},
            "credentialsSecretRef": {"name": "cam-login", "usernameKey": "user", "passwordKey": "pass"},
        }
    }
    pod = ingest_pod(stream(source=source), "primary", SETTINGS)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "pull-credentials")
    assert volume["secret"] == {
        "secretName": "cam-login",
        "items": [{"key": "user", "path": "username"}, {"key": "pass", "path": "password"}],
        "defaultMode": 0o440,
        "optional": True,  # a missing Secret: the Pod starts, the worker says so (status.pullFailure)
    }
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "pull-credentials")
    assert mount == {
        "name": "pull-credentials",
        "mountPath": "/var/run/secrets/streamops/pull-credentials",
        "readOnly": True,
    }
    c = config(pod)
    assert c.pull_username_file == "/var/run/secrets/streamops/pull-credentials/username"
    assert c.pull_password_file == "/var/run/secrets/streamops/pull-credentials/password"
    assert c.source.pull is not None and c.source.pull.credentials_secret_ref is None, "the Secret is the operator's"
    assert c.source.pull.rtsp is not None and c.source.pull.rtsp.transport == "udp"
    env = json.dumps(pod["spec"]["containers"][0]["env"])
    assert "cam-login" not in env


def test_a_pull_stream_without_rtsp_settings_keeps_its_configuration():
    """The new fields are None when unused: an upgrade changes no pull ingest's configuration."""
    c = config(ingest_pod(stream(source=pull("rtmp://127.0.0.1/live/a")), "primary", SETTINGS))
    dumped = c.model_dump(by_alias=True, exclude_none=True)
    assert "pullUsernameFile" not in dumped and set(dumped["source"]["pull"]) == {"urls", "inactivityTimeoutSeconds"}


# --- the pull origins' certificates (source.pull.tls) ----------------------------------------------------


def test_the_pull_origins_ca_is_a_mounted_file_the_config_points_at():
    tls = {"caSecretRef": {"name": "origin-ca", "key": "root.pem"}}
    pod = ingest_pod(
        stream(source={"pull": {"urls": ["rtmps://10.0.0.5:1936/live/s"], "tls": tls}}), "primary", SETTINGS
    )
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "pull-ca"]
    # Optional: a missing Secret lets the Pod start; the worker pulls nothing over TLS and says so.
    assert volume["secret"] == {
        "secretName": "origin-ca",
        "items": [{"key": "root.pem", "path": "ca.crt"}],
        "optional": True,
    }
    mount = {"name": "pull-ca", "mountPath": "/var/run/secrets/streamops/pull-ca", "readOnly": True}
    assert mount in pod["spec"]["containers"][0]["volumeMounts"]
    c = config(pod)
    assert c.pull_tls_ca_file == "/var/run/secrets/streamops/pull-ca/ca.crt"
    assert c.source.pull is not None and c.source.pull.tls is None, "the Secret is the operator's"
    assert "origin-ca" not in json.dumps(pod["spec"]["containers"][0]["env"])


def test_insecure_skip_verify_reaches_the_worker_in_its_source():
    source = {"pull": {"urls": ["rtsps://cam.lan/1"], "tls": {"insecureSkipVerify": True}}}
    c = config(ingest_pod(stream(source=source), "primary", SETTINGS))
    assert c.source.pull is not None and c.source.pull.tls is not None and c.source.pull.tls.insecure_skip_verify
    assert c.pull_tls_ca_file is None


def test_an_existing_pull_stream_without_tls_restarts_no_ingest_on_upgrade():
    """Verifying is the default and needs nothing in the configuration: a stream without tls (or with an
    empty tls) has the configuration, volumes and Pod hash it had before source.pull.tls existed."""

    def pod(**pull: Any) -> dict[str, Any]:
        return ingest_pod(stream(source={"pull": {"urls": ["rtmps://o.example/live/s"], **pull}}), "primary", SETTINGS)

    before = pod()
    dumped = config(before).model_dump(by_alias=True, exclude_none=True)
    assert "pullTlsCaFile" not in dumped and set(dumped["source"]["pull"]) == {"urls", "inactivityTimeoutSeconds"}
    assert all(v["name"] != "pull-ca" for v in before["spec"]["volumes"])
    hashes = {
        name: p["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
        for name, p in {
            "none": before,
            "empty": pod(tls={}),
            "ca": pod(tls={"caSecretRef": {"name": "ca"}}),
            "skip": pod(tls={"insecureSkipVerify": True}),
        }.items()
    }
    assert hashes["empty"] == hashes["none"]
    assert len({hashes["none"], hashes["ca"], hashes["skip"]}) == 3, "a CA or skipping verification rolls it"


def test_only_relevant_changes_roll_the_pod():
    def digest(**spec):
        return ingest_pod(stream(**spec), "primary", SETTINGS)["metadata"]["annotations"][SPEC_HASH_ANNOTATION]

    base = digest()
    assert digest(title="Another title") == base
    assert digest(recording={"auto": True}) == base
    assert digest(dvr={"enabled": True}) != base
    assert digest(hls={"segmentSeconds": 4}) != base
    assert digest(hls={"latencyMode": "low"}) != base
    assert digest(dash=True) != base
    # Unset, the new settings are left out of the configuration: upgrading rolls no live ingest.
    assert digest(hls={"latencyMode": None}, dash=False) == base


# --- which ingest runs WebRTC -----------------------------------------------------------------------


def test_whep_is_on_by_default_for_every_source_and_the_primary_only():
    for source in ({"push": {"protocols": ["rtmp"], "backup": True}}, {"pull": {"urls": ["rtmp://o.example/l/a"]}}):
        s = stream(source=source)
        primary = config(ingest_pod(s, "primary", SETTINGS))
        assert primary.webrtc is not None and primary.webrtc.whep and primary.webrtc.ice_tcp
        assert (primary.ports.webrtc_udp, primary.ports.webrtc_tcp) == (8189, 8190)
        env = ingest_pod(s, "primary", SETTINGS)["spec"]["containers"][0]["env"]
        assert {"name": "STREAMOPS_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in env
    backup = config(ingest_pod(stream(source={"push": {"protocols": ["rtmp"], "backup": True}}), "backup", SETTINGS))
    assert backup.webrtc is None and backup.ports.webrtc_udp is None


def test_the_operator_default_and_the_streams_choice():
    off = OperatorSettings(playback=PlaybackSettings(webrtc=False))
    assert config(ingest_pod(stream(), "primary", off)).webrtc is None
    pod = ingest_pod(stream(), "primary", off)
    assert "STREAMOPS_POD_IP" not in json.dumps(pod), "no WebRTC: the Pod is what it was before WebRTC existed"
    assert config(ingest_pod(stream(playback={"webrtc": {"enabled": True}}), "primary", off)).webrtc is not None
    assert config(ingest_pod(stream(playback={"webrtc": {"enabled": False}}), "primary", SETTINGS)).webrtc is None
    # WHIP needs the component whatever WHEP is: it runs without WHEP's feed.
    whip = config(ingest_pod(stream(source={"push": {"protocols": ["whip"]}}), "primary", off))
    assert whip.webrtc is not None and not whip.webrtc.whep


def test_b_frames_policy_and_ice_tcp_reach_the_worker():
    s = stream(playback={"webrtc": {"bFrames": "refuse"}}, ingest={"webrtc": {"iceTcp": False}})
    pod = ingest_pod(s, "primary", SETTINGS)
    webrtc = config(pod).webrtc
    assert webrtc is not None and webrtc.b_frames == "refuse" and not webrtc.ice_tcp
    assert config(pod).ports.webrtc_tcp is None
    assert [p["name"] for p in pod["spec"]["containers"][0]["ports"] if p["name"].startswith("webrtc")] == [
        "webrtc-udp"
    ]
