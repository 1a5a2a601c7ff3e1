"""The actuator of a pusher handover's Pod writes (handover.py decides them): the failure record
patched onto the predecessor (that uid only: the patch carries it), and a deletion of one uid. A
write that fails is not retried here: the next tick observes what is and decides again."""

from __future__ import annotations

import logging
from typing import Any

from streamops.control.restream.handover import DeletePusher, PatchPusher
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.kube.client import ApiError

log = logging.getLogger("streamops.operator")


async def patch_pusher(loop: ObjectLoop[Any], action: PatchPusher) -> None:
    patch = {**action.patch, "metadata": {**action.patch.get("metadata", {}), "uid": action.pod.uid}}
    try:
        await loop.state.call(loop.state.api.patch, "Pod", loop.namespace, action.pod.name, patch)
    except (ApiError, OSError) as e:
        log.warning("%s %s/%s: handover: patching Pod %s failed: %s", *loop.key, action.pod.name, e)


async def delete_pusher(loop: ObjectLoop[Any], action: DeletePusher) -> None:
    try:
        await loop.state.call(loop.state.api.delete, "Pod", loop.namespace, action.pod.name, action.pod.uid)
    except (ApiError, OSError) as e:
        log.warning("%s %s/%s: handover: deleting Pod %s failed: %s", *loop.key, action.pod.name, e)
