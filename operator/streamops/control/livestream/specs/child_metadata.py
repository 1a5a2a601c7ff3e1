"""The metadata every child of a LiveStream carries: name, labels, owner, managed annotations."""

from __future__ import annotations

import json

from streamops.api import LiveStream
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    MANAGED_ANNOTATIONS_ANNOTATION,
    STREAM_NAME_ANNOTATION,
    child_labels,
    owner_reference,
)


def _owner(stream: LiveStream) -> Manifest:
    assert stream.metadata.uid, "an object read from the API server has a uid"
    return owner_reference(stream.kind, stream.metadata.name, stream.metadata.uid)


def child_metadata(stream: LiveStream, name: str, component: str) -> Manifest:
    return {
        "name": name,
        "namespace": stream.metadata.namespace,
        "labels": child_labels(stream.metadata.name, component),
        "annotations": {STREAM_NAME_ANNOTATION: stream.metadata.name},
        "ownerReferences": [_owner(stream)],
    }


def labelled(metadata: Manifest, labels: dict[str, str]) -> Manifest:
    return {**metadata, "labels": {**metadata["labels"], **labels}}


def with_managed_list(annotations: dict[str, str]) -> dict[str, str]:
    """Annotations plus the list of their keys, so that a key dropped from the spec is removed
    from the object later (and the operator's index keeps what it manages)."""
    keys = sorted(k for k in annotations if k != MANAGED_ANNOTATIONS_ANNOTATION)
    return {**annotations, MANAGED_ANNOTATIONS_ANNOTATION: json.dumps(keys)}
