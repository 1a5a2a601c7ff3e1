"""kopf watches a resource whose CRD is installed after the operator started only if the rescan of
the group's discovery it makes at each event of the group's CRDs already sees the resource. The
group reaches `/apis` through the API server's own chain of controllers (the CRD's Established
condition, then its APIService), which can lag every one of those events; kopf then never looks
again, and the operator would not watch HTTPRoutes until a restart (CI of stop 48: 60 s without the
watch after the Gateway API's CRDs were Established). So while a resource the operator has handlers
for is not watched, its group is asked of discovery every few seconds, and once it is served kopf
rescans the group as a CRD event would have it do (docs/design/exposure.md)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import cast

import kopf
from kopf._cogs.clients import api, errors
from kopf._cogs.structs import bodies, references
from kopf._core.reactor import observation

log = logging.getLogger("streamops.operator")

INTERVAL = 5.0  # seconds between looks while a resource is not watched: one 404 where not installed
BACKOFF_CAP = 300.0  # a served group whose rescan still lacks the resource (another version only)


@dataclass
class DiscoveryRescans:
    """The loop: `unwatched()` names the groups with a wanted resource kopf does not watch,
    `served(group)` asks discovery, `rescan(group)` has kopf look at the group again."""

    unwatched: Callable[[], Collection[str]]
    served: Callable[[str], Awaitable[bool]]
    rescan: Callable[[str], Awaitable[None]]
    interval: float = INTERVAL
    clock: Callable[[], float] = time.monotonic
    backoff: dict[str, float] = field(default_factory=dict)  # group → seconds until the next rescan
    due: dict[str, float] = field(default_factory=dict)  # group → when it may be rescanned again

    async def tick(self) -> list[str]:
        """One look at every unwatched group; the groups rescanned."""
        rescanned = []
        for group in sorted(self.unwatched()):
            if self.clock() < self.due.get(group, 0.0):
                continue
            try:
                if not await self.served(group):
                    self.backoff.pop(group, None)
                    self.due.pop(group, None)
                    continue
                await self.rescan(group)
            except Exception as e:  # the API unreachable: the next tick
                log.warning("could not look at %s in discovery: %s", group, e)
                continue
            rescanned.append(group)
            if group in self.unwatched():
                # Served, yet not the version the handlers want: less often, up to BACKOFF_CAP.
                self.backoff[group] = min(BACKOFF_CAP, 2 * self.backoff.get(group, self.interval))
                self.due[group] = self.clock() + self.backoff[group]
            else:
                log.info("%s came to discovery after the events of its CRDs: now watched", group)
                self.backoff.pop(group, None)
                self.due.pop(group, None)
        return rescanned

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.tick()


def kopf_discovery_rescans(
    settings: kopf.OperatorSettings,
    registry: kopf.OperatorRegistry,
    insights: references.Insights,
    wanted: Collection[tuple[str, str]],
) -> DiscoveryRescans:
    """The loop over kopf's own view (`insights`, which the operator gives kopf.operator) and its own
    rescan of a group, the one it makes at a CRD's event (kopf is pinned: requirements)."""

    def unwatched() -> set[str]:
        if not insights.ready_resources.is_set():
            return set()  # kopf's first scan of everything is not done yet
        watched = {(r.group, r.plural) for r in insights.watched_resources}
        return {group for group, plural in wanted if (group, plural) not in watched}

    async def served(group: str) -> bool:
        try:
            await api.get(f"/apis/{group}", settings=settings, logger=log)
        except errors.APINotFoundError:
            return False
        return True

    async def rescan(group: str) -> None:
        event = cast(bodies.RawEvent, {"type": "MODIFIED", "object": {"spec": {"group": group}}})
        await observation.process_discovered_resource_event(
            raw_event=event, settings=settings, registry=registry, insights=insights
        )

    return DiscoveryRescans(unwatched, served, rescan)
