"""RTMPS ingest, operator side: the spec rule (rtmps needs tls.secretName), the certificate's Secret
mounted into the ingest Pod, the rtmps port on the Pod, the Service and the host-port allocation,
pushUrlRtmps under every exposure, the Stalled reasons of an unusable Secret; and the worker's
certificate reloader (the kubelet's symlink swap, a broken renewal)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
import yaml
from devtools.catalog import livestream, stored, stored_livestream
from devtools.fake_kube import FakeKubeApi, operator_view
from devtools.versions import REPO
from pydantic import ValidationError
from streamops.api import LiveStream
from streamops.contract.ingest import IngestConfig, IngestStatus
from streamops.control.livestream import reasons
from streamops.control.livestream.exposure import ReachInputs, ServiceObservation, ingest_reach
from streamops.control.livestream.reconcile import reconcile_livestream
from streamops.control.livestream.specs.pod import ingest_pod
from streamops.control.livestream.specs.service import ingest_service
from streamops.control.livestream.specs.urls import ingest_endpoints
from streamops.control.livestream.status import IngestObservation, livestream_status
from streamops.control.livestream.tls_secret import tls_secret_problem
from streamops.control.shared.settings import OperatorSettings, PlaybackSettings, WorkerSettings
from streamops.control.shared.tenancy import ALLOW_REFERENCE_LABELS
from streamops.control.workers.ingest_address import POD_NETWORK_PORTS, in_cluster_host, ingest_ports
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.kube.naming import SPEC_HASH_ANNOTATION

NS = "media"
SETTINGS = OperatorSettings()
NO_WEBRTC = OperatorSettings(playback=PlaybackSettings(webrtc=False))
HOST = OperatorSettings(worker=WorkerSettings(host_network=True, port_range="30000-30099", address="127.0.0.1"))
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CRDS = REPO / "crds"
PEM_CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
PEM_KEY = b"-----BEGIN PRIVATE KEY-----\nMIIE-not-a-real-key\n-----END PRIVATE KEY-----\n"
RTMPS = {"push": {"protocols": ["rtmp", "rtmps", "srt"], "tls": {"secretName": "cam-tls"}}}


def stream_body(**spec: Any) -> dict[str, Any]:
    return stored(livestream("cam", **({"source": RTMPS} | spec)), uid="uid-1", generation=1)


stream = partial(stored_livestream, uid="uid-1", generation=1, source=RTMPS)


def plain_stream() -> LiveStream:
    return stream(source={"push": {"protocols": ["rtmp", "srt"]}})


def config_of(pod: dict[str, Any]) -> dict[str, Any]:
    return json.loads(pod["spec"]["containers"][0]["env"][0]["value"])


def tls_secret(name: str = "cam-tls", **data: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": NS, "labels": ALLOW_REFERENCE_LABELS},
        "data": {k.replace("_", "."): base64.b64encode(v).decode() for k, v in data.items()},
    }


# --- the spec ---------------------------------------------------------------------------------------


def test_rtmps_needs_a_tls_secret_and_is_not_on_by_default():
    with pytest.raises(ValidationError, match="rtmps needs a certificate"):
        stream(source={"push": {"protocols": ["rtmps"]}})
    assert "rtmps" not in plain_stream().spec.source.push.protocols  # type: ignore[union-attr]
    assert LiveStream.model_validate(livestream("cam", source={"push": {}})).spec.source.push.protocols == [
        "rtmp",
        "srt",
    ]
    assert stream().spec.source.push.tls.secret_name == "cam-tls"  # type: ignore[union-attr]


def test_crd_carries_the_rule_the_api_server_enforces():
    crd = yaml.safe_load((CRDS / "livestreams.streaming.streamops.dev.yaml").read_text())
    push = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["source"][
        "properties"
    ]["push"]
    assert push["properties"]["protocols"]["items"]["enum"] == ["rtmp", "rtmps", "srt", "whip"]
    assert push["properties"]["protocols"]["maxItems"] == 4
    assert push["properties"]["tls"]["required"] == ["secretName"]
    rule, _backup_without_whip = push["x-kubernetes-validations"]
    assert "'rtmps' in self.protocols" in rule["rule"] and "tls.secretName" in rule["message"]
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert {"pushUrlRtmps", "backupPushUrlRtmps"} <= status["ingest"]["properties"].keys()


# --- the ingest Pod and Service ---------------------------------------------------------------------


def test_pod_mounts_the_tls_secret_and_listens_on_rtmps():
    pod = ingest_pod(stream(), "primary", SETTINGS)
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    volume = next(v for v in spec["volumes"] if v["name"] == "rtmps-tls")
    assert volume["secret"] == {
        "secretName": "cam-tls",
        "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
        "defaultMode": 0o440,
    }
    mount = next(m for m in container["volumeMounts"] if m["name"] == "rtmps-tls")
    assert mount == {"name": "rtmps-tls", "mountPath": "/var/run/secrets/streamops/rtmps", "readOnly": True}
    assert "subPath" not in mount, "a subPath mount never sees the Secret's updates"
    assert {p["name"]: (p["containerPort"], p["protocol"]) for p in container["ports"]} == {
        "http": (8080, "TCP"),
        "internal": (8081, "TCP"),
        "rtmp": (1935, "TCP"),
        "rtmps": (1936, "TCP"),
        "srt": (9998, "UDP"),
        "webrtc-udp": (8189, "UDP"),
        "webrtc-tcp": (8190, "TCP"),
    }
    config = IngestConfig.model_validate(config_of(pod))
    assert config.ports.rtmps == 1936
    assert (config.tls_cert_file, config.tls_key_file) == (
        "/var/run/secrets/streamops/rtmps/tls.crt",
        "/var/run/secrets/streamops/rtmps/tls.key",
    )
    # PodSecurity restricted still holds: a Secret volume, unprivileged ports, non-root, no escalation.
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["fsGroup"] == 10001
    assert all(p["containerPort"] > 1023 for p in container["ports"])
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert all(set(v) <= {"name", "secret", "emptyDir"} for v in spec["volumes"])


def test_without_rtmps_the_pod_is_what_it_was():
    """No rtmps (and WebRTC playback off, the chart value an operator sets before upgrading to keep
    live ingests running): no port, no volume and no new configuration field, so upgrading the
    operator does not change a live ingest's spec hash (which would restart it)."""
    pod = ingest_pod(plain_stream(), "primary", NO_WEBRTC)
    assert "rtmps" not in json.dumps(pod["spec"]) and "tls" not in json.dumps(config_of(pod)).lower()
    assert config_of(pod)["ports"] == {"http": 8080, "internal": 8081, "rtmp": 1935, "srt": 9998}
    # rtmps only: no plain RTMP port.
    only = ingest_pod(
        stream(source={"push": {"protocols": ["rtmps"], "tls": {"secretName": "t"}}}), "primary", NO_WEBRTC
    )
    assert {p["name"] for p in only["spec"]["containers"][0]["ports"]} == {"http", "internal", "rtmps"}
    # Another certificate Secret rolls the Pod (its volume changes); the certificate itself never does.
    other = ingest_pod(
        stream(source={**RTMPS, "push": {**RTMPS["push"], "tls": {"secretName": "x"}}}), "primary", SETTINGS
    )
    pod = ingest_pod(stream(), "primary", SETTINGS)
    assert (
        other["metadata"]["annotations"][SPEC_HASH_ANNOTATION] != pod["metadata"]["annotations"][SPEC_HASH_ANNOTATION]
    )


def test_service_has_the_rtmps_port_and_its_fixed_node_port():
    s = stream(ingest={"service": {"type": "NodePort", "nodePorts": {"rtmps": 31936}}})
    service = ingest_service(s, "primary", SETTINGS)
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["rtmps"] == {
        "name": "rtmps",
        "port": 1936,
        "targetPort": "rtmps",
        "protocol": "TCP",
        "nodePort": 31936,
    }
    assert "rtmps" not in {p["name"] for p in ingest_service(plain_stream(), "primary", SETTINGS)["spec"]["ports"]}


# --- pushUrlRtmps under each exposure ---------------------------------------------------------------


def service_body(type_: str, node_ports: dict[str, int] | None = None, lb: str = "") -> dict[str, Any]:
    ports = [{"name": n, "port": p, "nodePort": (node_ports or {}).get(n)} for n, p in POD_NETWORK_PORTS.items()]
    ports = [{k: v for k, v in p.items() if v is not None} for p in ports]
    return {
        "metadata": {"name": "cam-ingest"},
        "spec": {"type": type_, "ports": ports},
        "status": {"loadBalancer": {"ingress": [{"ip": lb}]} if lb else {}},
    }


def test_push_url_rtmps_follows_the_same_exposure_as_push_url():
    s = stream(source={"push": {**RTMPS["push"], "backup": True}})
    given = ReachInputs(in_cluster_host(s, "primary"), POD_NETWORK_PORTS, external_host="203.0.113.7")

    def urls(service: dict[str, Any] | None, inputs: ReachInputs = given) -> dict[str, Any]:
        reach = ingest_reach(ServiceObservation.of(service), inputs)
        backup = ingest_reach(None, ReachInputs(in_cluster_host(s, "backup"), POD_NETWORK_PORTS))
        endpoints = ingest_endpoints(s, {"primary": reach, "backup": backup})
        assert endpoints is not None
        return endpoints.wire()

    lb = urls(service_body("LoadBalancer", {"rtmps": 31936}, lb="198.51.100.9"))
    assert lb["pushUrlRtmps"] == "rtmps://198.51.100.9:1936/live" and lb["pushUrl"] == "rtmp://198.51.100.9:1935/live"
    node = urls(service_body("NodePort", {"rtmp": 31935, "rtmps": 31936, "srt": 31998, "http": 31080}))
    assert node["pushUrlRtmps"] == "rtmps://203.0.113.7:31936/live" and node["exposure"] == "NodePort"
    inside = urls(service_body("ClusterIP"))
    assert inside["pushUrlRtmps"] == "rtmps://cam-ingest.media.svc:1936/live"
    assert inside["backupPushUrlRtmps"] == "rtmps://cam-ingest-backup.media.svc:1936/live"
    unseen = urls(None)  # the Service not observed yet: the pod network's ports, in-cluster
    assert unseen["pushUrlRtmps"] == "rtmps://cam-ingest.media.svc:1936/live"
    host = ReachInputs(
        in_cluster_host(s, "primary"),
        POD_NETWORK_PORTS,
        host_network=True,
        host_ports={"http": 30001, "rtmp": 30002, "srt": 30003, "rtmps": 30004},
        pod_host_ip="10.0.0.12",
    )
    assert urls(None, host)["pushUrlRtmps"] == "rtmps://10.0.0.12:30004/live"
    plain = ingest_endpoints(plain_stream(), {"primary": ingest_reach(None, given)})
    assert plain is not None and plain.push_url_rtmps is None and plain.backup_push_url_rtmps is None


# --- the certificate's Secret -----------------------------------------------------------------------


def test_tls_secret_problems_name_the_secret_and_never_its_content():
    missing = tls_secret_problem("cam-tls", None)
    assert missing is not None and missing[0] == reasons.TLS_SECRET_NOT_FOUND
    assert "cam-tls" in missing[1] and "source.push.tls.secretName" in missing[1]
    no_key = tls_secret_problem("cam-tls", tls_secret(tls_crt=PEM_CERT))
    assert no_key == (
        reasons.TLS_SECRET_INVALID,
        "Secret cam-tls named in source.push.tls.secretName has no tls.key: rtmps needs a kubernetes.io/tls Secret "
        "(keys tls.crt and tls.key)",
    )
    opaque = tls_secret_problem("cam-tls", tls_secret(other=b"x"))
    assert opaque is not None and "no tls.crt and no tls.key" in opaque[1]
    swapped = tls_secret_problem("cam-tls", tls_secret(tls_crt=PEM_KEY, tls_key=PEM_KEY))
    assert swapped == (
        reasons.TLS_SECRET_INVALID,
        "Secret cam-tls named in source.push.tls.secretName: tls.crt is not a PEM certificate",
    )
    assert "MIIE" not in json.dumps([missing, no_key, opaque, swapped])
    assert tls_secret_problem("cam-tls", tls_secret(tls_crt=PEM_CERT, tls_key=PEM_KEY)) is None


@pytest.fixture
def api() -> FakeKubeApi:
    api = operator_view()
    return api


def reconcile(api: FakeKubeApi, allocator: PortAllocator | None = None) -> Any:
    body = api.object("LiveStream", NS, "cam")
    assert body is not None
    return reconcile_livestream(api, HOST if allocator else SETTINGS, body, allocator, auto_recording_exists=False)


def test_no_ingest_until_the_certificate_secret_is_usable(api):
    api.add(stream_body())
    outcome = reconcile(api)
    assert outcome.tls_secret_problem[0] == reasons.TLS_SECRET_NOT_FOUND
    assert api.object("Pod", NS, "cam-ingest") is None, "a Pod would hang in ContainerCreating"
    assert api.object("Service", NS, "cam-ingest") is not None, "the URLs are known before the certificate"

    api.add(tls_secret(tls_crt=PEM_CERT))  # cert-manager has not written the key (yet)
    assert reconcile(api).tls_secret_problem[0] == reasons.TLS_SECRET_INVALID
    api.modify("Secret", NS, "cam-tls", {"data": {"tls.key": base64.b64encode(PEM_KEY).decode()}})
    assert reconcile(api).tls_secret_problem is None
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None and any(v["name"] == "rtmps-tls" for v in pod["spec"]["volumes"])


def test_stalled_reason_and_message_in_status():
    problem = tls_secret_problem("cam-tls", None)
    status = livestream_status(stream(), IngestObservation({}, tls_secret_problem=problem), T0)
    ready, stalled = status.condition("Ready"), status.condition("Stalled")
    assert ready is not None and stalled is not None
    assert (ready.status, ready.reason) == ("False", "TLSSecretNotFound")
    assert (stalled.status, stalled.reason, stalled.message) == ("True", "TLSSecretNotFound", problem[1])  # type: ignore[index]
    assert status.ingest is not None and status.ingest.push_url_rtmps == "rtmps://cam-ingest.media.svc:1936/live"


def test_host_ports_gain_and_give_back_the_rtmps_port(api):
    allocator = PortAllocator(HOST.worker.ports)
    api.add(stream_body(source={"push": {"protocols": ["rtmp", "srt"]}}))
    reconcile(api, allocator)
    before = ports_of(api.object("Service", NS, "cam-ingest"))
    assert set(before) == {"http", "internal", "rtmp", "srt", "webrtc-udp", "webrtc-tcp"} and allocator.used == 6

    api.add(tls_secret(tls_crt=PEM_CERT, tls_key=PEM_KEY))
    api.modify("LiveStream", NS, "cam", {"spec": {"source": RTMPS}})
    reconcile(api, allocator)
    after = ports_of(api.object("Service", NS, "cam-ingest"))
    assert set(after) == {"http", "internal", "rtmp", "srt", "rtmps", "webrtc-udp", "webrtc-tcp"}
    assert allocator.used == 7
    assert {n: after[n] for n in before} == before, "the ports a live ingest has are kept"
    reconcile(api, allocator)  # the old Pod was deleted (its spec changed); the new one comes now
    pod = api.object("Pod", NS, "cam-ingest")
    assert pod is not None
    assert {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]} == after
    assert config_of(pod)["ports"] == ingest_ports(after).wire()

    api.modify("LiveStream", NS, "cam", {"spec": {"source": {"push": {"protocols": ["rtmp", "srt"], "tls": None}}}})
    reconcile(api, allocator)
    assert ports_of(api.object("Service", NS, "cam-ingest")) == before and allocator.used == 6


# --- the worker's certificate reloader --------------------------------------------------------------


def test_status_reports_the_fingerprint_and_the_error_only():
    status = IngestStatus(tls_certificate_sha256="ab" * 32, tls_error="cannot load the RTMPS certificate: x")
    assert status.to_json_dict()["tlsCertificateSha256"] == "ab" * 32
    assert status.to_json_dict()["tlsError"].startswith("cannot load")
