"""The notifier (control/webhook/notifier.py) on the in-memory API adapter: watch events compared
with the outbox's facts, what it records there, and which stream's outbox a kind's events go to."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from devtools.fake_kube import FakeKubeApi
from streamops.api.webhook import StreamWebhookSpec
from streamops.control.webhook.notifier import Notifier, stream_of
from streamops.control.webhook.outbox import (
    outbox_name,
    outbox_of,
)
from streamops.control.webhook.subscription import Subscription

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


def test_a_kinds_events_go_to_its_streams_outbox() -> None:
    # Its events go to its first stream's outbox: one copy for a subscription that selects every stream.
    assert stream_of("Broadcast", "k", {"streams": ["main", "backup"]}) == "main"
    assert stream_of("Recording", "r", {"streamRef": {"name": "cam"}}) == "cam"
