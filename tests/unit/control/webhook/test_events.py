"""Webhooks, the pure parts: events from status changes, the outbox, subscriptions, signatures."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from devtools.fake_kube import FakeKubeApi
from streamops.api.webhook import StreamWebhookSpec
from streamops.contract.webhook_event import body_of, signed_headers, verify
from streamops.control.runtime.settings import OperatorSettings
from streamops.control.webhook.delivery import backoff_seconds, secrets_of
from streamops.control.webhook.events import changes_between, facts_of
from streamops.control.webhook.notifier import Notifier, stream_of
from streamops.control.webhook.outbox import (
    MAX_EVENTS,
    Outbox,
    acknowledged,
    outbox_manifest,
    outbox_name,
    outbox_of,
    pruned,
    recorded,
)
from streamops.control.webhook.subscription import Subscription, selector_matches

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def types(kind: str, name: str, old: dict | None, status: dict) -> list[str]:
    old_facts = facts_of(kind, {"status": old}) if old is not None else None
    return [c.type for c in changes_between(kind, name, old_facts, facts_of(kind, {"status": status}), status)]


def test_stream_events_follow_what_is_on_air() -> None:
    live = {"live": True, "activeIngest": "primary", "startedAtPrimary": "2026-11-26T05:00:00Z"}
    assert types("LiveStream", "s", {}, live) == ["stream.active"]
    assert types("LiveStream", "s", {}, {"live": True}) == ["stream.active"]  # (activeIngest not written yet)
    assert types("LiveStream", "s", live, {"live": False}) == ["stream.idle"]
    backup = {**live, "live": False, "activeIngest": "backup"}
    assert types("LiveStream", "s", live, backup) == ["stream.backup_active"]  # on air all along
    assert types("LiveStream", "s", {}, backup) == ["stream.active", "stream.backup_active"]
    assert types("LiveStream", "s", backup, live) == ["stream.primary_restored"]
    assert types("LiveStream", "s", backup, {}) == ["stream.idle"]
    # A new session between two observations (startedAt moved while live): idle, then active.
    again = {**live, "startedAtPrimary": "2026-11-26T05:01:00Z"}
    assert types("LiveStream", "s", live, again) == ["stream.idle", "stream.active"]
    assert types("LiveStream", "s", live, {**live, "bitrate": 3}) == []


def test_recording_events_name_the_ready_video_and_where_it_is() -> None:
    video = {
        "title": "Stream Record: t, 2026-11-26 05:00:00",
        "url": "s3://b/k.mp4",
        "upload": "uploaded",
        "durationSeconds": 20.0,
        "sizeBytes": 100,
        "startedAt": "2026-11-26T04:59:40Z",
        "endedAt": "2026-11-26T05:00:00Z",
    }
    pending = {**video, "upload": "pending"}
    assert types("Recording", "r", {}, {"recording": True}) == ["recording.started"]
    assert types("Recording", "r", {"recording": True}, {"recording": False, "videos": [pending]}) == [
        "recording.stopped"
    ]
    status = {"recording": False, "videos": [video]}
    old = facts_of("Recording", {"status": {"videos": [pending]}})
    [ready] = changes_between("Recording", "r", old, facts_of("Recording", {"status": status}), status)
    assert ready.type == "recording.video_ready" and ready.subject == "recordings/r"
    assert ready.data["location"] == "s3://b/k.mp4" and ready.data["download"] == {"recording": "r", "number": 1}
    failing = {"conditions": [{"type": "Uploaded", "status": "False", "reason": "StorageUnreachable"}]}
    assert types("Recording", "r", {}, failing) == ["recording.upload_failing"]
    full = {"conditions": [{"type": "NoSpace", "status": "True", "reason": "NoSpace"}]}
    assert types("Recording", "r", {}, full) == ["recording.no_space"]


def test_a_recording_stopped_and_its_video_ready_in_one_observation_come_stopped_first() -> None:
    """Issue 41: a receiver got `recording.video_ready` before `recording.stopped` of one Recording."""
    video = {"title": "Stream Record: t, 2026-11-26 05:00:00", "path": "ns/rec-1.mp4", "durationSeconds": 20.0}
    finished = {"recording": False, "endedAt": "2026-11-26T05:00:00Z", "videos": [video]}
    assert types("Recording", "r", {"recording": True}, finished) == ["recording.stopped", "recording.video_ready"]
    # Started and a video in one observation (a split while the operator was away): started first.
    assert types("Recording", "r", {}, {"recording": True, "videos": [video]}) == [
        "recording.started",
        "recording.video_ready",
    ]
    full = {**finished, "conditions": [{"type": "NoSpace", "status": "True", "reason": "NoSpace"}]}
    assert types("Recording", "r", {"recording": True}, full) == [
        "recording.no_space",
        "recording.stopped",
        "recording.video_ready",
    ]


NS = "ns"
STREAM = {"metadata": {"namespace": NS, "name": "cam", "uid": "cam-uid"}, "spec": {"title": "Camera"}}
VIDEO = {"title": "Stream Record: Camera, 2026-11-26 05:00:30", "path": "ns/rec-1.mp4", "durationSeconds": 30.0}


def a_recording(status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": NS, "name": "rec"}, "spec": {"streamRef": {"name": "cam"}}, "status": status}


def a_notifier(api: FakeKubeApi) -> Notifier:
    """The operator's notifier on the fake API server, with one subscription to every event (its
    delivery is not run: what is recorded is read from the outbox ConfigMap)."""

    async def call(function: Any, *args: Any) -> Any:
        return function(*args)

    notifier = Notifier(state=SimpleNamespace(api=api, call=call), session=None)  # type: ignore[arg-type]
    spec = StreamWebhookSpec.model_validate({"url": "http://receiver/x", "secretRef": {"name": "s"}})
    delivery = SimpleNamespace(sub=Subscription("sub-uid", NS, "w", 1, spec), wake=asyncio.Event())
    notifier.deliveries["sub-uid"] = delivery  # type: ignore[assignment]
    return notifier


async def observed(notifier: Notifier, kind: str, body: dict[str, Any]) -> None:
    """A watch event, and the comparison it schedules run to the end."""
    notifier.observe(kind, "MODIFIED", body)
    while notifier._syncs:
        await asyncio.gather(*list(notifier._syncs.values()))


def recorded_types(api: FakeKubeApi) -> list[str]:
    outbox = outbox_of(api.object("ConfigMap", NS, outbox_name("cam")) or {})
    assert outbox is not None
    return [e.event["type"].removeprefix("dev.streamops.") for e in outbox.events]


def test_a_stopping_recordings_last_video_is_ready_after_it_stopped_across_an_operator_restart() -> None:
    """spec.stopped: the recorder lists its last video while it still says it is recording, and says
    stopped only once done. The status written in between (recording, Recording False/Stopping, the
    video) made `recording.video_ready` (sequence 4) before `recording.stopped` (5). The video waits
    for the observation that sees the Recording stopped, also when the operator restarts meanwhile."""
    api = FakeKubeApi()
    live = {"status": {"live": True, "activeIngest": "primary", "startedAtPrimary": "2026-11-26T05:00:00Z"}}
    recording = {"recording": True, "startedAt": "2026-11-26T05:00:00Z"}
    stopping = {
        **recording,
        "conditions": [{"type": "Recording", "status": "False", "reason": "Stopping"}],
        "videos": [VIDEO],
    }
    stopped = {
        **stopping,
        "recording": False,
        "endedAt": "2026-11-26T05:00:31Z",
        "duration": 30.0,
        "conditions": [{"type": "Recording", "status": "False", "reason": "Stopped"}],
    }

    async def before_the_restart() -> None:
        notifier = a_notifier(api)
        await observed(notifier, "LiveStream", {**STREAM, **live})  # the outbox's baseline
        await observed(notifier, "Recording", a_recording(recording))
        await observed(notifier, "Recording", a_recording(stopping))

    async def after_it() -> None:
        notifier = a_notifier(api)  # reads the outbox (its facts) from the ConfigMap
        await observed(notifier, "LiveStream", {**STREAM, **live})
        await observed(notifier, "Recording", a_recording(stopping))
        assert recorded_types(api) == ["recording.started"], "the video waits for the stop"
        await observed(notifier, "Recording", a_recording(stopped))

    asyncio.run(before_the_restart())
    assert recorded_types(api) == ["recording.started"]
    asyncio.run(after_it())
    assert recorded_types(api) == ["recording.started", "recording.stopped", "recording.video_ready"]
    outbox = outbox_of(api.object("ConfigMap", NS, outbox_name("cam")) or {})
    assert outbox is not None
    stop, ready = (e.event for e in outbox.events[1:])
    assert (stop["data"]["endedAt"], stop["data"]["videos"]) == ("2026-11-26T05:00:31Z", 1)
    assert ready["data"]["number"] == 1 and ready["data"]["location"] == "ns/rec-1.mp4"
    assert [int(e.event["sequence"]) for e in outbox.events] == [1, 2, 3]


def test_clip_events_say_ready_with_the_download_or_failed_with_why() -> None:
    video = {"title": "goal", "url": "s3://b/clip.mp4", "upload": "uploaded", "durationSeconds": 30.1, "sizeBytes": 9}
    waiting = {"conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Waiting"}]}
    assert types("Clip", "c", {}, waiting) == []
    assert types("Clip", "c", waiting, {"videos": [{**video, "upload": "pending"}]}) == []  # not in the bucket yet
    status = {"videos": [video], "conditions": [{"type": "Succeeded", "status": "True"}]}
    [ready] = changes_between(
        "Clip", "c", facts_of("Clip", {"status": waiting}), facts_of("Clip", {"status": status}), status
    )
    assert ready.type == "clip.ready" and ready.subject == "clips/c"
    assert ready.data["location"] == "s3://b/clip.mp4" and ready.data["download"] == {"clip": "c"}
    assert ready.data["durationSeconds"] == 30.1
    assert types("Clip", "c", status, status) == []  # once
    refused = {"conditions": [{"type": "Succeeded", "status": "False", "reason": "OutsideDvrWindow", "message": "m"}]}
    [failed] = changes_between("Clip", "c", None, facts_of("Clip", {"status": refused}), refused)
    assert (failed.type, failed.data) == ("clip.failed", {"reason": "OutsideDvrWindow", "message": "m"})
    spec = StreamWebhookSpec.model_validate({"url": "http://r/x", "secretRef": {"name": "s"}, "events": ["clip.*"]})
    assert Subscription("u", "ns", "w", 1, spec).wants("clip.failed")


def test_restream_events_tell_connected_from_recovered() -> None:
    backoff = {"live": False, "lastError": "refused", "conditions": [{"type": "Live", "reason": "Backoff"}]}
    assert types("Restream", "x", {}, {"live": True}) == ["restream.connected"]
    assert types("Restream", "x", {"live": True}, backoff) == ["restream.failing"]
    assert types("Restream", "x", backoff, {"live": True}) == ["restream.recovered"]
    assert types("Restream", "x", backoff, backoff) == []
    again = {"live": False, "lastError": "refused", "conditions": [{"type": "Live", "reason": "Connecting"}]}
    assert types("Restream", "x", backoff, again) == [] and types("Restream", "x", again, {"live": True}) == [
        "restream.recovered"
    ]
    assert types("Restream", "x", {}, {"conditions": [{"type": "Live", "reason": "Connecting"}]}) == []


def _outbox_with(n: int, uids: list[str]) -> Outbox:
    box = Outbox(stream="s", facts={"stream": facts_of("LiveStream", {})})
    for i in range(n):
        status = {"live": i % 2 == 0, "activeIngest": "primary" if i % 2 == 0 else None}
        old = box.facts["stream"]
        new = facts_of("LiveStream", {"status": status})
        changes = {"stream": (new, changes_between("LiveStream", "s", old, new, status))}
        box = recorded(box, "ns", "uid", changes, {t: uids for t in ("stream.active", "stream.idle")}, NOW, {})
    return box


def test_outbox_sequences_acknowledgements_and_bounds() -> None:
    box = _outbox_with(3, ["a", "b"])
    assert [e.seq for e in box.events] == [1, 2, 3]
    assert box.events[0].event["id"] == "uid-1" and box.events[0].event["sequence"] == "1"
    assert box.events[0].event["type"] == "dev.streamops.stream.active"
    box = acknowledged(box, "a", 1)
    assert box.next_for("a").seq == 2 and box.next_for("b").seq == 1
    box = acknowledged(box, "b", 1)
    assert [e.seq for e in box.events] == [2, 3]  # an event no one waits for goes
    # Round trip through the ConfigMap, and the bound.
    assert outbox_of(outbox_manifest("ns", box, "7")) == box
    big = _outbox_with(MAX_EVENTS + 5, ["a"])
    kept, lost = pruned(big, NOW.timestamp(), {"a"})
    assert len(kept.events) == MAX_EVENTS and lost == {"a": 5} and kept.events[0].seq == 6
    # 24 h later everything left expires; a subscription that is gone no longer holds events.
    assert pruned(box, NOW.timestamp() + 24 * 3600 + 1, {"a", "b"})[1] == {"a": 2, "b": 2}
    assert pruned(box, NOW.timestamp(), {"a"})[0].backlog("b") == 0


def test_subscription_filters_and_selectors() -> None:
    spec = StreamWebhookSpec.model_validate(
        {
            "url": "http://receiver/x",
            "secretRef": {"name": "s"},
            "events": ["recording.*", "stream.active"],
            "streamSelector": {"matchLabels": {"tier": "gold"}},
        }
    )
    sub = Subscription("u", "ns", "w", 1, spec)
    assert sub.wants("recording.video_ready") and sub.wants("stream.active") and not sub.wants("stream.idle")
    assert sub.selects({"tier": "gold"}) and not sub.selects({})
    assert selector_matches(spec.stream_selector.model_copy(update={"match_labels": {}, "match_expressions": []}), {})


def test_signatures_verify_rotate_and_expire() -> None:
    event = _outbox_with(1, ["a"]).events[0].event
    body = body_of(event)
    now = int(time.time())
    headers = signed_headers(event["id"], now, body, [b"new", b"old"])
    assert verify(headers, body, b"new") and verify(headers, body, b"old")
    assert not verify(headers, body, b"wrong")
    assert not verify(headers, body + b" ", b"new")
    assert not verify(headers, body, b"new", now=now + 301)
    assert not verify({**headers, "webhook-id": "other"}, body, b"new")


def test_backoff_and_secrets() -> None:
    cap = OperatorSettings().webhooks.backoff_cap_seconds
    assert cap == 30.0, "the default cap: a receiver back after 60 s gets its backlog within 30 s"
    assert backoff_seconds(1, 0.5, cap) == 1.0 and backoff_seconds(3, 0.5, cap) == 4.0
    assert backoff_seconds(20, 0.5, cap) == 30.0
    assert [backoff_seconds(n, 0.5, 2.0) for n in (1, 2, 3, 20)] == [1.0, 2.0, 2.0, 2.0]  # a short cap
    assert OperatorSettings.from_env({"STREAMOPS_WEBHOOK_BACKOFF_CAP_SECONDS": "2"}).webhooks.backoff_cap_seconds == 2
    assert secrets_of({"data": {"secret": "bmV3", "previous": "b2xk"}}, "secret") == [b"new", b"old"]
    assert secrets_of({"data": {}}, "secret") is None and secrets_of(None, "secret") is None


def test_broadcast_events_follow_its_phase_and_the_stream_on_air() -> None:
    pending: dict[str, Any] = {"phase": "Pending"}
    live = {"phase": "Live", "onAir": "main", "liveSince": "2026-11-28T22:00:00Z"}
    assert types("Broadcast", "k", {}, pending) == [], "a new pending broadcast is quiet"
    [went] = changes_between(
        "Broadcast", "k", facts_of("Broadcast", {"status": pending}), facts_of("Broadcast", {"status": live}), live
    )
    assert (went.type, went.subject) == ("broadcast.live", "broadcasts/k")
    assert went.data == {"phase": "Live", "onAir": "main", "previousPhase": "Pending", "liveSince": live["liveSince"]}
    assert types("Broadcast", "k", live, {**live, "onAir": "backup"}) == ["broadcast.switched"]
    assert types("Broadcast", "k", live, live) == []
    assert types("Broadcast", "k", live, {"phase": "Paused"}) == ["broadcast.paused"]
    assert types("Broadcast", "k", {"phase": "Paused"}, {"phase": "Finished"}) == ["broadcast.finished"]
    assert types("Broadcast", "k", live, pending) == ["broadcast.pending"]
    spec = StreamWebhookSpec.model_validate(
        {"url": "http://r/x", "secretRef": {"name": "s"}, "events": ["broadcast.*"]}
    )
    assert Subscription("u", "ns", "w", 1, spec).wants("broadcast.switched")
    # Its events go to its first stream's outbox: one copy for a subscription that selects every stream.
    assert stream_of("Broadcast", "k", {"streams": ["main", "backup"]}) == "main"
    assert stream_of("Recording", "r", {"streamRef": {"name": "cam"}}) == "cam"
