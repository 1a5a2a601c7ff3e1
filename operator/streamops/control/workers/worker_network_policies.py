"""The workers' NetworkPolicies in each namespace where the operator runs workers. A cluster-wide
install cannot template them there (the chart does not know the namespaces of LiveStreams): it
ships them, without a namespace, in the ConfigMap <release>-worker-network-policies, mounted into
the operator (OperatorSettings.worker.network_policies_file). Before a stream's first worker the
operator creates them in its namespace, and patches one whose spec differs from the chart's; once
a namespace has the current set it is not read again (an operator restart checks once more). With
`watchNamespaces` the chart renders them itself and mounts no file. docs/design/network-policy.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import yaml

from streamops.kube.client import KubeApi
from streamops.kube.manifests import Manifest


class WorkerNetworkPolicies:
    def __init__(self) -> None:
        self._file: tuple[str, float, int] | None = None  # path, mtime, size of what `_policies` holds
        self._policies: list[Manifest] = []
        self._digest = ""
        self._done: dict[str, str] = {}  # namespace -> the digest it was brought to
        self._lock = threading.Lock()  # reconciles run in API threads

    def _load(self, path: str) -> tuple[list[Manifest], str]:
        """The file's policies, read again when it changes (the kubelet swaps an updated ConfigMap in)."""
        stat = os.stat(path)
        key = (path, stat.st_mtime, stat.st_size)
        if key != self._file:
            loaded = yaml.safe_load(Path(path).read_text()) or []
            if not isinstance(loaded, list) or not all(
                isinstance(p, dict) and p.get("kind") == "NetworkPolicy" for p in loaded
            ):
                raise ValueError(f"{path}: not a list of NetworkPolicies")
            self._policies = loaded
            self._digest = hashlib.sha256(json.dumps(loaded, sort_keys=True).encode()).hexdigest()
            self._file = key
        return self._policies, self._digest

    def ensure(self, api: KubeApi, namespace: str, path: str) -> None:
        """`namespace` has the policies of `path` (no file configured: nothing to do)."""
        if not path:
            return
        with self._lock:
            policies, digest = self._load(path)
            if self._done.get(namespace) == digest:
                return
        for policy in policies:
            metadata = {**policy["metadata"], "namespace": namespace}
            desired = {**policy, "metadata": metadata}
            current = api.get("NetworkPolicy", namespace, metadata["name"])
            if current is None:
                api.create(desired)
            elif current.get("spec") != desired.get("spec"):
                api.patch("NetworkPolicy", namespace, metadata["name"], {"spec": desired.get("spec")})
        with self._lock:
            self._done[namespace] = digest


WORKER_NETWORK_POLICIES = WorkerNetworkPolicies()  # one per operator process
