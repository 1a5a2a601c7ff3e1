"""A stream's webhook outbox (control/webhook/outbox.py): sequences, acknowledgements, the bounds, its
ConfigMap round trip."""

from __future__ import annotations

from datetime import UTC, datetime

from streamops.control.webhook.events import changes_between, facts_of
from streamops.control.webhook.outbox import (
    MAX_EVENTS,
    Outbox,
    acknowledged,
    outbox_manifest,
    outbox_of,
    pruned,
    recorded,
)

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def outbox_with(n: int, uids: list[str]) -> Outbox:
    box = Outbox(stream="s", facts={"stream": facts_of("LiveStream", {})})
    for i in range(n):
        status = {"live": i % 2 == 0, "activeIngest": "primary" if i % 2 == 0 else None}
        old = box.facts["stream"]
        new = facts_of("LiveStream", {"status": status})
        changes = {"stream": (new, changes_between("LiveStream", "s", old, new, status))}
        box = recorded(box, "ns", "uid", changes, {t: uids for t in ("stream.active", "stream.idle")}, NOW, {})
    return box


def test_outbox_sequences_acknowledgements_and_bounds() -> None:
    box = outbox_with(3, ["a", "b"])
    assert [e.seq for e in box.events] == [1, 2, 3]
    assert box.events[0].event["id"] == "uid-1" and box.events[0].event["sequence"] == "1"
    assert box.events[0].event["type"] == "dev.streamops.stream.active"
    box = acknowledged(box, "a", 1)
    assert box.next_for("a").seq == 2 and box.next_for("b").seq == 1
    box = acknowledged(box, "b", 1)
    assert [e.seq for e in box.events] == [2, 3]  # an event no one waits for goes
    # Round trip through the ConfigMap, and the bound.
    assert outbox_of(outbox_manifest("ns", box, "7")) == box
    big = outbox_with(MAX_EVENTS + 5, ["a"])
    kept, lost = pruned(big, NOW.timestamp(), {"a"})
    assert len(kept.events) == MAX_EVENTS and lost == {"a": 5} and kept.events[0].seq == 6
    # 24 h later everything left expires; a subscription that is gone no longer holds events.
    assert pruned(box, NOW.timestamp() + 24 * 3600 + 1, {"a", "b"})[1] == {"a": 2, "b": 2}
    assert pruned(box, NOW.timestamp(), {"a"})[0].backlog("b") == 0
