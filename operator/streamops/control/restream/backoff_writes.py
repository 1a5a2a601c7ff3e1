"""The RestreamBackoff Event's writes (the actuator of backoff_event.py's WriteBackoffEvent): the
one place a Restream's status loop calls the API itself, besides the generic actions of
runtime/tick.py."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from streamops.control.restream.backoff_event import (
    FailureStreak,
    RestreamRef,
    WriteBackoffEvent,
    WrittenSeries,
    backoff_event,
    backoff_event_update,
)
from streamops.control.runtime.object_loop import ObjectLoop
from streamops.kube.client import ApiError, KubeApi

log = logging.getLogger("streamops.operator")


def write_backoff_event(
    api: KubeApi,
    restream: RestreamRef,
    streak: FailureStreak,
    action: Literal["create", "update"],
    now: datetime,
    annotations: Mapping[str, str] | None = None,
) -> None:
    """Create the streak's Event, or bring it up to date: a create that finds it (the operator
    restarted mid-streak) updates it, an update that does not (the API server drops Events after
    its --event-ttl, 1 h by default) creates it again."""
    event = backoff_event(restream, streak, now, annotations)
    if action == "create" and api.create(event) is not None:
        return
    if not api.patch("Event", restream.namespace, event["metadata"]["name"], backoff_event_update(streak, now)):
        api.create(event)


async def perform_backoff_write(loop: ObjectLoop[Any], action: WriteBackoffEvent) -> WrittenSeries | None:
    """The write, at the status writes' priority; what was written, or None when it failed (Events
    are auxiliary: the next tick decides again)."""
    state, ref = loop.state, action.restream
    try:
        await state.write_status(
            write_backoff_event, state.api, ref, action.streak, action.write, action.now, dict(action.annotations)
        )
    except (ApiError, OSError) as e:
        log.warning("Restream %s/%s: writing its RestreamBackoff Event failed: %s", ref.namespace, ref.name, e)
        return None
    return action.written()
