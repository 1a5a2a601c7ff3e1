"""The Recording `recording.auto` keeps for a LiveStream."""

from __future__ import annotations

from streamops.api import API_VERSION, LiveStream
from streamops.kube.manifests import Manifest
from streamops.kube.naming import (
    child_labels,
    owner_reference,
)


def auto_recording_name(stream_name: str) -> str:
    return f"{stream_name}-auto"[:253]


def auto_recording(stream: LiveStream) -> Manifest:
    """The Recording `recording.auto` keeps for a stream: owned by the stream, settings from it."""
    assert stream.metadata.uid
    return {
        "apiVersion": API_VERSION,
        "kind": "Recording",
        "metadata": {
            "name": auto_recording_name(stream.metadata.name),
            "namespace": stream.metadata.namespace,
            "labels": child_labels(stream.metadata.name, "auto-recording"),
            "ownerReferences": [owner_reference("LiveStream", stream.metadata.name, stream.metadata.uid)],
        },
        "spec": {"streamRef": {"name": stream.metadata.name}},
    }
