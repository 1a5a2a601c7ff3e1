"""kopf's reads of the children the operator watches (worker Pods, Services, EndpointSlices), trimmed
while they are decoded: kopf decodes every LIST and watch event whole and queues each object to a
worker of its own, so at a listing every object's whole body is alive at once (a worker Pod is
≈35 KB as Python objects, the restart's LIST of 1,000 of them ≈20 MB). What the operator reads of
them (PodObservation, the child and pod indexes, the event handlers) is kept; the rest (the
managedFields of every writer, a Pod's volumes, env, args, resources …) is dropped dict by dict as
the JSON is decoded, before the next dict is built. docs/design/operator-scale.md.

Done as the aiohttp response class of kopf's session (kube/client.kopf_session): no kopf internals.
The operator's own LIST of every object's uid (KubeApi.custom_uids) is decoded to the uids alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import aiohttp

READ_BYTES = 64 * 1024  # what a watch's content is read by
TRIMMED = frozenset({"pods", "services", "endpointslices"})  # the last segment of the URL's path
# What the operator reads of a Pod's spec (control/workers/pod_observation.py), and of each container.
POD_SPEC = ("nodeName", "hostNetwork")
CONTAINER = ("name", "ports", "readinessProbe")


def unmanaged(value: dict[str, Any]) -> dict[str, Any]:
    """json's object_hook for any object kopf lists: its metadata without managedFields (every
    writer's field sets, as large as the object's own keys; nothing of the operator's or kopf's
    reads them)."""
    if "managedFields" in value and "name" in value:  # an object's metadata
        del value["managedFields"]
    return value


def unmanaged_loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=unmanaged)


def trimmed_object(value: dict[str, Any]) -> dict[str, Any]:
    """json's object_hook for the TRIMMED kinds: each dict as it is decoded (innermost first)."""
    if "managedFields" in value and "name" in value:  # an object's metadata
        del value["managedFields"]
    elif "containers" in value:  # a Pod's spec (only Pods are trimmed this way: TRIMMED)
        containers = [{k: c[k] for k in CONTAINER if k in c} for c in value.get("containers") or []]
        return {k: value[k] for k in POD_SPEC if k in value} | {"containers": containers}
    return value


def uid_only(value: dict[str, Any]) -> dict[str, Any]:
    """json's object_hook for a list of which only the items' uids are read (the operator's sweep of
    vanished objects, every resync period): each object's metadata decoded to its uid alone, the
    rest (managedFields, kubectl's last-applied copy) dropped as soon as it is built."""
    return {"uid": value["uid"]} if "uid" in value and "name" in value else value


def trimmed_loads(text: str | bytes) -> Any:
    return json.loads(text, object_hook=trimmed_object)


def trimmed_line(line: bytes) -> bytes:
    """One watch event's line, trimmed (kopf decodes the line again: the small one). A line that is
    not JSON goes on as it is: kopf's error to report."""
    try:
        return json.dumps(trimmed_loads(line), separators=(",", ":")).encode()
    except ValueError:
        return line


class TrimmedLines:
    """A watch response's content whose lines are trimmed. kopf reads it with iter_chunked
    (kopf._cogs.clients.api.iter_jsonlines, which splits lines itself); aiohttp's own uses of the
    content (EOF, errors, release) go to the real stream."""

    def __init__(self, content: aiohttp.StreamReader) -> None:
        self._content = content

    def __getattr__(self, name: str) -> Any:
        return getattr(self._content, name)

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """Each line trimmed as soon as it is whole, and handed on alone: at most READ_BYTES of the
        stream and one line are held here (kopf asks for 1 MB chunks, hundreds of Pods' lines)."""
        buffer = b""
        async for data in self._content.iter_chunked(min(n, READ_BYTES)):
            buffer += data
            start, end = 0, buffer.find(b"\n")
            while end >= 0:
                if end > start:
                    yield trimmed_line(buffer[start:end]) + b"\n"
                start, end = end + 1, buffer.find(b"\n", end + 1)
            buffer = buffer[start:]
        if buffer:
            yield trimmed_line(buffer)


def trimmed_url(method: str, url: Any) -> bool:
    return method == "GET" and str(url.path).rstrip("/").rsplit("/", 1)[-1] in TRIMMED


class TrimmedResponse(aiohttp.ClientResponse):
    """kopf's responses: a LIST or watch of TRIMMED kinds decoded trimmed; any other GET's JSON
    (LISTs of the operator's own kinds) without managedFields; their watches as they come (a
    watch line trimmed is decoded twice: for the kinds whose events are most of the bytes only)."""

    async def start(self, connection: Any) -> TrimmedResponse:
        await super().start(connection)
        if trimmed_url(self.method, self.url) and self.url.query.get("watch") in ("true", "1"):
            self.content = cast(aiohttp.StreamReader, TrimmedLines(self.content))
        return self

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        if trimmed_url(self.method, self.url):
            loads = trimmed_loads
        elif self.method == "GET":  # (a LIST of LiveStreams, Recordings …: at a restart, all at once)
            loads = unmanaged_loads
        return await super().json(encoding=encoding, loads=loads, content_type=content_type)
