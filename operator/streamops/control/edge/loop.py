"""One edge loop per namespace whose streams want the edge: an asyncio task that reconciles the edge
(reconcile.py, in the operator's API threads) when an ingest Service's record of it changes (a stream
came to want it, changed its path or access, stopped wanting it, went away) and every resync period,
and tells the streams it serves when the API server's answer to the edge changed (their Ready says
EdgeRejected: shared/edge_refusals.py). A namespace's loop ends once no stream wants the edge and it
is deleted; the next stream that wants it starts another."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import kopf

from streamops.api import LIVESTREAM
from streamops.control.edge.observation import EdgeStream
from streamops.control.edge.reconcile import EdgeOutcome, reconcile_edge
from streamops.control.runtime.state import OperatorState
from streamops.control.shared.edge_refusals import EDGE_REFUSALS

CONFLICT_RETRY_SECONDS = 0.2  # a write that met a newer object: read again soon, not at the next resync
RETRY_MAX_SECONDS = 60.0
log = logging.getLogger("streamops.operator")


@dataclass
class EdgeLoops:
    state: OperatorState
    _tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _wakers: dict[str, asyncio.Event] = field(default_factory=dict)
    # What each ingest Service last recorded of the edge (EdgeStream.of): a Service event that changes
    # nothing of it (a status write, a port allocation) does not wake the edge.
    _records: dict[tuple[str, str], EdgeStream | None] = field(default_factory=dict)

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

    def wake(self, namespace: str, start: bool = True) -> None:
        """The namespace's edge loop looks now; started when none runs (unless `start` is False)."""
        if namespace in self._tasks:
            self._wakers[namespace].set()
        elif start:
            self._wakers[namespace] = asyncio.Event()
            task = asyncio.get_running_loop().create_task(self._run(namespace), name=f"edge {namespace}")
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

    async def _run(self, namespace: str) -> None:
        state, waker, delay = self.state, self._wakers[namespace], 1.0
        while True:
            waker.clear()
            try:
                outcome = await state.call(reconcile_edge, state.api, state.settings, namespace)
            except Exception as e:  # the API unreachable, a server error: again with backoff
                log.warning("the edge in %s: reconcile failed, again in %.0f s: %s", namespace, delay, e)
                timeout, delay = delay, min(delay * 2, RETRY_MAX_SECONDS)
            else:
                delay = 1.0
                self._tell_streams(namespace, outcome)
                if not outcome.streams and not outcome.conflict and not waker.is_set():
                    self._finished(namespace, self._tasks[namespace])  # now: a wake from here on starts another
                    return  # the edge is gone with the last stream that wanted it
                timeout = CONFLICT_RETRY_SECONDS if outcome.conflict else state.settings.telemetry.resync_seconds
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await waker.wait()

    def _tell_streams(self, namespace: str, outcome: EdgeOutcome) -> None:
        """The streams it serves reconcile when the API server's answer to the edge changed: their
        outcome (edge_rejected) is what their status says."""
        if EDGE_REFUSALS.record(namespace, outcome.refused if outcome.streams else None):
            for stream in outcome.streams:
                self.state.wake((LIVESTREAM.kind, namespace, stream), reconcile=True)
