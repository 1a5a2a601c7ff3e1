"""A quality set's status, from its spec and the streams that name it (pure)."""

from __future__ import annotations

from datetime import datetime

from streamops.api import QualitySet
from streamops.api.quality_set import QualitySetStatus
from streamops.control.qualityset import reasons
from streamops.control.shared.conditions import READY, Observed, merge_conditions


def quality_set_status(quality_set: QualitySet, streams: int, now: datetime) -> QualitySetStatus:
    """`streams`: the LiveStreams that name the set (the operator's index of references)."""
    previous = quality_set.status or QualitySetStatus()
    generation = quality_set.metadata.generation
    qualities = [r.name for r in quality_set.spec.tallest_first()]
    used = f"used by {streams} LiveStream{'' if streams == 1 else 's'}"
    message = (
        f"{len(qualities)} rendition(s) ({', '.join(qualities)}), {used}; a change reaches each at its next session"
    )
    ready = Observed(READY, "True", reasons.ACCEPTED, message)
    return QualitySetStatus(
        observed_generation=generation,
        conditions=merge_conditions(previous.conditions, [ready], generation, now),
        qualities=qualities,
        streams=streams,
    )
