"""Retention's deletions (control/storage/retention.py), what a DeleteVideos action runs: with the
storage's labelled Secret, each video's object, sidecar and VOD page go; without it nothing is sent
and the failure names the Secret (no credentials in it). Against the fake API (the storage's Secrets)
and a recording S3 client. When a deletion is due, and what its failure says: test_retention_policy.py;
which videos are due: test_video_expiry.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from devtools.catalog import stored_video
from devtools.fake_kube import operator_view
from streamops.api.recording import S3Storage, Video
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage import retention
from streamops.control.storage.retention import ExpiryFailed, delete_videos

from tests.unit.control.shared.test_tenancy import NS, secret

SETTINGS = OperatorSettings()
S3 = S3Storage.model_validate({"endpoint": "https://s3.example", "bucket": "videos", "credentialsSecret": "s3"})
OLD = Video.model_validate(stored_video("media/cam/old.mp4"))


def test_a_missing_secret_sends_nothing_and_a_labelled_one_deletes_the_video_its_sidecar_and_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deleted: list[str] = []
    monkeypatch.setattr(
        retention, "s3_client", lambda _: SimpleNamespace(delete_object=lambda Bucket, Key: deleted.append(Key))
    )
    api = operator_view()
    with pytest.raises(ExpiryFailed, match="s3") as failed:
        delete_videos(api, SETTINGS, NS, S3, [OLD])
    assert failed.value.done == [] and deleted == []

    api.add_in(NS, secret("s3", True, accessKeyId="AKIA0000000000000001", secretAccessKey="not-a-real-secret-key"))
    assert delete_videos(api, SETTINGS, NS, S3, [OLD]) == [OLD.url]
    assert deleted == ["media/cam/old.mp4", "media/cam/old.json", "media/cam/old.html"]
