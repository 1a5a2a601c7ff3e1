"""A LiveStream's ladder when it names a quality set (`spec.transcoding.qualitySetRef`): the set as
the operator's watch holds it, and the stream as its workers are built from it, the set's renditions
in place of the reference. The ingest's, the recorder's and the clipper's configurations are then
what an inline ladder gives: no worker knows of sets (docs/design/quality-sets.md)."""

from __future__ import annotations

from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.livestream import QualitySetRef, Rendition, Transcoding

# The configuration parts of an ingest Pod that a quality set decides (workers/restarts.py,
# BUILT_FROM_ANNOTATION): a change there is the set's, not the stream's spec's.
LADDER_PARTS = "config.transcoding."


@dataclass(frozen=True)
class QualitySetLookup:
    """The set a stream names, as read: its renditions, or None when there is no such set (or the
    operator cannot use it: `problem` says why)."""

    ref: QualitySetRef
    renditions: tuple[Rendition, ...] | None
    problem: str | None = None

    @property
    def missing(self) -> bool:
        return self.renditions is None

    @property
    def reference(self) -> str:
        """`QualitySet/hd`, `ClusterQualitySet/default`: what a Pod built from it records."""
        return f"{self.ref.kind}/{self.ref.name}"

    def message(self, namespace: str) -> str:
        """Why the stream cannot have its ladder, as its Ready condition says it."""
        where = f" in namespace {namespace}" if self.ref.kind == "QualitySet" else ""
        why = self.problem or "does not exist"
        return (
            f"{self.ref.kind} {self.ref.name}{where}, named in spec.transcoding.qualitySetRef, {why}: a running "
            "ingest keeps the ladder it has, none is started until the set exists"
        )


def quality_set_ref(stream: LiveStream) -> QualitySetRef | None:
    transcoding = stream.spec.transcoding
    return transcoding.quality_set_ref if transcoding is not None else None


def resolved(stream: LiveStream, lookup: QualitySetLookup | None) -> LiveStream:
    """The stream with the set's renditions inline and no reference (unchanged when it names no
    set, or the set is missing: nothing is built from such a stream's ladder)."""
    if lookup is None or lookup.renditions is None:
        return stream
    spec = stream.spec.model_copy(update={"transcoding": Transcoding(renditions=list(lookup.renditions))})
    return stream.model_copy(update={"spec": spec})
