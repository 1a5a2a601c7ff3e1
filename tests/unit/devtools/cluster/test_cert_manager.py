"""The cert-manager add-on as objects (devtools.cluster.cert_manager): its chart gets the images built here
and no Job that needs cmctl; the issuers; the renewal condition."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from devtools.cluster import cert_manager
from devtools.cluster.images import Image


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
