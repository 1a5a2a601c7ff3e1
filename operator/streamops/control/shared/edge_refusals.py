"""What each namespace's edge controller (control/edge/) last heard from the API server: its refusal
of the edge, if any, for the status of the streams that want the edge (their Ready says EdgeRejected).
Held in memory, one table per operator process, like the worker policies' record
(workers/worker_network_policies.py): the edge controller writes it and wakes those streams, their
reconciles read it (in API threads: hence the lock). Nothing here needs to survive a restart: each
namespace's edge controller runs again at start."""

from __future__ import annotations

import threading


class EdgeRefusals:
    def __init__(self) -> None:
        self._by_namespace: dict[str, str] = {}
        self._lock = threading.Lock()

    def of(self, namespace: str) -> str | None:
        with self._lock:
            return self._by_namespace.get(namespace)

    def record(self, namespace: str, refused: str | None) -> bool:
        """The namespace's edge refused (`refused`: the message) or not; whether that changed."""
        with self._lock:
            before = self._by_namespace.get(namespace)
            if refused is None:
                self._by_namespace.pop(namespace, None)
            else:
                self._by_namespace[namespace] = refused
            return before != refused


EDGE_REFUSALS = EdgeRefusals()  # one per operator process
