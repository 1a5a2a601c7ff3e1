"""The outboxes in the API server: one ConfigMap per stream (outbox.py), read once per namespace (one
LIST) and then kept in memory, written by the operator alone, one writer per stream (a lock), each
write conditional on the resourceVersion read. A write that conflicts (a previous leader wrote
meanwhile) reads the object again and applies the same change to it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from streamops.control.runtime.state import OperatorState
from streamops.control.webhook.outbox import (
    OUTBOX_SELECTOR,
    STREAM_LABEL,
    Outbox,
    outbox_manifest,
    outbox_name,
    outbox_of,
)
from streamops.kube.client import ApiError

log = logging.getLogger("streamops.webhook")
StreamKey = tuple[str, str]  # namespace, stream
Mutation = Callable[[Outbox | None], Outbox | None]  # None: no outbox (delete it)
ATTEMPTS = 5


@dataclass
class OutboxStore:
    state: OperatorState
    outboxes: dict[StreamKey, Outbox] = field(default_factory=dict)
    versions: dict[StreamKey, str] = field(default_factory=dict)
    _locks: dict[StreamKey, asyncio.Lock] = field(default_factory=dict)
    _loaded: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    _by_namespace: dict[str, dict[str, Outbox]] = field(default_factory=dict)

    async def load(self, namespace: str) -> None:
        """The namespace's outboxes, read once (the first caller lists, the others wait for it)."""
        loading = self._loaded.get(namespace)
        if loading is None:
            loading = self._loaded[namespace] = asyncio.get_running_loop().create_future()
            try:
                query = urlencode({"labelSelector": OUTBOX_SELECTOR})
                items = await self.state.call(self.state.api.list_in, "ConfigMap", namespace, query)
            except Exception as e:
                del self._loaded[namespace]
                loading.set_exception(e)
                loading.exception()  # (retrieved: the next caller lists again)
                raise
            for item in items:
                outbox = outbox_of(item)
                stream = (item.get("metadata") or {}).get("labels", {}).get(STREAM_LABEL)
                if outbox is not None and stream == outbox.stream:
                    self._keep((namespace, stream), outbox)
                    self.versions[namespace, stream] = item["metadata"]["resourceVersion"]
            loading.set_result(None)
        await asyncio.shield(loading)

    def in_namespace(self, namespace: str) -> list[tuple[StreamKey, Outbox]]:
        return [((namespace, stream), o) for stream, o in self._by_namespace.get(namespace, {}).items()]

    def _keep(self, key: StreamKey, outbox: Outbox | None) -> None:
        """The in-memory copy, also indexed by namespace (each delivery task looks at its own only)."""
        if outbox is None:
            self.outboxes.pop(key, None)
            self._by_namespace.get(key[0], {}).pop(key[1], None)
        else:
            self.outboxes[key] = outbox
            self._by_namespace.setdefault(key[0], {})[key[1]] = outbox

    def lock(self, key: StreamKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def update(self, key: StreamKey, mutate: Mutation) -> Outbox | None:
        """Apply `mutate` to the stream's outbox and write the result (nothing when it is unchanged).
        Returns the outbox as written."""
        namespace, stream = key
        await self.load(namespace)
        async with self.lock(key):
            for _ in range(ATTEMPTS):
                current = self.outboxes.get(key)
                new = mutate(current)
                if new == current:
                    return current
                if await self._write(key, new):
                    return new
                await self._reread(key)  # someone else wrote it: the change again, on what is there
            raise ApiError(409, f"outbox of {namespace}/{stream} kept changing under us")

    async def _write(self, key: StreamKey, new: Outbox | None) -> bool:
        namespace, stream = key
        api = self.state.api
        version = self.versions.get(key)
        if new is None:
            if version is not None:
                await self.state.call(api.delete, "ConfigMap", namespace, outbox_name(stream))
            self._keep(key, None)
            self.versions.pop(key, None)
            return True
        manifest = outbox_manifest(namespace, new, version)
        written = await self.state.call(api.replace if version else api.create, manifest)
        if written is None:
            return False
        self._keep(key, new)
        self.versions[key] = written["metadata"]["resourceVersion"]
        return True

    async def _reread(self, key: StreamKey) -> None:
        namespace, stream = key
        found = await self.state.call(self.state.api.get, "ConfigMap", namespace, outbox_name(stream))
        self._keep(key, outbox_of(found) if found else None)
        if found is None:
            self.versions.pop(key, None)
        else:  # (an unreadable one is overwritten by the next write)
            self.versions[key] = found["metadata"]["resourceVersion"]
