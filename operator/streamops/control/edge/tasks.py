"""The namespace's edge loops (loop.py), one asyncio task per namespace whose streams want the edge:
started by the first ingest Service that records a stream wanting it, woken by a change of such a
record (a stream came to want it, changed its path or access, stopped wanting it, went away) or by
a LiveStream's deletion (handlers.py), and gone once its loop ends with the edge."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import kopf

from streamops.control.edge.loop import edge_loop
from streamops.control.edge.observation import EdgeStream
from streamops.control.runtime.state import OperatorState


@dataclass
class EdgeLoops:
    state: OperatorState
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _wakers: dict[str, asyncio.Event] = field(default_factory=dict)
    # What each ingest Service last recorded of the edge (EdgeStream.of): a Service event that changes
    # nothing of it (a status write, a port allocation) does not wake the edge.
    _records: dict[tuple[str, str], EdgeStream | None] = field(default_factory=dict)
    # The PlaybackPolicy each LiveStream names (absent: none): a stream that names another (or none) wakes
    # its namespace's edge, which writes the stream's rules; its other events do not.
    _policies: dict[tuple[str, str], str] = field(default_factory=dict)

    def observe_service(self, event_type: str | None, body: kopf.Body) -> None:
        """An ingest Service's event (handlers.py): its namespace's edge looks again when the Service's
        record of a stream wanting the edge came, changed or went."""
        namespace, name = body.metadata.namespace or "", body.metadata.name or ""
        record = None if event_type == "DELETED" else EdgeStream.of(body)
        key = (namespace, name)
        if self._records.get(key) == record and (record is None or namespace in self._tasks):
            return
        if record is None:
            self._records.pop(key, None)
        else:
            self._records[key] = record
        self.wake(namespace, start=record is not None)

    def observe_stream(self, event_type: str | None, body: kopf.Body) -> None:
        """A LiveStream's event (handlers.py): its namespace's edge looks again when the policy it names
        changed (an edge that does not run is not started: the stream's Service starts it)."""
        key = (body.metadata.namespace or "", body.metadata.name or "")
        ref = ((body.spec.get("playback") or {}).get("policyRef") or {}).get("name")
        policy = str(ref) if ref and event_type != "DELETED" else ""
        if self._policies.get(key, "") == policy:
            return
        if policy:
            self._policies[key] = policy
        else:
            self._policies.pop(key, None)
        self.wake(key[0], start=False)

    def wake(self, namespace: str, start: bool = True) -> None:
        """The namespace's edge loop looks now; started when none runs (unless `start` is False)."""
        if namespace in self._tasks:
            self._wakers[namespace].set()
        elif start:
            self._wakers[namespace] = asyncio.Event()
            task = asyncio.get_running_loop().create_task(
                edge_loop(self.state, namespace, self._wakers[namespace], lambda: self._finished(namespace, task)),
                name=f"edge {namespace}",
            )
            self._tasks[namespace] = task
            task.add_done_callback(lambda done: self._finished(namespace, done))

    def _finished(self, namespace: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(namespace) is task:
            del self._tasks[namespace]
            self._wakers.pop(namespace, None)

    async def close(self, timeout: float = 5.0) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait(tasks, timeout=timeout)
