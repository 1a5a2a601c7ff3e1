"""Host ports for hostNetwork workers (STREAMOPS_HOST_NETWORK=true).

Worker Pods on the host network share the node's ports, so each gets its own from
STREAMOPS_PORT_RANGE. The allocation is stored on the object that outlives the Pod (the ingest
Service of a stream; the Pod itself for recorders and pushers) in the HOST_PORTS_ANNOTATION, so
a re-created Pod keeps its ports and a restarted operator learns every allocation by listing the
objects it manages.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

from streamops.kube.manifests import Body
from streamops.kube.naming import HOST_PORTS_ANNOTATION


def ports_of(obj: Body | None) -> dict[str, int]:
    """The allocation recorded on a Service or Pod ({} when none or unreadable)."""
    if not obj:
        return {}
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(HOST_PORTS_ANNOTATION)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int)}


class PortExhausted(Exception):
    """No free port left in the range."""


class PortAllocator:
    """Free ports of a range; thread-safe (handlers run in worker threads)."""

    def __init__(self, ports: range) -> None:
        self.range = ports
        self._used: set[int] = set()
        self._lock = threading.Lock()
        self._next = ports.start

    def release(self, ports: Iterable[int]) -> None:
        with self._lock:
            self._used.difference_update(ports)

    def reset(self, used: Iterable[int]) -> None:
        """Forget everything but `used` (what the cluster says is allocated)."""
        with self._lock:
            self._used = {p for p in used if p in self.range}

    def allocate(self, names: Iterable[str]) -> dict[str, int]:
        """One port per name, taken round-robin so a just-released port is not handed out at once."""
        names = list(names)
        with self._lock:
            if len(self.range) - len(self._used) < len(names):
                raise PortExhausted(f"no {len(names)} free ports left in {self.range.start}-{self.range.stop - 1}")
            out: dict[str, int] = {}
            port = self._next
            for name in names:
                while port in self._used:
                    port = port + 1 if port + 1 < self.range.stop else self.range.start
                out[name] = port
                self._used.add(port)
            self._next = port + 1 if port + 1 < self.range.stop else self.range.start
            return out

    @property
    def used(self) -> int:
        return len(self._used)
