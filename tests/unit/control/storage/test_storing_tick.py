"""The actions a Recording's or a Clip's tick performs itself (storing_tick.py), on a stand-in loop:
a deletion runs its delete function in an API thread and leaves what it did for the next observe,
once (a failure with its message, what went before it); the stream's client fields go on Events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from streamops.api.recording import S3Storage, Video
from streamops.control.storage import storing_tick
from streamops.control.storage.retention import ExpiryFailed
from streamops.control.storage.retention_policy import Deleted, DeleteOrigins, DeleteVideos
from streamops.control.storage.storing_decide import CarryClientFields
from streamops.control.storage.storing_tick import Reads, StoringTick

S3 = S3Storage.model_validate({"endpoint": "https://s3.example.com", "bucket": "videos", "credentialsSecret": "c"})


def loop() -> Any:
    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    state = SimpleNamespace(call=call, api="api", settings="settings")
    return SimpleNamespace(state=state, namespace="media", key=("Recording", "media", "rec"), woken=asyncio.Event())


def tick() -> StoringTick[Any, Any, Any, Any]:
    reads = Reads(indexes=None, reader=None)  # type: ignore[arg-type]  # (observe is not run here)
    return StoringTick(reads, observe=None, decide=None, memory=dict)  # type: ignore[arg-type]


def test_deletions_are_run_and_what_they_did_is_taken_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def delete_videos(api: Any, settings: Any, namespace: str, s3: Any, videos: Sequence[Video]) -> list[str]:
        assert (api, settings, namespace, s3) == ("api", "settings", "media", S3)
        return ["s3://videos/a.mp4"]

    def delete_origins(api: Any, settings: Any, namespace: str, s3: Any, videos: Sequence[Video]) -> list[str]:
        raise ExpiryFailed("deleting s3://videos/b-origin.mp4: AccessDenied", ["s3://videos/a-origin.mp4"])

    monkeypatch.setattr(storing_tick, "delete_videos", delete_videos)
    monkeypatch.setattr(storing_tick, "delete_origins", delete_origins)
    t, fake = tick(), loop()

    async def run() -> None:
        await t.perform(fake, DeleteVideos(S3, ()))
        await t.perform(fake, DeleteOrigins(S3, ()))
        await t.perform(fake, CarryClientFields((("clientUserId", "7"),)))

    asyncio.run(run())
    assert t.reads.take_deleted() == (
        (Deleted(("s3://videos/a.mp4",)),),
        (Deleted(("s3://videos/a-origin.mp4",), "deleting s3://videos/b-origin.mp4: AccessDenied"),),
    )
    assert t.reads.take_deleted() == ((), ()), "taken once"
    assert fake.woken.is_set(), "the next tick marks them, or says why not"
    assert fake.client_annotations == {"clientUserId": "7"}


def test_an_action_of_another_kind_is_refused() -> None:
    with pytest.raises(TypeError):
        asyncio.run(tick().perform(loop(), object()))
