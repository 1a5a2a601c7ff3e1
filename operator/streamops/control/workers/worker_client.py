"""The operator's side of the worker HTTP API: each worker serves `/status` (JSON) on its HTTP
port, which the operator reads at the Pod's IP, the recorder takes `POST /start` and
`POST /stop`, a stream's shared pusher `PUT /targets`. Every request presents the stream's worker credential (`headers`:
worker_credentials.py). One shared HTTP client for the whole operator, short timeouts, no retries
(the next tick is the retry)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiohttp
from pydantic import ValidationError

from streamops.contract.worker import WorkerConfig, WorkerStatus
from streamops.control.workers.pod_observation import PodObservation

READ_TIMEOUT_SECONDS = 1.0
POST_TIMEOUT_SECONDS = 2.0
# A failed read keeps the last good answer this long: one lost request must not flap `live`.
STALE_AFTER_SECONDS = 3.0


def http_client() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=READ_TIMEOUT_SECONDS)
    # Keep-alive per worker: a poll is one small request on an open connection.
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=2, keepalive_timeout=30)
    return aiohttp.ClientSession(timeout=timeout, connector=connector, raise_for_status=False)


S = TypeVar("S", bound=WorkerStatus)


UNAUTHORIZED = 401


async def read_worker_status(
    client: aiohttp.ClientSession, url: str, model: type[S], headers: Mapping[str, str] | None = None
) -> S | int | None:
    """The worker's typed /status; its HTTP status when it refused the credential (401); None when
    it cannot be read or is not what the contract says."""
    try:
        async with client.get(url, headers=headers) as response:
            if response.status == UNAUTHORIZED:
                return UNAUTHORIZED
            if response.status != 200:
                return None
            return model.model_validate_json(await response.read())
    except (aiohttp.ClientError, TimeoutError, ValidationError, OSError):
        return None


@dataclass
class TelemetryReader(Generic[S]):
    """The last good /status of one worker Pod (dropped when the Pod changes or it goes stale)."""

    model: type[S]
    pod_uid: str = ""
    data: S | None = None
    at: float = 0.0
    refused: bool = False  # the last read was answered 401: the credential held is not the worker's

    async def read(
        self, client: aiohttp.ClientSession, pod: PodObservation | None, headers: Mapping[str, str] | None = None
    ) -> S | None:
        url = pod.status_url if pod is not None else None
        if pod is None or url is None:
            self.pod_uid, self.data = "", None
            return None
        if pod.uid != self.pod_uid:
            self.pod_uid, self.data = pod.uid, None
        answer = await read_worker_status(client, url, self.model, headers)
        self.refused = answer == UNAUTHORIZED
        fresh = answer if not isinstance(answer, int) else None
        now = time.monotonic()
        if fresh is not None:
            self.data, self.at = fresh, now
        elif self.data is not None and now - self.at > STALE_AFTER_SECONDS:
            self.data = None
        return self.data


@dataclass
class SharedTelemetry(Generic[S]):
    """One worker Pod's /status for every loop that follows it (a stream's shared pusher: the
    stream's Restream loops take one read a round between them instead of one each). A read less
    than `fresh_for` old is handed out again; loops asking at once wait for the one read."""

    reader: TelemetryReader[S]
    fresh_for: float = 0.4  # under the loops' 0.5 s tick: each round still reads once
    at: float = -1e9
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def refused(self) -> bool:
        return self.reader.refused

    async def read(
        self,
        client: aiohttp.ClientSession,
        pod: PodObservation | None,
        headers: Mapping[str, str] | None = None,
        not_before: float | None = None,
    ) -> S | None:
        """`not_before` (monotonic): a read made before it is not handed out again (the Pod
        answered a request since: tick.py's WorkerRequest.wake)."""
        async with self.lock:
            same_pod = pod is not None and pod.uid == self.reader.pod_uid
            recent = time.monotonic() - self.at < self.fresh_for and (not_before is None or self.at >= not_before)
            if same_pod and recent:
                return self.reader.data
            data = await self.reader.read(client, pod, headers)
            self.at = time.monotonic()
            return data


async def post(
    client: aiohttp.ClientSession,
    pod: PodObservation,
    path: str,
    config: WorkerConfig | None = None,
    sign: Callable[[bytes], Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """A command to the worker (`config` as the JSON body; `sign` gives the headers that sign those
    bytes; `headers`: the stream's worker credential). Errors are not reported: /status tells
    whether it took effect, and the caller asks again when it did not."""
    url = pod.worker_url(path)
    if url is None:
        return
    body = json.dumps(config.wire()).encode() if config is not None else b""
    sent = {"Content-Type": "application/json", **(headers or {}), **(sign(body) if sign is not None else {})}
    try:
        async with client.post(
            url, data=body, headers=sent, timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_SECONDS)
        ) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError):
        pass


async def put(
    client: aiohttp.ClientSession, pod: PodObservation, path: str, body: bytes, headers: Mapping[str, str]
) -> None:
    """A whole state to the worker (a shared pusher's targets: `body` holds their keys, so it is
    built by the contract, never logged). Errors are not reported, as for `post`."""
    await worker_request(client, pod, "PUT", path, body, headers)


async def worker_request(
    client: aiohttp.ClientSession,
    pod: PodObservation,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
) -> None:
    """A request whose body its caller built (tick.py's WorkerRequest, `put`: made by the contract,
    it may hold keys, so it is never logged). Errors are not reported, as for `post`."""
    url = pod.worker_url(path)
    if url is None:
        return
    sent = {"Content-Type": "application/json", **headers}
    try:
        async with client.request(
            method, url, data=body, headers=sent, timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_SECONDS)
        ) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError, OSError):
        pass
