"""The Secrets a stream's Restream reconciles share (control/restream/secret_reads.py): N siblings
reconciling together read each Secret once, not N times; a missing Secret is always read again."""

from __future__ import annotations

from typing import Any

from streamops.control.restream.secret_reads import RecentSecrets


class CountingApi:
    def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
        self.secrets = secrets
        self.gets = 0

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert kind == "Secret"
        self.gets += 1
        return self.secrets.get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_secret_read_lately_is_handed_out_again_until_it_is_too_old() -> None:
    api, clock = CountingApi({"k": {"data": {"streamKey": "djE="}}}), Clock()
    recent = RecentSecrets(max_age=2.0, clock=clock)
    for _ in range(50):  # fifty sibling reconciles in one burst
        assert recent.get(api, "ns", "k") == {"data": {"streamKey": "djE="}}  # type: ignore[arg-type]
    assert api.gets == 1
    api.secrets["k"] = {"data": {"streamKey": "djI="}}  # rotated
    clock.now += 2.0
    assert recent.get(api, "ns", "k") == {"data": {"streamKey": "djI="}}  # type: ignore[arg-type]
    assert api.gets == 2


def test_a_missing_secret_is_read_again_at_every_look() -> None:
    api, clock = CountingApi({}), Clock()
    recent = RecentSecrets(max_age=2.0, clock=clock)
    assert recent.get(api, "ns", "k") is None  # type: ignore[arg-type]
    api.secrets["k"] = {"data": {}}  # created to clear the missing key
    assert recent.get(api, "ns", "k") == {"data": {}}  # type: ignore[arg-type]
    assert api.gets == 2


def test_old_reads_are_dropped_not_kept() -> None:
    api, clock = CountingApi({"a": {}, "b": {}}), Clock()
    recent = RecentSecrets(max_age=2.0, clock=clock)
    recent.get(api, "ns", "a")  # type: ignore[arg-type]
    clock.now += 5.0
    recent.get(api, "ns", "b")  # type: ignore[arg-type]
    assert list(recent._read) == [("ns", "b")]
