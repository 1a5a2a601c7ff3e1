"""Cluster suite: a real etcd + kube-apiserver + kube-controller-manager (devtools.cluster.controlplane),
started once per test session on 127.0.0.1 and stopped at the end, with the CRDs from crds/
applied by kubectl and the operator run as a real `streamops operator` process (devtools.cluster.suite:
under its own ServiceAccount, hostNetwork workers).

No kubelet runs in this tier: Pods stay unscheduled unless a test sets their status itself
(as a kubelet would) through the pods/status subresource, or runs the Pod's worker as a local
process (devtools.cluster.local_pods).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtools.cluster import suite as cluster_harness
from devtools.cluster.local_pods import LocalPods
from devtools.cluster.suite import Cluster, Operator
from devtools.waits import eventually


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_harness.started_cluster(tmp_path_factory.mktemp("controlplane")) as c:
        yield c


@pytest.fixture(scope="session")
def operator(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    workdir = tmp_path_factory.mktemp("operator")
    # Looked up at call time: `-p devtools.chart_rbac_plugin` replaces it with the chart's RBAC.
    kubeconfig = cluster_harness.operator_kubeconfig(cluster, workdir / "kubeconfig")
    op = Operator(cluster, workdir / "operator.log", kubeconfig)
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    # Through the API client, as `kubectl create namespace` / `delete --wait=false` would (a kubectl
    # process each cost ≈0.5 s of a loaded CI machine, twice per test of the tier). Ready once the
    # controller-manager gave it its `default` ServiceAccount, which Pods need (kubectl's start-up
    # used to leave it that time).
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    eventually(lambda: cluster.get("serviceaccounts", name, "default"), what=f"ServiceAccount default in {name}")
    yield name
    cluster.core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def local_pods(cluster: Cluster, tmp_path: Path) -> Iterator[LocalPods]:
    """Worker Pods run as local processes (devtools.cluster.local_pods); all stopped at teardown."""
    pods = LocalPods(cluster, tmp_path)
    try:
        yield pods
    finally:
        pods.stop_all()
