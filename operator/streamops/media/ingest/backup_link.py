"""The link from a backup ingest to its primary: while the primary's /status says `backupWanted`, the
backup POSTs its live feed (chunked MPEG-TS) to the primary's BACKUP_UPLINK_PATH (`BackupOffer`),
signed with the stream key both mount (an HMAC of the stream, the failback setting and the time,
never the key). The primary's side, which checks it and relays the feed, is on_air.py.
Why: docs/design/backup-failover.md (section 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import aiohttp

from streamops.contract.ingest import BACKUP_UPLINK_PATH, IngestStatus
from streamops.contract.stamped_token import stamped_token, stamped_token_valid
from streamops.contract.worker import STATUS_PATH
from streamops.media.ingest.feed import FeedHub

AUTH_HEADER = "X-Streamops-Backup-Auth"
FAILBACK_HEADER = "X-Streamops-Failback-Stable-Seconds"
# How often a live backup asks its primary whether it wants the backup's feed: part of the failover
# time (the primary asks PREPARE_SILENCE_SECONDS after its own media stopped, see failover.py).
OFFER_POLL_SECONDS = 0.5
ASK_TIMEOUT = aiohttp.ClientTimeout(total=2, sock_connect=1)
# The uplink lasts as long as the primary takes it; only the connect is bounded.
SEND_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=None)


UPLINK_PURPOSE = "streamops-backup-uplink"


def uplink_token(key: bytes, stream: str, stable_seconds: int, now: float) -> str:
    """The AUTH_HEADER value: `<unix time>.<HMAC-SHA256>` (contract/stamped_token.py)."""
    return stamped_token(key, UPLINK_PURPOSE, (stream, str(stable_seconds)), now)


def uplink_token_valid(key: bytes, stream: str, stable_seconds: int, token: str, now: float) -> bool:
    return stamped_token_valid(key, UPLINK_PURPOSE, (stream, str(stable_seconds)), token, now)


class BackupOffer:
    """The backup's side: while its own media flows, ask the primary every OFFER_POLL_SECONDS
    whether it wants it, and send it for as long as the primary takes it."""

    def __init__(
        self,
        primary_url: str,
        stream: str,
        stable_seconds: int,
        read_key: Callable[[], bytes | None],
        credential: Callable[[], dict[str, str]],
        log: logging.Logger,
    ) -> None:
        """`credential`: the headers that present the stream's worker credential to the primary."""
        self.primary_url = primary_url.rstrip("/")
        self.stream, self.stable_seconds = stream, stable_seconds
        self.read_key, self.credential, self.log = read_key, credential, log
        self.sending = False  # the primary takes our feed now
        self.uplinks = 0  # times it was sent

    async def run(self, stopping: asyncio.Event, feed: Callable[[], FeedHub], live: Callable[[], bool]) -> None:
        """`feed`: the backup's own feed; `live`: its own media flows."""
        # A new connection for each ask: a kept-alive one stays on the Pod it was opened to (conntrack),
        # and after a handover of the primary that Pod is the released predecessor, not the one serving.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            while not stopping.is_set():
                if live() and await self._wanted(http):
                    await self._send(http, feed())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), OFFER_POLL_SECONDS)

    async def _wanted(self, http: aiohttp.ClientSession) -> bool:
        try:
            status_url = self.primary_url + STATUS_PATH
            async with http.get(status_url, headers=self.credential(), timeout=ASK_TIMEOUT) as resp:
                if resp.status != 200:
                    return False
                return IngestStatus.model_validate(await resp.json()).backup_wanted
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return False  # the primary is starting, restarting or gone: ask again

    async def _send(self, http: aiohttp.ClientSession, hub: FeedHub) -> None:
        key = self.read_key()
        if key is None:
            return
        if not hub.live:
            return
        headers = {
            **self.credential(),
            AUTH_HEADER: uplink_token(key, self.stream, self.stable_seconds, time.time()),
            FAILBACK_HEADER: str(self.stable_seconds),
            "Content-Type": "video/mp2t",
        }

        async def body() -> AsyncIterator[bytes]:
            async for chunk in hub.subscribe():  # from the last keyframe on: the primary starts at once
                yield chunk

        self.log.info("the primary wants the backup's feed: sending it")
        self.sending, self.uplinks = True, self.uplinks + 1
        try:
            async with http.post(
                self.primary_url + BACKUP_UPLINK_PATH, data=body(), headers=headers, timeout=SEND_TIMEOUT
            ) as resp:
                if resp.status >= 300:
                    self.log.warning("the primary refused the backup's feed: %s %s", resp.status, await resp.text())
        except (aiohttp.ClientError, TimeoutError) as e:
            self.log.info("backup feed to the primary ended: %s", type(e).__name__)
        finally:
            self.sending = False
        self.log.info("the primary no longer takes the backup's feed")
