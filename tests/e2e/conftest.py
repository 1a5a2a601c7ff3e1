"""End-to-end tests against a cluster where streamops is installed with the chart and worker Pods
really run (kind: `make kind-e2e`, GitHub Actions .github/workflows/kind-e2e.yaml).

They need STREAMOPS_E2E_KUBECONFIG (and optionally STREAMOPS_E2E_KUBECTL); without it this
directory is not collected at all (no skips: under CI=true a skip fails the run), which is the case
in `make test` on machines without a Docker engine.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from devtools.kubectl import Kubectl

KUBECONFIG = os.environ.get("STREAMOPS_E2E_KUBECONFIG", "")
collect_ignore_glob = [] if KUBECONFIG else ["test_*.py"]


def kube_client() -> Kubectl:
    """kubectl against the installed cluster (STREAMOPS_E2E_KUBECTL, else the one on PATH)."""
    binary = os.environ.get("STREAMOPS_E2E_KUBECTL") or shutil.which("kubectl") or "kubectl"
    return Kubectl(binary, KUBECONFIG)


@pytest.fixture(scope="session")
def kube() -> Kubectl:
    return kube_client()


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
