"""The QualitySet a stream names, as read from the API (quality_sets.py: what is done with it, pure)."""

from __future__ import annotations

from pydantic import ValidationError

from streamops.api import LiveStream
from streamops.api.kinds import QUALITY_SET_KINDS
from streamops.api.quality_set import QualitySetSpec
from streamops.control.shared.quality_sets import QualitySetLookup, quality_set_ref
from streamops.kube.reads import KubeReads


def read_quality_set(api: KubeReads, stream: LiveStream) -> QualitySetLookup | None:
    """The set the stream names (None: it names none). From the operator's watch of the sets when it
    has one (KubeApi.watched), else a GET."""
    ref = quality_set_ref(stream)
    if ref is None:
        return None
    kind = QUALITY_SET_KINDS[ref.kind]
    raw = api.get_custom(kind, stream.metadata.namespace or "" if kind.namespaced else "", ref.name)
    if raw is None or raw.get("metadata", {}).get("deletionTimestamp"):
        return QualitySetLookup(ref, None)
    try:
        spec = QualitySetSpec.model_validate(raw.get("spec") or {})
    except ValidationError as e:  # a CRD older or newer than the operator: the set's own status says more
        return QualitySetLookup(ref, None, f"cannot be used ({e.errors()[0]['msg']})")
    return QualitySetLookup(ref, tuple(spec.renditions))
