"""Webhook events from status changes (control/webhook/events.py): which change of which kind makes
which event, in which order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streamops.api.webhook import StreamWebhookSpec
from streamops.control.webhook.events import changes_between, facts_of
from streamops.control.webhook.subscription import Subscription

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
