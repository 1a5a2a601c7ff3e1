"""The patch that makes a Restream belong to its stream (deleting the stream deletes it)."""

from __future__ import annotations

from streamops.api import API_VERSION, LiveStream
from streamops.kube.manifests import Manifest


def stream_owner_reference(stream: LiveStream) -> Manifest:
    """Restreams belong to their stream (deleting the stream deletes them) without being controlled
    by it: controller stays with whoever applied the Restream."""
    assert stream.metadata.uid
    return {
        "apiVersion": API_VERSION,
        "kind": "LiveStream",
        "name": stream.metadata.name,
        "uid": stream.metadata.uid,
    }


def restream_owner_patch(restream_meta: Manifest, stream: LiveStream) -> Manifest | None:
    """A merge patch adding the stream to the Restream's ownerReferences (None when present)."""
    refs = list(restream_meta.get("ownerReferences") or [])
    if any(r.get("uid") == stream.metadata.uid for r in refs):
        return None
    # References to an earlier stream of the same name are stale: replace them.
    refs = [r for r in refs if not (r.get("kind") == "LiveStream" and r.get("name") == stream.metadata.name)]
    return {"metadata": {"ownerReferences": [*refs, stream_owner_reference(stream)]}}
