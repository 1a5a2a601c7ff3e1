"""The actuator of a worker handover's Pod writes (each kind's handover.py decides them): a label or
annotation patch of one worker Pod (the ingest's labels, a predecessor's failure record), made only
to the Pod of that uid (the patch carries it: the API server refuses it for another Pod of the
name), and a deletion of one uid with its grace period. A write that fails is not retried here: the
next tick observes what is and decides again."""

from __future__ import annotations

import logging
from typing import Any

from streamops.control.runtime.handover_steps import DeletePod, PatchPod
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.kube.client import ApiError

log = logging.getLogger("streamops.operator")


async def patch_pod(loop: ObjectLoop[Any], action: PatchPod) -> None:
    patch = {**action.patch, "metadata": {**action.patch.get("metadata", {}), "uid": action.pod.uid}}
    try:
        await loop.state.call(loop.state.api.patch, "Pod", loop.namespace, action.pod.name, patch)
    except (ApiError, OSError) as e:
        log.warning("%s %s/%s: handover: patching Pod %s failed: %s", *loop.key, action.pod.name, e)


async def delete_pod(loop: ObjectLoop[Any], action: DeletePod) -> None:
    try:
        await loop.state.call(loop.state.api.delete, "Pod", loop.namespace, action.pod.name, action.pod.uid)
    except (ApiError, OSError) as e:
        log.warning("%s %s/%s: handover: deleting Pod %s failed: %s", *loop.key, action.pod.name, e)


async def handover_write(loop: ObjectLoop[Any], action: PatchPod | DeletePod) -> None:
    """A handover's Pod write, whichever kind decided it."""
    if isinstance(action, PatchPod):
        await patch_pod(loop, action)
    else:
        await delete_pod(loop, action)
