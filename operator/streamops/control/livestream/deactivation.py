"""A pull stream's deactivation, kept as an annotation on the LiveStream so that it outlives the
ingest Pod (and the worker's memory, where it starts) and the operator: what it says, when it is in
force, and the worker's report that the reconciler records. Why there, and what ends it:
docs/design/pull-deactivation.md."""

from __future__ import annotations

import json
from dataclasses import dataclass

from streamops.api import LiveStream
from streamops.api.common import GROUP
from streamops.contract.ingest import IngestStatus
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Body, Manifest

# On the LiveStream: {"uid": …, "generation": …, "reason": …}. Users remove it to activate the stream
# again without changing its spec (`kubectl annotate livestream <name> streaming.streamops.dev/deactivated-`).
DEACTIVATED_ANNOTATION = f"{GROUP}/deactivated"
REASON_MAX = 512  # (the worker's reason is one short sentence; the annotation is read back from users' edits)
NO_DATA = "no data from any pull URL"  # a worker that says nothing more


@dataclass(frozen=True)
class Deactivation:
    """The ingest of this object (uid) at this spec (generation) gave up pulling, and why."""

    uid: str
    generation: int
    reason: str

    def annotation(self) -> str:
        record = {"uid": self.uid, "generation": self.generation, "reason": self.reason}
        return json.dumps(record, separators=(",", ":"))

    @classmethod
    def parse(cls, value: str | None) -> Deactivation | None:
        """None for anything but a record this module wrote (a hand-edited value ends the deactivation)."""
        if not value:
            return None
        try:
            data = json.loads(value)
            uid, generation, reason = data["uid"], data["generation"], data["reason"]
        except (ValueError, TypeError, KeyError):
            return None
        if not isinstance(uid, str) or not isinstance(generation, int) or not isinstance(reason, str):
            return None
        return cls(uid, generation, reason[:REASON_MAX])


def annotation_value(body: Body) -> str | None:
    """The annotation as it is on an object (a plain body or kopf's)."""
    value = ((body.get("metadata") or {}).get("annotations") or {}).get(DEACTIVATED_ANNOTATION)
    return value if isinstance(value, str) else None


def in_force(stream: LiveStream) -> Deactivation | None:
    """The recorded deactivation while it holds: recorded for this very object at its current spec, a
    pull stream switched on. A spec change (a new generation: new URLs, `active` toggled, anything),
    the object created anew (another uid) or the annotation removed ends it."""
    recorded = Deactivation.parse(stream.metadata.annotations.get(DEACTIVATED_ANNOTATION))
    if recorded is None or stream.spec.source.pull is None or not stream.spec.active:
        return None
    if (recorded.uid, recorded.generation) != (stream.metadata.uid, stream.metadata.generation):
        return None
    return recorded


def annotation_patch(deactivation: Deactivation | None) -> Manifest:
    """The merge patch that records a deactivation on the LiveStream, or (None) removes the record."""
    return {"metadata": {"annotations": {DEACTIVATED_ANNOTATION: deactivation.annotation() if deactivation else None}}}


@dataclass(frozen=True)
class WorkerReport:
    """A primary ingest's worker says it deactivated itself (its Pod, and why)."""

    pod_uid: str
    reason: str


def worker_report(pod: PodObservation | None, telemetry: IngestStatus | None) -> WorkerReport | None:
    if pod is None or not pod.exists or pod.deleting or not pod.uid or telemetry is None or telemetry.active:
        return None
    return WorkerReport(pod.uid, (telemetry.deactivated_reason or NO_DATA)[:REASON_MAX])


def deactivated_message(reason: str) -> str:
    """Ready's message (and the Event's): why, and what activates the stream again."""
    return (
        f"pull stream deactivated: {reason}. It stays deactivated, with no ingest running, until its spec "
        f"changes or the annotation {DEACTIVATED_ANNOTATION} is removed"
    )[:1024]
