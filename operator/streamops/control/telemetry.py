"""Worker telemetry: each worker serves `/status` (JSON) on its HTTP port; the operator reads it
at the Pod's IP. One shared HTTP client for the whole operator, short timeouts, no retries (the
next tick is the retry)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from streamops.control.pod_observation import PodObservation

READ_TIMEOUT_SECONDS = 1.0
# A failed read keeps the last good answer this long: one lost request must not flap `live`.
STALE_AFTER_SECONDS = 3.0


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def http_client() -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=READ_TIMEOUT_SECONDS)
    # Keep-alive per worker: a poll is one small request on an open connection.
    connector = aiohttp.TCPConnector(limit=256, limit_per_host=2, keepalive_timeout=30)
    return aiohttp.ClientSession(timeout=timeout, connector=connector, raise_for_status=False)


async def read_worker_status(client: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with client.get(url) as response:
            if response.status != 200:
                return None
            data = await response.json(content_type=None)
            return data if isinstance(data, dict) else None
    except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
        return None


@dataclass
class TelemetryReader:
    """The last good /status of one worker Pod (dropped when the Pod changes or it goes stale)."""

    pod_uid: str = ""
    data: dict[str, Any] | None = None
    at: float = 0.0

    async def read(self, client: aiohttp.ClientSession, pod: PodObservation | None) -> dict[str, Any] | None:
        url = pod.status_url if pod is not None else None
        if pod is None or url is None:
            self.pod_uid, self.data = "", None
            return None
        if pod.uid != self.pod_uid:
            self.pod_uid, self.data = pod.uid, None
        fresh = await read_worker_status(client, url)
        now = time.monotonic()
        if fresh is not None:
            self.data, self.at = fresh, now
        elif self.data is not None and now - self.at > STALE_AFTER_SECONDS:
            self.data = None
        return self.data
