"""Waiting for one of several events, with or without a timeout: how the ingest's watches sleep
until something changes or a deadline comes, instead of looking every fraction of a second
(docs/design/lean-ingest.md, "A quiet supervisor")."""

from __future__ import annotations

import asyncio


async def until_set(events: tuple[asyncio.Event, ...], timeout: float | None) -> None:
    """Return once one of `events` is set, or after `timeout` seconds (None: no timeout)."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
