"""What a make-before-break handover of an ingest writes on its Pods (docs/design/handover.md): the
serving label its Services select, and the annotations that let the operator resume a handover
from what it observes (an operator restarted mid-handover has no memory of it). Pure: names,
parsing, the patches as data, and which of a role's two Pods serves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from streamops.api.common import GROUP
from streamops.kube.manifests import Body, Manifest, timestamp

# The ingest Pod the role's Services (external, internal, regions) send traffic to. A successor
# gets it before its predecessor loses it: the Services never have zero endpoints.
SERVING_LABEL = f"{GROUP}/serving"
SERVING = "true"
# On a predecessor from just before its successor takes the Services until the operator deletes it
# (or the handover fails): its own PodDisruptionBudget selects it, not the serving one, so a drain
# cannot evict it between the two label patches (both serving) nor while it releases.
RELEASING_LABEL = f"{GROUP}/releasing"
RELEASING = "true"
# On a successor, from its creation: its predecessor's uid (uids never repeat, names do: the two
# slots take turns) and the first difference it was made for.
SUCCESSOR_OF_ANNOTATION = f"{GROUP}/successor-of"
HANDOVER_FOR_ANNOTATION = f"{GROUP}/handover-for"
# On a predecessor, with the serving label's removal (one patch): when it stopped serving.
HANDED_OVER_AT_ANNOTATION = f"{GROUP}/handed-over-at"
# On a serving Pod whose successor failed: JSON {"at", "count", "why"}; the next try waits.
HANDOVER_FAILED_ANNOTATION = f"{GROUP}/handover-failed"

RETRY_FIRST_SECONDS = 30.0  # after the first failure; doubled after each further one
RETRY_MAX_SECONDS = 600.0


def _annotations(pod: Body | None) -> Body:
    return ((pod or {}).get("metadata") or {}).get("annotations") or {}


def is_serving(pod: Body | None) -> bool:
    labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
    return bool(labels.get(SERVING_LABEL) == SERVING)


def successor_of(pod: Body | None) -> str:
    return str(_annotations(pod).get(SUCCESSOR_OF_ANNOTATION) or "")


def handover_for(pod: Body | None) -> str:
    return str(_annotations(pod).get(HANDOVER_FOR_ANNOTATION) or "")


def handed_over_at(pod: Body | None) -> datetime | None:
    return timestamp(_annotations(pod).get(HANDED_OVER_AT_ANNOTATION))


@dataclass(frozen=True)
class HandoverFailure:
    """The last failed handover of a serving Pod: when, how many in a row, why."""

    at: datetime
    count: int
    why: str

    @property
    def retry_at(self) -> datetime:
        """When the next successor may be made: 30 s after the first failure, doubling, ≤ 10 min."""
        wait = min(RETRY_FIRST_SECONDS * 2 ** max(self.count - 1, 0), RETRY_MAX_SECONDS)
        return self.at + timedelta(seconds=wait)

    def record(self) -> str:
        return json.dumps({"at": self.at.strftime("%Y-%m-%dT%H:%M:%SZ"), "count": self.count, "why": self.why})

    @staticmethod
    def parse(raw: str | None) -> HandoverFailure | None:
        try:
            found = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(found, dict):
            return None
        at = timestamp(found.get("at"))
        count = found.get("count")
        if at is None or not isinstance(count, int):
            return None
        return HandoverFailure(at, count, str(found.get("why") or ""))


def handover_failure(pod: Body | None) -> HandoverFailure | None:
    return HandoverFailure.parse(_annotations(pod).get(HANDOVER_FAILED_ANNOTATION))


def serve_patch() -> Manifest:
    """The successor takes the Services."""
    return {"metadata": {"labels": {SERVING_LABEL: SERVING}}}


def hold_patch() -> Manifest:
    """The predecessor, as its successor takes the Services: under its releasing budget."""
    return {"metadata": {"labels": {RELEASING_LABEL: RELEASING}}}


def release_patch(at: datetime) -> Manifest:
    """The predecessor leaves them, and says since when (the release's bound counts from it)."""
    return {
        "metadata": {
            "labels": {SERVING_LABEL: None, RELEASING_LABEL: RELEASING},
            "annotations": {HANDED_OVER_AT_ANNOTATION: at.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }
    }


def failure_patch(failure: HandoverFailure) -> Manifest:
    """The record, and the predecessor back under its serving budget (it serves on)."""
    return {
        "metadata": {"labels": {RELEASING_LABEL: None}, "annotations": {HANDOVER_FAILED_ANNOTATION: failure.record()}}
    }


@dataclass(frozen=True)
class Marks:
    """What `serving_pair` needs of a Pod (PodObservation has these fields; so does `marks_of`)."""

    name: str
    uid: str
    exists: bool
    deleting: bool
    serving: bool
    successor_of: str


def marks_of(name: str, pod: Body | None) -> Marks:
    meta = (pod or {}).get("metadata") or {}
    return Marks(
        name,
        str(meta.get("uid") or ""),
        pod is not None,
        bool(meta.get("deletionTimestamp")),
        is_serving(pod),
        successor_of(pod),
    )


def serving_index(pods: Sequence[Marks]) -> int | None:
    """Which of a role's Pods (slot order) serves: the one labelled; of two labelled (a handover
    between its two label patches) the successor; of none labelled (a Pod from an operator before
    handovers, or a successor whose predecessor is gone) the one that is no one's successor, else
    any. Deleting Pods serve only when nothing else can."""
    present = [i for i, p in enumerate(pods) if p.exists]
    if not present:
        return None
    alive = [i for i in present if not pods[i].deleting] or present
    labelled = [i for i in alive if pods[i].serving]
    if len(labelled) == 1:
        return labelled[0]
    candidates = labelled or alive
    uids = {pods[i].uid for i in candidates}
    if labelled:
        newer = [i for i in candidates if pods[i].successor_of in uids]
        return (newer or candidates)[0]
    plain = [i for i in candidates if pods[i].successor_of not in uids]
    return (plain or candidates)[0]
