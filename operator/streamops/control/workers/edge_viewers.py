"""The viewer sessions a namespace's edge replicas report (GET /viewers on their status port), merged,
for the status of the streams they serve (docs/design/playback.md, "Viewer sessions").

A viewer's requests may reach several replicas (each new connection goes to any of them), so the
replicas report session hashes, not counts, and the union is counted. One poll per namespace at a
time, at most every POLL_SECONDS, whichever stream's loop asks first; the others read the result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp
from pydantic import ValidationError

from streamops.contract.edge import EDGE_COMPONENT, EDGE_NAME, PROTOCOLS, STATUS_PORT, VIEWERS_PATH, ViewerSessions
from streamops.kube.naming import COMPONENT_LABEL, INSTANCE_LABEL

POLL_SECONDS = 2.0
# A replica that does not answer keeps its last sessions this long (one lost request must not make
# its viewers vanish from the count).
STALE_AFTER_SECONDS = 10.0
EDGE_POD_SELECTOR = urlencode({"labelSelector": f"{INSTANCE_LABEL}={EDGE_NAME},{COMPONENT_LABEL}={EDGE_COMPONENT}"})

Sessions = dict[str, set[str]]  # protocol -> session hashes
PodLister = Callable[[str], Awaitable[list[tuple[str, str]]]]  # namespace -> [(pod uid, pod IP)] of ready pods


def merge_sessions(reports: Iterable[Sessions]) -> Sessions:
    """The union by protocol; a session reported as LL-HLS anywhere is an LL-HLS viewer (a replica
    that only saw its playlist request calls it HLS)."""
    merged: Sessions = {p: set() for p in PROTOCOLS}
    for report in reports:
        for protocol, hashes in report.items():
            merged.setdefault(protocol, set()).update(hashes)
    merged["hls"] -= merged["llhls"]
    return merged


@dataclass
class _Namespace:
    at: float = 0.0
    by_pod: dict[str, tuple[float, dict[str, Sessions]]] = field(default_factory=dict)  # uid -> (read at, streams)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EdgeViewers:
    def __init__(self, client: aiohttp.ClientSession | None, ready_pods: PodLister) -> None:
        self.client = client
        self.ready_pods = ready_pods
        self.namespaces: dict[str, _Namespace] = {}

    async def sessions(self, namespace: str, stream: str) -> Sessions:
        """The stream's sessions at the namespace's edge replicas (polled when the last poll is old)."""
        ns = self.namespaces.setdefault(namespace, _Namespace())
        async with ns.lock:
            if time.monotonic() - ns.at >= POLL_SECONDS:
                await self._poll(namespace, ns)
        key = f"{namespace}/{stream}"
        return merge_sessions(streams[key] for _, streams in ns.by_pod.values() if key in streams)

    def forget(self, namespace: str) -> None:
        self.namespaces.pop(namespace, None)

    async def _poll(self, namespace: str, ns: _Namespace) -> None:
        now = time.monotonic()
        ns.at = now
        try:
            pods = await self.ready_pods(namespace)
        except Exception:  # the API is unreachable: keep what was read, next poll
            return
        answers = await asyncio.gather(*(self._read(ip) for _, ip in pods))
        for (uid, _), answer in zip(pods, answers, strict=True):
            if answer is not None:
                ns.by_pod[uid] = (now, answer)
        alive = {uid for uid, _ in pods}
        for uid in list(ns.by_pod):
            if uid not in alive or now - ns.by_pod[uid][0] > STALE_AFTER_SECONDS:
                del ns.by_pod[uid]

    async def _read(self, ip: str) -> dict[str, Sessions] | None:
        if self.client is None:
            return None
        host = f"[{ip}]" if ":" in ip else ip
        try:
            async with self.client.get(f"http://{host}:{STATUS_PORT}{VIEWERS_PATH}") as response:
                if response.status != 200:
                    return None
                report = ViewerSessions.model_validate_json(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValidationError, OSError):
            return None
        return {key: {p: set(getattr(sessions, p)) for p in PROTOCOLS} for key, sessions in report.streams.items()}


def ready_edge_pods(pods: list[dict[str, object]]) -> list[tuple[str, str]]:
    """(uid, IP) of the listed edge Pods that are Ready (a Pod list's items)."""
    found: list[tuple[str, str]] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        assert isinstance(meta, dict) and isinstance(status, dict)
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if ready and status.get("podIP") and not meta.get("deletionTimestamp"):
            found.append((str(meta.get("uid")), str(status["podIP"])))
    return found
