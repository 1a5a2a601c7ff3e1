"""kubectl against one cluster, for the harness (tests, the stack, the control plane, benchmarks): run it, apply
manifests, get and list objects as JSON. Errors raise AssertionError with kubectl's message."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition `type_` in an object's status.conditions, None when absent."""
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return None


class Kubectl:
    def __init__(self, binary: Path | str, kubeconfig: Path | str, timeout: float = 120) -> None:
        self.binary, self.kubeconfig, self.timeout = str(binary), Path(kubeconfig), timeout

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=self.timeout,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, namespace: str, *manifests: dict[str, Any]) -> None:
        items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(items))

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", plural, name, "-n", namespace, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(result.stderr)
        return dict(json.loads(result.stdout))

    def list(self, plural: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", plural, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", selector]
        return list(json.loads(self.kubectl(*args).stdout)["items"])
