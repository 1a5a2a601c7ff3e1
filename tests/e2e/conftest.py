"""End-to-end tests against a cluster where streamops is installed with the chart and worker Pods
really run.

- By default: the session's local pod-network cluster (the `local_cluster` and `release` fixtures
  of tests/conftest.py: 2 nodes, kube-proxy, CoreDNS, `helm install` with the images built here),
  so `make test` runs them everywhere.
- With STREAMOPS_E2E_KUBECONFIG (and optionally STREAMOPS_E2E_KUBECTL): that cluster, where the
  chart is already installed (kind: `make kind-e2e`, GitHub Actions .github/workflows/kind-e2e.yaml).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from devtools.cluster.kubectl import Kubectl

KUBECONFIG = os.environ.get("STREAMOPS_E2E_KUBECONFIG", "")


def kube_client() -> Kubectl:
    """kubectl against the installed cluster (STREAMOPS_E2E_KUBECTL, else the one on PATH)."""
    binary = os.environ.get("STREAMOPS_E2E_KUBECTL") or shutil.which("kubectl") or "kubectl"
    return Kubectl(binary, KUBECONFIG)


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Kubectl:
    if KUBECONFIG:
        return kube_client()
    release = request.getfixturevalue("release")  # the local cluster, chart installed
    return Kubectl(release.cluster.binary, release.cluster.kubeconfig)


@pytest.fixture
def namespace(kube: Kubectl) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "v1",
        "kind": "Namespace",
        # Worker Pods (without hostNetwork) are `restricted`-compliant: let the cluster enforce it.
        "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(body))
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")
