"""The workers' NetworkPolicies put into each namespace with workers by a cluster-wide operator
(control/workers/worker_network_policies.py), as the chart ships them (its ConfigMap's file)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from devtools.fake_kube import FakeKubeApi
from streamops.control.workers.worker_network_policies import WorkerNetworkPolicies

POLICIES = [
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "streamops-ingest", "labels": {"app.kubernetes.io/name": "streamops"}},
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "ingest"}}, "policyTypes": ["Ingress"]},
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "streamops-recorder"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "recorder"}},
            "policyTypes": ["Ingress"],
        },
    },
]


def write(tmp_path: Path, policies: list[dict]) -> str:
    path = tmp_path / "policies.yaml"
    path.write_text(yaml.safe_dump(policies))
    return str(path)


def test_each_namespace_gets_the_policies_once_and_a_changed_one_is_patched(tmp_path: Path) -> None:
    api, actuator = FakeKubeApi(), WorkerNetworkPolicies()
    path = write(tmp_path, POLICIES)
    actuator.ensure(api, "studio-a", path)
    actuator.ensure(api, "studio-b", path)
    for namespace in ("studio-a", "studio-b"):
        for policy in POLICIES:
            created = api.object("NetworkPolicy", namespace, policy["metadata"]["name"])
            assert created is not None and created["spec"] == policy["spec"]
    api.clear_calls()
    actuator.ensure(api, "studio-a", path)
    assert api.writes == [] and api.server_reads == [], "a namespace with the current set is not read again"

    changed = [POLICIES[0], {**POLICIES[1], "spec": {**POLICIES[1]["spec"], "policyTypes": ["Ingress", "Egress"]}}]
    write(tmp_path, changed)
    (tmp_path / "policies.yaml").touch()
    actuator.ensure(api, "studio-a", path)
    patched = api.object("NetworkPolicy", "studio-a", "streamops-recorder")
    assert patched is not None and patched["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [(c.verb, c.name) for c in api.writes] == [("patch", "streamops-recorder")]


def test_no_file_no_policies_and_a_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    api, actuator = FakeKubeApi(), WorkerNetworkPolicies()
    actuator.ensure(api, "studio-a", "")
    assert api.writes == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("- kind: Pod\n  metadata: {name: x}\n")
    with pytest.raises(ValueError, match="not a list of NetworkPolicies"):
        actuator.ensure(api, "studio-a", str(bad))
