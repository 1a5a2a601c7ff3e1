"""Retention's deletions (control/storage/retention.py): expire_videos over the status last written,
at most every retention_interval_seconds; a pass that fails gives one Warning per failure streak,
one that deletes says what it deleted (the loop writes the status at once). Against the fake API
(the storage's Secrets) and a recording S3 client: which videos are due is video_expiry.py's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from devtools.catalog import stored_video
from devtools.fake_kube import FakeKubeApi, operator_view
from streamops.api.recording import RecordingStorage, Video
from streamops.control.shared.settings import OperatorSettings, RecordingsSettings
from streamops.control.storage import retention
from streamops.control.storage.retention import Expiry, ExpiryPass, expire_videos

from tests.unit.control.shared.test_tenancy import NS, put, secret

SETTINGS = OperatorSettings(recordings=RecordingsSettings(retention_interval_seconds=3600))
STORAGE = RecordingStorage.model_validate(
    {"s3": {"endpoint": "https://s3.example", "bucket": "videos", "credentialsSecret": "s3", "deleteAfterDays": 1}}
)
OLD = Video.model_validate(stored_video("media/cam/old.mp4"))  # ended 2026-11-23: long due


def state(api: FakeKubeApi) -> Any:
    """The operator's state as expire_videos uses it: settings, the API, its threads (here inline)."""

    async def call(function: Callable[..., Any], *args: Any) -> Any:
        return function(*args)

    return SimpleNamespace(settings=SETTINGS, api=api, call=call)


def test_a_failing_pass_warns_once_per_streak_and_a_later_one_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    deleted: list[str] = []
    monkeypatch.setattr(
        retention, "s3_client", lambda _: SimpleNamespace(delete_object=lambda Bucket, Key: deleted.append(Key))
    )
    api, expiry = operator_view(), Expiry()
    sweep = lambda: asyncio.run(expire_videos(state(api), NS, expiry, STORAGE, [OLD]))  # noqa: E731

    first = sweep()  # the credentials Secret is missing: nothing sent
    assert first.deleted == () and first.warning is not None and "s3" in first.warning and deleted == []
    assert sweep() == ExpiryPass(), "the next pass waits for the interval"
    expiry.checked_at = float("-inf")
    assert sweep() == ExpiryPass(), "still failing: no second Warning in the streak"
    assert expiry.failing

    put(api, secret("s3", True, accessKeyId="AKIA0000000000000001", secretAccessKey="not-a-real-secret-key"))
    expiry.checked_at = float("-inf")
    assert sweep() == ExpiryPass(deleted=(OLD.url,)) and not expiry.failing
    assert deleted == ["media/cam/old.mp4", "media/cam/old.json", "media/cam/old.html"]
    assert list(expiry.expired) == [OLD.url], "the status function marks it expiredAt"


def test_a_storage_without_retention_or_a_claim_deletes_nothing() -> None:
    api = operator_view()
    claim = RecordingStorage.model_validate({"pvc": {"claimName": "videos"}})
    kept = RecordingStorage.model_validate(
        {"s3": {"endpoint": "https://s3.example", "bucket": "videos", "credentialsSecret": "s3"}}
    )
    for storage in (None, claim, kept):
        assert asyncio.run(expire_videos(state(api), NS, Expiry(), storage, [OLD])) == ExpiryPass()
