"""The metrics-server add-on as objects (devtools.cluster.metrics_server): it verifies the kubelets with
the cluster's CA and is verified by the API server (no insecure flag anywhere), its Pod passes
PodSecurity `restricted`, its certificates come from the cluster's CA."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

from devtools.cluster import metrics_server

from devtools import pki
from tests.unit.devtools.cluster.test_addons import assert_restricted, by_kind, covers, one

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def pod_spec(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = next(o for o in by_kind(objects, "Deployment") if o["metadata"]["name"] == name)
    return dict(deployment["spec"]["template"]["spec"])


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
    assert "--kubelet-request-timeout=9s" in args  # under the 10 s resolution the tests ask for, as it must be
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
