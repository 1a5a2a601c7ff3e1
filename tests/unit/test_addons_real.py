"""The multi-node tier's real add-ons as objects (devtools.cluster.metrics_server, .cert_manager,
.prometheus_operator) and what they need from the control plane: metrics-server verifies the kubelets
with the cluster's CA and is verified by the API server (no insecure flag anywhere), every Pod passes
PodSecurity `restricted`; cert-manager's chart gets the images built here and no Job that needs cmctl;
the Prometheus Operator's Prometheus selects every monitor and rule; the API server has the aggregation
layer's flags and its front proxy a CA of its own."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.cluster import cert_manager, metrics_server, prometheus_operator
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.images import Image, ImageBuilder

from devtools import pki
from tests.unit.test_addons import assert_restricted, by_kind, covers, one

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def pod_spec(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = next(o for o in by_kind(objects, "Deployment") if o["metadata"]["name"] == name)
    return dict(deployment["spec"]["template"]["spec"])


# -- metrics-server ------------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    return metrics_server.metrics_server_manifests(
        "streamops-metrics-server:abc", serving=("SERVING", "SKEY"), kubelet_client=("CLIENT", "CKEY"), ca=PEM
    )


def test_metrics_server_verifies_the_kubelets_and_is_verified() -> None:
    objects = manifests()
    args = pod_spec(objects, "metrics-server")["containers"][0]["args"]
    assert not [a for a in args if "insecure" in a], args
    assert "--kubelet-certificate-authority=/etc/metrics-server/kubelet-ca.crt" in args
    assert "--kubelet-preferred-address-types=InternalIP" in args  # what the kubelets' certificates name
    assert {"--kubelet-client-certificate=/etc/metrics-server/kubelet-client.crt",
            "--tls-cert-file=/etc/metrics-server/tls.crt"} <= set(args)  # fmt: skip
    service = one(objects, "APIService")
    assert "insecureSkipTLSVerify" not in service["spec"]
    assert base64.b64decode(service["spec"]["caBundle"]).decode() == PEM
    assert service["spec"]["service"] == {"name": "metrics-server", "namespace": "kube-system", "port": 443}
    secret = one(objects, "Secret")["stringData"]
    assert secret == {"tls.crt": "SERVING", "tls.key": "SKEY", "kubelet-client.crt": "CLIENT",
                      "kubelet-client.key": "CKEY", "kubelet-ca.crt": PEM}  # fmt: skip


def test_metrics_server_pod_is_restricted_and_reads_its_secret() -> None:
    spec = pod_spec(manifests(), "metrics-server")
    assert_restricted(spec)
    certs = next(v for v in spec["volumes"] if v["name"] == "certs")
    assert certs["secret"]["defaultMode"] == 0o440 and spec["securityContext"]["fsGroup"] != 0


def test_metrics_server_rbac() -> None:
    objects = manifests()
    roles = {r["metadata"]["name"]: r["rules"] for r in by_kind(objects, "ClusterRole")}
    assert covers(roles["system:metrics-server"], "", "nodes/metrics", {"get"})
    assert covers(roles["system:metrics-server"], "", "pods", {"get", "list", "watch"})
    bindings = {b["roleRef"]["name"] for b in by_kind(objects, "ClusterRoleBinding") + by_kind(objects, "RoleBinding")}
    assert {"system:auth-delegator", "extension-apiserver-authentication-reader", "system:metrics-server"} <= bindings


def test_metrics_server_certificates_from_the_cluster_ca(tmp_path: Path) -> None:
    pki.ensure_pki(tmp_path, "10.96.0.0/16")
    (serving, _), (client, _), ca = metrics_server.ensure_certificates(tmp_path)
    assert ca == (tmp_path / "ca.crt").read_text()
    for name in (metrics_server.SERVING_LEAF, metrics_server.KUBELET_CLIENT_LEAF):
        verify = ["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / f"{name}.crt")]
        assert subprocess.run(verify, capture_output=True, check=False).returncode == 0
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=serving, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "DNS:metrics-server.kube-system.svc" in text and "TLS Web Server Authentication" in text
    client_text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=client, capture_output=True,
                                 text=True, check=True).stdout  # fmt: skip
    assert "TLS Web Client Authentication" in client_text


def test_millicores() -> None:
    assert metrics_server.millicores("153m") == 153
    assert metrics_server.millicores("2600000n") == 3
    assert metrics_server.millicores("1") == 1000


# -- the control plane ---------------------------------------------------------------------------


def test_the_api_server_has_the_aggregation_layer(tmp_path: Path) -> None:
    pki.ensure_pki(tmp_path / "pki", "10.96.0.0/16")
    flags = ControlPlane(tmp_path, bin_dir=tmp_path)._aggregation_flags()
    assert f"--requestheader-client-ca-file={tmp_path / 'pki' / 'front-proxy-ca.crt'}" in flags
    assert "--requestheader-allowed-names=front-proxy-client" in flags
    for flag in flags:
        if flag.endswith((".crt", ".key")):
            assert Path(flag.partition("=")[2]).exists(), flag
    # The front proxy's client certificate is signed by its own CA, not by the cluster's.
    verify = ["openssl", "verify", "-CAfile"]
    client = str(tmp_path / "pki" / "front-proxy-client.crt")
    assert subprocess.run([*verify, str(tmp_path / "pki" / "front-proxy-ca.crt"), client], check=False,
                          capture_output=True).returncode == 0  # fmt: skip
    assert subprocess.run([*verify, str(tmp_path / "pki" / "ca.crt"), client], check=False,
                          capture_output=True).returncode != 0  # fmt: skip


# -- cert-manager --------------------------------------------------------------------------------


def test_cert_manager_chart_values() -> None:
    images = [Image(f"docker.io/library/streamops-cert-manager-{c}:h{c}", Path("/x")) for c in ("c", "w", "i")]
    values = cert_manager.chart_values(*images)
    assert values["image"] == {"repository": "streamops-cert-manager-c", "tag": "hc", "pullPolicy": "Never"}
    assert values["webhook"]["image"]["repository"] == "streamops-cert-manager-w"
    assert values["cainjector"]["image"]["tag"] == "hi"
    assert values["crds"] == {"enabled": True, "keep": False}
    assert values["startupapicheck"] == {"enabled": False}


def test_cert_manager_issuers() -> None:
    cluster = cert_manager.cluster_issuers()
    assert [o["kind"] for o in cluster] == ["ClusterIssuer", "Certificate", "ClusterIssuer"]
    assert cluster[0]["spec"] == {"selfSigned": {}}
    ca_cert = cluster[1]
    assert ca_cert["metadata"]["namespace"] == cert_manager.NAMESPACE and ca_cert["spec"]["isCA"] is True
    assert cluster[2]["spec"] == {"ca": {"secretName": ca_cert["spec"]["secretName"]}}
    local = cert_manager.namespace_ca("tenant", "ca")
    assert all(o["metadata"]["namespace"] == "tenant" for o in local)
    assert local[1]["spec"]["issuerRef"]["name"] == local[0]["metadata"]["name"]
    assert local[2]["metadata"]["name"] == "ca" and local[2]["kind"] == "Issuer"


def test_cert_manager_renewal_condition() -> None:
    condition = cert_manager.issuing_condition(datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC))
    assert condition["type"] == "Issuing" and condition["status"] == "True"
    assert condition["lastTransitionTime"] == "2026-11-27T01:02:03Z"


# -- the Prometheus Operator ---------------------------------------------------------------------


def test_prometheus_release_of_the_module_version() -> None:
    assert prometheus_operator.prometheus_release("v0.316.0") == "v3.16.0"
    assert prometheus_operator.prometheus_release("v0.305.1") == "v3.5.1"


def test_prometheus_operator_crds_read_as_kubernetes_reads_them(tmp_path: Path) -> None:
    # AlertmanagerConfig's matchType enum has a plain `=`, which PyYAML's safe loader refuses.
    crd = tmp_path / "crd.yaml"
    crd.write_text("enum:\n- '!='\n- =\n- =~\n---\n---\nkind: CustomResourceDefinition\n")
    assert prometheus_operator.load_crds([crd]) == [{"enum": ["!=", "=", "=~"]}, {"kind": "CustomResourceDefinition"}]


def test_prometheus_operator_objects() -> None:
    rules = [{"apiGroups": ["monitoring.coreos.com"], "resources": ["prometheuses"], "verbs": ["*"]}]
    objects = prometheus_operator.operator_manifests("op:1", "reloader:2", rules)
    assert one(objects, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    spec = pod_spec(objects, "prometheus-operator")
    assert_restricted(spec)
    assert "--prometheus-config-reloader=reloader:2" in spec["containers"][0]["args"]
    assert one(objects, "ClusterRole")["rules"] == rules


def test_the_operators_prometheus_selects_every_monitor_and_rule() -> None:
    objects = prometheus_operator.prometheus_manifests("prom:3", "v3.16.0", [])
    spec = one(objects, "Prometheus")["spec"]
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}Selector"] == {} and spec[f"{kind}NamespaceSelector"] == {}
    assert spec["image"] == "prom:3" and spec["version"] == "v3.16.0" and spec["imagePullPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    service = one(objects, "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "prometheus", "prometheus": "streamops"}
    assert service["metadata"]["name"] == "prometheus"  # where ClusterPrometheus.url looks


def test_upstream_rbac_of_the_pinned_operator() -> None:
    operator_rules = prometheus_operator.upstream_rules("prometheus-operator-cluster-role.yaml")
    assert covers(operator_rules, "apps", "statefulsets", {"*"})
    assert covers(operator_rules, "monitoring.coreos.com", "prometheuses/status", {"*"})
    upstream = prometheus_operator.upstream_rules("prometheus-cluster-role.yaml")
    prometheus_rules = [r for r in upstream if "apiGroups" in r]  # (not the nonResourceURLs one)
    assert covers(prometheus_rules, "", "endpoints", {"get", "list", "watch"})
    assert covers(prometheus_rules, "discovery.k8s.io", "endpointslices", {"get", "list", "watch"})


def test_a_static_image_keeps_its_binary_where_upstreams_does(tmp_path: Path) -> None:
    """The Prometheus Operator sets /bin/prometheus-config-reloader as the command and mounts the TSDB
    at /prometheus: the binary at a path of its own, directories included, the tag following it."""
    binary = tmp_path / "reloader"
    binary.write_bytes(b"\x7fELF not really")
    binary.chmod(0o755)
    builder = ImageBuilder(tmp_path / "cache", log=lambda _msg: None)
    config = {"Entrypoint": ["/bin/prometheus-config-reloader"], "User": "65532:65532", "WorkingDir": "/"}
    image = builder._static("reloader", binary, "never-run.sh", config, "/bin/prometheus-config-reloader")
    with tarfile.open(image.archive) as archive:
        manifest = json.load(archive.extractfile("./manifest.json"))  # type: ignore[arg-type]
        layer = archive.extractfile(f"./{manifest[0]['Layers'][0]}").read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(layer)) as files:
        members = {m.name: m for m in files.getmembers()}
    assert set(members) == {".", "./bin", "./bin/prometheus-config-reloader"}
    assert members["./bin/prometheus-config-reloader"].mode & 0o777 == 0o755
    assert builder._static("reloader", binary, "never-run.sh", config).version != image.version  # path in the tag
