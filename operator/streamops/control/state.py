"""What the operator keeps in memory between handler calls: the API client, the HTTP client for
worker telemetry, the port allocator, and the last reconcile outcome of every object. Nothing in
here is needed to recover after a restart: every piece is rebuilt from the cluster."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from streamops.control.kube import KubeApi
from streamops.control.ports import PortAllocator, ports_of
from streamops.control.settings import OperatorSettings

ObjectKey = tuple[str, str, str]  # kind, namespace, name


@dataclass
class OperatorState:
    api: KubeApi
    settings: OperatorSettings
    allocator: PortAllocator | None = None
    client: aiohttp.ClientSession | None = None
    outcomes: dict[ObjectKey, Any] = field(default_factory=dict)
    _locks: dict[ObjectKey, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def lock(self, key: ObjectKey) -> threading.Lock:
        """Per-object: the handlers, the pod events and the status loop of one object never
        reconcile it at the same time (no double create, no Event posted twice)."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def forget(self, key: ObjectKey) -> None:
        with self._guard:
            self._locks.pop(key, None)
        self.outcomes.pop(key, None)

    def seed_ports(self, selector: str) -> None:
        """Learn every allocation from the objects the operator manages (at start, and whenever the
        range looks exhausted: objects deleted meanwhile gave theirs back)."""
        if self.allocator is None:
            return
        used: list[int] = []
        for kind in ("Service", "Pod"):
            for obj in self.api.list(kind, selector):
                used.extend(ports_of(obj).values())
        self.allocator.reset(used)
