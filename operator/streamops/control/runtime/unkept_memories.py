"""kopf's per-object memory, made for each event and not kept (cli/operator.py hands it to kopf).

kopf keeps a `ResourceMemory` for every object it watches until the object's DELETED event: a
copy of the memo, an error throttler, an indexing state, a daemons' record (≈1.5 KB each, ≈5 MB
over the Pods, Services and slices of 500 streams and 500 Recordings, docs/design/operator-scale.md).
What it remembers there serves change handlers (the diff base, "handled once"), daemons and timers,
and the retries of a failed index handler; the operator registers none of those (index and event
handlers only, whose failures kopf logs and never retries), so each event gets a fresh memory.
The one thing lost is the escalation of kopf's error throttler for one object: every failed
processing of an event waits the first of `queueing.error_delays`, not the next.
"""

from __future__ import annotations

from kopf._cogs.structs import bodies, ephemera
from kopf._core.intents.registries import OperatorRegistry
from kopf._core.reactor.inventory import ResourceMemories, ResourceMemory


class UnkeptMemories(ResourceMemories):
    async def recall(
        self,
        raw_body: bodies.RawBody,
        *,
        memobase: ephemera.AnyMemo | None = None,
        noticed_by_listing: bool = False,
        ephemeral: bool = False,
    ) -> ResourceMemory:
        return await super().recall(raw_body, memobase=memobase, noticed_by_listing=noticed_by_listing, ephemeral=True)


def kept_memory_needed_by(registry: OperatorRegistry) -> list[str]:
    """The handlers that need kopf to keep each object's memory: change handlers, daemons, timers,
    admission webhooks."""
    found = [*registry._changing.get_all_handlers(), *registry._spawning.get_all_handlers()]
    found += [*registry._webhooks.get_all_handlers()]
    return sorted(str(handler.id) for handler in found)


def memories_for(registry: OperatorRegistry) -> ResourceMemories:
    """UnkeptMemories while no handler needs a kept memory, else kopf's own (a daemon added later
    keeps working, with the memory it needs)."""
    return ResourceMemories() if kept_memory_needed_by(registry) else UnkeptMemories()
