"""keepOrigin's retention, a step of a Recording's status loop: the originals whose deleteAt has
passed (retention.origin_expiry_due, over the status last written) are deleted, at most every
retention_interval_seconds. In a bucket the operator deletes them itself (the original and its
sidecar, with the storage's credentials, as retention deletes videos); on a claim, which the operator
cannot reach, a one-shot Pod mounts it and deletes them (specs/origin_expiry_pod.py, `streamops worker
expire`), and once that Pod has Succeeded its originals count as deleted and the Pod is removed. The
status function then marks each `origin.expiredAt` and an OriginExpired Event names it; the video
stays. A failure (Secret refused, bucket error, the Pod Failed) posts one OriginExpiryFailed Warning
per streak and is tried again at the next round."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamops.api.recording import RecordingStorage, Video
from streamops.contract.worker import iso
from streamops.control.recording.observe import claim_access_modes
from streamops.control.recording.specs.origin_expiry_pod import expiry_config, origin_expiry_pod, pod_origins
from streamops.control.runtime.object_loop import ObjectLoop, utcnow
from streamops.control.storage.retention import ExpiryFailed, delete_origins
from streamops.control.storage.video_expiry import ORIGIN_EXPIRY_FAILED, origin_expiry_due
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.client import ApiError, NamespaceTerminating

log = logging.getLogger("streamops.operator")


@dataclass
class OriginExpiry:
    """The loop's originals retention: when it last looked, the originals deleted (url or path on
    the claim -> when: the status function marks them), whether deleting fails (one Warning per
    streak), and the expiry Pod it made that is not done yet."""

    expired: dict[str, datetime] = field(default_factory=dict)
    checked_at: float = float("-inf")
    failing: bool = False


async def expire_origins(
    loop: ObjectLoop[Any],
    expiry: OriginExpiry,
    storage: RecordingStorage | None,
    videos: list[Video],
    pod: PodObservation | None,
) -> None:
    """`pod`: the Recording's origin expiry Pod, when the pod index has one."""
    if pod is not None:
        await _expiry_pod_ended(loop, expiry, pod)
        return
    settings = loop.state.settings
    now = time.monotonic()
    if storage is None or now - expiry.checked_at < settings.recordings.retention_interval_seconds:
        return
    expiry.checked_at = now
    due = [
        v for v in origin_expiry_due(videos, utcnow()) if v.origin is not None and v.origin.key() not in expiry.expired
    ]
    if not due:
        return
    if storage.s3 is not None:
        try:
            done = await loop.state.call(delete_origins, loop.state.api, settings, loop.namespace, storage.s3, due)
            expiry.failing = False
        except ExpiryFailed as e:
            done = e.done
            await _failed(loop, expiry, str(e))
        _deleted(loop, expiry, done, utcnow())
        return
    await _start_expiry_pod(loop, storage, due)


async def _start_expiry_pod(loop: ObjectLoop[Any], storage: RecordingStorage, due: list[Video]) -> None:
    """The originals on the claim go to a Pod that mounts it."""
    meta, spec = loop.body.metadata, loop.body.spec
    uid = str(meta.get("uid") or "")
    stream = str((spec.get("streamRef") or {}).get("name") or "")
    settings, api = loop.state.settings, loop.state.api
    config = expiry_config(due, iso(utcnow()))
    if not config.origins or not uid:
        return
    modes = await loop.state.call(claim_access_modes, api, loop.namespace, storage, settings.recordings)
    pod = origin_expiry_pod(loop.name, loop.namespace, uid, stream, storage, config, settings, modes)
    try:
        await loop.state.call(api.create, pod)
    except NamespaceTerminating:
        return
    except (ApiError, OSError) as e:
        log.warning("Recording %s/%s: creating %s failed: %s", loop.namespace, loop.name, pod["metadata"]["name"], e)
        return
    log.info(
        "Recording %s/%s: %d original(s) due: Pod %s deletes them",
        loop.namespace,
        loop.name,
        len(config.origins),
        pod["metadata"]["name"],
    )


async def _expiry_pod_ended(loop: ObjectLoop[Any], expiry: OriginExpiry, pod: PodObservation) -> None:
    """The expiry Pod Succeeded (its originals are deleted) or Failed (said, tried again at the next
    round): removed either way. Running or pending: nothing yet (its end wakes the loop), but a Pod
    that cannot start without someone's help (no node fits it, its claim not mounted, its image not
    pulled) is said once, and kept: it runs once helped."""
    if pod.phase not in ("Succeeded", "Failed") or pod.deleting:
        if not expiry.failing and (stuck := _stuck(pod, utcnow())):
            await _failed(loop, expiry, f"Pod {pod.name} cannot delete the originals on the claim yet: {stuck}")
        return
    api = loop.state.api
    if pod.phase == "Succeeded":
        found = await loop.state.call(api.get, "Pod", loop.namespace, pod.name)
        paths = pod_origins(((found or {}).get("metadata") or {}).get("annotations") or {})
        expiry.failing = False
        _deleted(loop, expiry, paths, utcnow())
    else:
        await _failed(
            loop, expiry, f"Pod {pod.name} failed deleting originals on the claim: {pod.detail or 'see its log'}"
        )
        expiry.checked_at = time.monotonic()  # the next round after the interval
    try:
        await loop.state.call(api.delete, "Pod", loop.namespace, pod.name, pod.uid)
    except (ApiError, OSError) as e:
        log.warning("Recording %s/%s: removing %s failed: %s", loop.namespace, loop.name, pod.name, e)


def _stuck(pod: PodObservation, now: datetime) -> str:
    """Why a pending expiry Pod cannot start by itself ('' while it is merely on its way)."""
    if pod.deleting or pod.phase != "Pending":
        return ""
    if pod.unschedulable:
        return f"no node fits it: {pod.unschedulable}"
    if pod.storage_stuck(now):
        return f"the claim is not mounted on node {pod.node or '?'} (another node's ReadWriteOnce mount?)"
    return pod.waiting  # an image not pulled, a config it cannot read


async def _failed(loop: ObjectLoop[Any], expiry: OriginExpiry, message: str) -> None:
    log.warning("Recording %s/%s: deleting expired originals failed: %s", loop.namespace, loop.name, message)
    if not expiry.failing:  # one Warning per failure streak
        await loop.post_event("Warning", ORIGIN_EXPIRY_FAILED, message[:1000])
    expiry.failing = True


def _deleted(loop: ObjectLoop[Any], expiry: OriginExpiry, keys: list[str], at: datetime) -> None:
    for key in keys:
        expiry.expired[key] = at
    if keys:
        loop.woken.set()  # (the status is written on this tick's way round)
