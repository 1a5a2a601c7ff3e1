"""keepOrigin's retention, a policy of a Recording's decide (decide.py; pure): the originals whose
deleteAt has passed (retention.origin_expiry_due, over the status last written) are deleted, at most
every retention_interval_seconds. In a bucket the operator deletes them itself (a DeleteOrigins action:
the original and its sidecar, with the storage's credentials, as retention deletes videos); on a claim,
which the operator cannot reach, a reconcile is asked to make a one-shot Pod that mounts it and
deletes them (plan.plan_origin_expiry, specs/origin_expiry_pod.py, `streamops worker expire`); once the
pod index shows it ended, a reconcile naming it removes it and its outcome says what it did. The status
function then marks each `origin.expiredAt` and an OriginExpired Event names it; the video stays. A
failure (Secret refused, bucket error, the Pod Failed or stuck) posts one OriginExpiryFailed Warning per
streak and is tried again at the next round."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from streamops.api.recording import RecordingStorage, Video
from streamops.control.recording.outcome import ExpiryPodEnded
from streamops.control.runtime.decisions import LoopFacts, PostEvent
from streamops.control.storage.retention_policy import Deleted, DeleteOrigins, Retention, after_deletion
from streamops.control.storage.video_expiry import ORIGIN_EXPIRY_FAILED, origin_expiry_due
from streamops.control.workers.pod_observation import PodObservation

ENDED = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Origins:
    """The memory of the originals' retention: the retention's (what was deleted, when it last
    looked, whether it fails), the ended expiry Pod a reconcile was asked to remove (uid, and the
    loop's reconcile count then: asked again once a later reconcile gave no word of it, the asked one
    having failed), and the last one whose end was taken."""

    retention: Retention = field(default_factory=Retention)
    asked: tuple[str, int] = ("", -1)
    taken: str = ""


@dataclass(frozen=True)
class OriginsDecided:
    """What the policy decided: its Events, the bucket's deletion, and what a reconcile is asked."""

    events: tuple[PostEvent, ...] = ()
    delete: DeleteOrigins | None = None
    reconcile: tuple[tuple[str, str | bool], ...] = ()  # its one-off hints (none: no reconcile asked)


def _failed(memory: Origins, message: str) -> tuple[list[PostEvent], Origins]:
    events = [] if memory.retention.failing else [PostEvent("Warning", ORIGIN_EXPIRY_FAILED, message[:1000])]
    return events, replace(memory, retention=replace(memory.retention, failing=True))


def _taken(memory: Origins, ended: ExpiryPodEnded, facts: LoopFacts) -> tuple[list[PostEvent], Origins]:
    """An ended Pod's word (the outcome of the reconcile that removed it), once."""
    memory = replace(memory, taken=ended.uid)
    if ended.succeeded:
        retention = replace(memory.retention.with_deleted(ended.origins, facts.stamp), failing=False)
        return [], replace(memory, retention=retention)
    detail = ended.detail or "see its log"
    events, memory = _failed(memory, f"Pod {ended.name} failed deleting originals on the claim: {detail}")
    # The next round after the interval.
    return events, replace(memory, retention=replace(memory.retention, checked_at=facts.monotonic))


def stuck(pod: PodObservation, now: datetime) -> str:
    """Why a pending expiry Pod cannot start by itself ('' while it is merely on its way)."""
    if pod.deleting or pod.phase != "Pending":
        return ""
    if pod.unschedulable:
        return f"no node fits it: {pod.unschedulable}"
    if pod.storage_stuck(now):
        return f"the claim is not mounted on node {pod.node or '?'} (another node's ReadWriteOnce mount?)"
    return pod.waiting  # an image not pulled, a config it cannot read


def _running_pod(memory: Origins, pod: PodObservation, facts: LoopFacts) -> tuple[OriginsDecided, Origins]:
    """The expiry Pod the index shows: ended, a reconcile removes it (asked once, again only once a
    reconcile gave no word of it); running or pending, nothing yet (its end wakes the loop), but one
    that cannot start without someone's help (no node fits it, its claim not mounted, its image not
    pulled) is said once, and kept: it runs once helped."""
    if pod.phase in ENDED and not pod.deleting:
        asked_uid, asked_at = memory.asked
        if pod.uid == memory.taken or (pod.uid == asked_uid and facts.reconciles <= asked_at):
            return OriginsDecided(), memory
        asked = replace(memory, asked=(pod.uid, facts.reconciles))
        return OriginsDecided(reconcile=(("origin_expiry_ended", pod.name),)), asked
    why = stuck(pod, facts.now)
    if memory.retention.failing or not why:
        return OriginsDecided(), memory
    events, memory = _failed(memory, f"Pod {pod.name} cannot delete the originals on the claim yet: {why}")
    return OriginsDecided(tuple(events)), memory


def expire_origins(
    memory: Origins,
    facts: LoopFacts,
    ended: ExpiryPodEnded | None,
    deleted: Sequence[Deleted],
    pod: PodObservation | None,
    storage: RecordingStorage | None,
    videos: Sequence[Video],
) -> tuple[OriginsDecided, Origins]:
    """`ended`: the last outcome's word of an ended expiry Pod; `deleted`: what the bucket's deletions
    did since the last tick; `pod`: the expiry Pod, when the pod index has one; `storage` and
    `videos`: the status last written."""
    events: list[PostEvent] = []
    if ended is not None and ended.uid != memory.taken:
        said, memory = _taken(memory, ended, facts)
        events += said
    for result in deleted:
        said, retention = after_deletion(memory.retention, result, facts.stamp, ORIGIN_EXPIRY_FAILED)
        events += said
        memory = replace(memory, retention=retention)
    if pod is not None:
        decided, memory = _running_pod(memory, pod, facts)
        return replace(decided, events=(*events, *decided.events)), memory
    retention = memory.retention
    if storage is None or not retention.due(facts.monotonic, facts.settings):
        return OriginsDecided(tuple(events)), memory
    memory = replace(memory, retention=replace(retention, checked_at=facts.monotonic))
    known = retention.deleted()
    due = [v for v in origin_expiry_due(videos, facts.stamp) if v.origin is not None and v.origin.key() not in known]
    if not due:
        return OriginsDecided(tuple(events)), memory
    if storage.s3 is not None:
        return OriginsDecided(tuple(events), delete=DeleteOrigins(storage.s3, tuple(due))), memory
    return OriginsDecided(tuple(events), reconcile=(("expire_origins", True),)), memory
