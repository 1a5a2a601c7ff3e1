"""The recordings volume an admin provides to a namespace in the local clusters: a directory of this
machine (so the tests see the videos the recorder Pods write) as a PersistentVolume pre-bound to the
namespace's recordings claim, and the claim itself, bound before the first Recording."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devtools.cluster.kubectl import Kubectl
from devtools.waits import eventually

RECORDINGS_CLAIM = "streamops-recordings"


def recordings_volume_objects(directory: Path, namespace: str, claim: str, node: str | None) -> list[dict[str, Any]]:
    """`node` None: a hostPath volume (the single node); else a `local` volume on that node, which
    makes the scheduler put every Pod of the claim there."""
    pv_name = f"recordings-{namespace}"
    source: dict[str, Any] = {"hostPath": {"path": str(directory), "type": "Directory"}}
    if node is not None:
        on_node = {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
        source = {
            "local": {"path": str(directory)},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [on_node]}]}},
        }
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "labels": {"streamops.dev/test": "true"}},
        "spec": {
            "capacity": {"storage": "20Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            **source,
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }
    # The claim the operator would create on the first Recording, made (and bound) up front as an
    # admin would: a first Recording then does not wait for the volume binder.
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim, "namespace": namespace},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "volumeName": pv_name,
            "resources": {"requests": {"storage": "20Gi"}},
        },
    }
    return [pv, pvc]


def provide_recordings_volume(
    kube: Kubectl, directory: Path, namespace: str, claim: str = RECORDINGS_CLAIM, node: str | None = None
) -> Path:
    """Make `directory` (world-writable: a hostPath or local volume gets no fsGroup, and the workers
    run as uid 10001), apply the volume and the claim, wait until bound; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)
    items = recordings_volume_objects(directory, namespace, claim, node)
    kube.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    eventually(
        lambda: (c := kube.get("pvc", namespace, claim)) and c.get("status", {}).get("phase") == "Bound",
        timeout=30,
        what="recordings claim Bound",
    )
    return directory
