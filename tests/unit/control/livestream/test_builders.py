"""Ingest children builders: ownership, labels, ports, key handling, when a Pod must roll."""

from __future__ import annotations

import base64
import json
import re
from functools import partial

from devtools.catalog import pull, stored_livestream
from streamops.api import LiveStream
from streamops.control.livestream.exposure import Reach, ReachInputs, ingest_reach
from streamops.control.livestream.specs.features import ingest_roles
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.secret import stream_key_ref, stream_key_secret
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.livestream.specs.urls import ingest_endpoints, playback_base, playback_urls
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, in_cluster_host
from streamops.kube.naming import SPEC_HASH_ANNOTATION, child_name, label_value

SETTINGS = OperatorSettings()


stream = partial(stored_livestream, uid="uid-1", generation=1)


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


def test_service_selects_its_pod_only():
    primary = ingest_service(stream(source={"push": {"backup": True}}), "primary", SETTINGS)
    backup = ingest_service(stream(source={"push": {"backup": True}}), "backup", SETTINGS)
    pod = ingest_pod(stream(source={"push": {"backup": True}}), "backup", SETTINGS)
    assert backup["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert not primary["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert [p["port"] for p in primary["spec"]["ports"]] == [8080, 1935, 9998, 8189, 8190]
    assert [p["port"] for p in backup["spec"]["ports"]] == [8080, 1935, 9998]


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


def test_endpoints_and_playback_carry_no_key():
    s = stream(source={"push": {"backup": True}})
    assert ingest_roles(s) == ["primary", "backup"]
    reaches = {role: in_cluster(s, role) for role in ingest_roles(s)}
    endpoints = ingest_endpoints(s, reaches)
    assert endpoints.push_url == "rtmp://cam-ingest.media.svc:1935/live"
    assert endpoints.backup_push_url_srt == "srt://cam-ingest-backup.media.svc:9998"
    assert endpoints.stream_key_secret == "cam-stream-key"
    assert endpoints.exposure == "ClusterIP"
    playback = playback_urls(s, playback_base(None, reaches["primary"]))
    assert playback.hls_cmaf_url == "http://cam-ingest.media.svc:8080/hls/cmaf/index.m3u8"
    assert playback.player_url == "http://cam-ingest.media.svc:8080/player"
    dash = stream(dash=True)
    assert playback_urls(dash, playback_base(None, in_cluster(dash, "primary"))).dash_url == (
        "http://cam-ingest.media.svc:8080/dash/manifest.mpd"
    )


def in_cluster(s: LiveStream, role) -> Reach:
    return ingest_reach(None, ReachInputs(in_cluster_host(s, role), POD_NETWORK_PORTS))


def test_child_names_are_valid_service_names():
    dns1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    for owner in ["cam", "9news", "a" * 80, "x.y.z", "long-" * 40]:
        name = child_name(owner, "ingest-backup")
        assert dns1035.match(name) and len(name) <= 63, name
    assert child_name("a" * 80, "ingest") != child_name("a" * 81, "ingest")
    assert len(label_value("b" * 200)) <= 63
