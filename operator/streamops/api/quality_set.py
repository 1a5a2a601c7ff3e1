"""QualitySet and ClusterQualitySet: a named transcoding ladder that LiveStreams reference
(`spec.transcoding.qualitySetRef`) instead of inlining it, the hosted platform's quality sets
(`quality_set_id`, GET /quality_sets). The renditions are the LiveStream's own `Rendition` model:
one definition, one set of bounds (docs/design/quality-sets.md)."""

from __future__ import annotations

from pydantic import Field

from streamops.api.common import Condition, ConditionedStatus, KubeModel, conditions_field
from streamops.api.livestream import RENDITIONS_MAX, Rendition


class QualitySetSpec(KubeModel):
    """The ladder: the renditions every LiveStream that references the set transcodes into."""

    description: str = Field(
        default="", max_length=1024, description="Free text for people choosing a set (not used by the operator)."
    )
    renditions: list[Rendition] = Field(
        min_length=1,
        max_length=RENDITIONS_MAX,
        description=f"1..{RENDITIONS_MAX} x264 renditions, as a LiveStream's spec.transcoding.renditions: one "
        "multivariant HLS playlist, the tallest also the transcoded feed for recordings and restreams. A change "
        "reaches each stream that uses the set at its next session: a live ingest keeps its ladder until its "
        "publisher stops (its condition RestartPending says so meanwhile).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    def tallest_first(self) -> list[Rendition]:
        """The ladder as a stream's ingest encodes it (equal heights in list order)."""
        return sorted(self.renditions, key=lambda r: -r.height)


class QualitySetStatus(ConditionedStatus):
    """Observed state of the set, written by the operator."""

    conditions: list[Condition] = conditions_field(
        "Ready: True once the operator has read this generation of the set (its streams get it at their next "
        "session); False with InvalidSpec when the operator cannot use it."
    )
    qualities: list[str] | None = Field(
        default=None,
        max_length=RENDITIONS_MAX,
        description="The renditions by name, tallest first (as a stream's status.transcodedQualities lists them).",
        json_schema_extra={"items": {"type": "string", "maxLength": 32}},
    )
    streams: int | None = Field(
        default=None,
        ge=0,
        description="How many LiveStreams reference the set (of the namespaces the operator watches; for a "
        "QualitySet, of its own namespace).",
    )
