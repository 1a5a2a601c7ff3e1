"""The operator's rescans of discovery (control/runtime/discovery_rescan.py) over stand-ins of
kopf's view and of the API: a group whose CRD events kopf's rescans missed is rescanned once it is
served, a group not installed costs one look a tick, and a served group that still lacks the wanted
version is looked at less and less often. (With kopf and a real API server: tests/cluster/test_playback_routes.py.)"""

from __future__ import annotations

import asyncio
import itertools

from streamops.control.runtime.discovery_rescan import BACKOFF_CAP, INTERVAL, DiscoveryRescans

GATEWAY = "gateway.networking.k8s.io"


class Api:
    """Discovery and kopf's watched set: `rescan` watches what is served and `resolves`."""

    def __init__(self) -> None:
        self.installed: set[str] = set()
        self.resolves = True
        self.watched: set[str] = set()
        self.looks: list[str] = []
        self.rescans: list[str] = []
        self.now = 0.0
        self.down = False

    def unwatched(self) -> set[str]:
        return {GATEWAY} - self.watched

    async def served(self, group: str) -> bool:
        self.looks.append(group)
        if self.down:
            raise ConnectionError("the API is unreachable")
        return group in self.installed

    async def rescan(self, group: str) -> None:
        self.rescans.append(group)
        if self.resolves and group in self.installed:
            self.watched.add(group)

    def loop(self) -> DiscoveryRescans:
        return DiscoveryRescans(self.unwatched, self.served, self.rescan, clock=lambda: self.now)


def test_a_group_served_after_its_crd_events_is_rescanned_once_and_then_left_alone() -> None:
    api = Api()
    loop = api.loop()
    assert asyncio.run(loop.tick()) == [] and api.looks == [GATEWAY], "not installed: one look, no rescan"
    api.installed.add(GATEWAY)  # discovery caught up after kopf's last rescan
    assert asyncio.run(loop.tick()) == [GATEWAY] and api.watched == {GATEWAY}
    looks = len(api.looks)
    for _ in range(3):
        assert asyncio.run(loop.tick()) == []
    assert len(api.looks) == looks and api.rescans == [GATEWAY], "watched: nothing more is asked"


def test_a_served_group_without_the_wanted_version_is_asked_less_and_less_often() -> None:
    api = Api()
    api.installed.add(GATEWAY)
    api.resolves = False  # e.g. an old Gateway API serving v1beta1 only
    loop = api.loop()
    times = []
    for second in range(0, 2000):
        api.now = float(second)
        if asyncio.run(loop.tick()):
            times.append(second)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:4] == [2 * INTERVAL, 4 * INTERVAL, 8 * INTERVAL, 16 * INTERVAL], gaps
    assert max(gaps) == BACKOFF_CAP
    api.installed.discard(GATEWAY)  # uninstalled: the back-off is forgotten
    api.now += BACKOFF_CAP
    asyncio.run(loop.tick())
    assert loop.due == {} and loop.backoff == {}


def test_an_unreachable_api_is_tried_again_at_the_next_tick() -> None:
    api = Api()
    api.installed.add(GATEWAY)
    api.down = True
    loop = api.loop()
    assert asyncio.run(loop.tick()) == [] and api.rescans == []
    api.down = False
    assert asyncio.run(loop.tick()) == [GATEWAY] and api.watched == {GATEWAY}
