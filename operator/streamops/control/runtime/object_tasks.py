"""One status loop per object, as an asyncio task that the object's own watch events start, feed
and stop (handlers.py): started by its first event, given each newer body, cancelled by its DELETED
event; `stale()` names the tasks of objects a relisting no longer has. Why not kopf daemons (their
finalizers): docs/design/status-loops.md."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import cast

import kopf

from streamops.control.runtime.state import ObjectKey

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
RESTART_SECONDS = 1.0  # a loop that failed unexpectedly starts again after this (kopf's daemon backoff was 1 s)
log = logging.getLogger("streamops.operator")


@dataclass
class LiveObject:
    """An object as its newest watch event showed it; `gone` once its DELETED event came."""

    key: ObjectKey
    body: kopf.Body
    # The status its first event showed, until its loop takes it (take_status()): a loop compares its
    # writes with what it last wrote, never with a later event's status, so bodies keep none.
    status: Mapping[str, object] | None = None
    gone: bool = False
    since: float = field(default_factory=time.monotonic)  # when the operator first saw it
    # That first sight, until a loop's first reconcile answers it (the start of its queue latency;
    # a loop started again after a failure answers no event).
    unanswered_since: float | None = None

    def __post_init__(self) -> None:
        self.unanswered_since = self.since

    def take_status(self) -> Mapping[str, object]:
        """The status its first event showed (once; from the body where it was made with one)."""
        status, self.status = self.status, None
        if status is None:
            status = self.body.get("status") or {}
        return status


Loop = Callable[[LiveObject], Awaitable[None]]


def kept(body: kopf.Body) -> kopf.Body:
    """The body a loop keeps: without what no loop reads and what is much of a body, kept for
    every object between events: managedFields (each writer's field sets, the operator's own status
    writes among them), kubectl's last-applied copy of the whole object, and the status (the loop
    has its own copy of what it wrote: LiveObject.status)."""
    meta = body.get("metadata") or {}
    trimmed = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = meta.get("annotations") or {}
    if LAST_APPLIED in annotations:
        trimmed["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    return kopf.Body(cast(kopf.RawBody, {k: v for k, v in body.items() if k != "status"} | {"metadata": trimmed}))


@dataclass
class ObjectTasks:
    """The running loops by object uid (an object deleted and created again under the same name is
    another object: its loop starts while the old one's is being cancelled)."""

    _running: dict[str, tuple[LiveObject, asyncio.Task[None]]] = field(default_factory=dict)

    def observe(self, event_type: str | None, key: ObjectKey, body: kopf.Body, loop: Loop) -> None:
        """An event of the object: its loop is started (the first one), fed, or stopped (DELETED)."""
        uid = body.metadata.uid
        if not uid:
            return
        if event_type == "DELETED":
            self.stop(uid)
            return
        running = self._running.get(uid)
        if running is not None:
            running[0].body = kept(body)
            return
        obj = LiveObject(key, kept(body), status=body.get("status") or {})
        task = asyncio.get_running_loop().create_task(self._supervised(obj, loop), name=f"{key[0]} {key[1]}/{key[2]}")
        self._running[uid] = (obj, task)
        task.add_done_callback(lambda done: self._finished(uid, done))

    def _finished(self, uid: str, task: asyncio.Task[None]) -> None:
        if uid in self._running and self._running[uid][1] is task:
            del self._running[uid]

    def stop(self, uid: str) -> None:
        running = self._running.pop(uid, None)
        if running is not None:
            running[0].gone = True
            running[1].cancel()

    def stale(self, kind: str, namespace: str, listed: Collection[str], listed_after: float) -> list[str]:
        """Uids of the kind's loops in `namespace` whose object a listing no longer has; only loops
        started before the listing was asked for (`listed_after`, monotonic) can be judged by it."""
        return [
            uid
            for uid, (obj, _) in self._running.items()
            if obj.key[0] == kind and obj.key[1] == namespace and obj.since < listed_after and uid not in listed
        ]

    def namespaces(self, kind: str) -> set[str]:
        return {obj.key[1] for obj, _ in self._running.values() if obj.key[0] == kind}

    def __len__(self) -> int:
        return len(self._running)

    async def close(self, timeout: float = 5.0) -> None:
        """Cancel every loop and give their `finally` blocks a moment (operator shutdown)."""
        tasks = [task for _, task in self._running.values()]
        for uid in list(self._running):
            self.stop(uid)
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(tasks, timeout=timeout)

    @staticmethod
    async def _supervised(obj: LiveObject, loop: Loop) -> None:
        """The loop until its object is gone; one that fails is logged and started again."""
        while not obj.gone:
            try:
                await loop(obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s %s/%s: status loop failed, starting it again in %.0f s", *obj.key, RESTART_SECONDS)
                await asyncio.sleep(RESTART_SECONDS)
            else:
                return
