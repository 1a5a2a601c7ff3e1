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
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

KUBECONFIG = os.environ.get("STREAMOPS_E2E_KUBECONFIG", "")
collect_ignore_glob = [] if KUBECONFIG else ["test_*.py"]


class Kube:
    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.kubectl_bin = os.environ.get("STREAMOPS_E2E_KUBECTL") or shutil.which("kubectl") or "kubectl"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", plural, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return json.loads(result.stdout)


@pytest.fixture(scope="session")
def kube() -> Kube:
    return Kube(KUBECONFIG)


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
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
