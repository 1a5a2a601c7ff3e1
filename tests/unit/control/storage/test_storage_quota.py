"""The recordings' quota (storage_quota.py): its levels, and the use it sums per scope from the
Recordings' and Clips' index entries."""

from __future__ import annotations

import pytest
from streamops.control.runtime.indexes import (
    ClipIndexFacts,
    RecordingIndexFacts,
    clip_entry,
    recording_entry,
    stream_entry,
)
from streamops.control.storage.storage_quota import QuotaUse, quota, quota_use

NS = "media"


@pytest.mark.parametrize(
    ("usage", "limit", "level"),
    [
        (0, 0, "ok"),
        (10**12, 0, "ok"),
        (799, 1000, "ok"),
        (800, 1000, "almost"),
        (999, 1000, "almost"),
        (1000, 1000, "full"),
        (1500, 1000, "full"),
    ],
)
def test_quota_levels(usage, limit, level):
    assert quota(usage, limit) == level


def test_quota_use_sums_the_index_per_scope_and_takes_the_fuller():
    def facts(name: str, stored: int) -> RecordingIndexFacts:
        return RecordingIndexFacts(name=name, recording=False, duration=None, auto=False, stored_bytes=stored)

    index = {
        (NS, "cam"): [facts("a", 300), facts("b", 200)],
        (NS, "other"): [facts("c", 400)],
        ("elsewhere", "cam"): [facts("d", 10**9)],
    }
    assert quota_use([index], NS, "cam", 0, None) is None
    assert quota_use([index], NS, "cam", 1000, None) == QuotaUse("namespace", 900, 1000)
    assert quota_use([index], NS, "cam", 0, 600) == QuotaUse("stream", 500, 600)
    assert quota_use([index], NS, "cam", 2000, 600).scope == "stream"
    assert quota_use([index], NS, "cam", 900, 600).scope == "namespace"  # both full: the fuller share
    # Clips' videos count in both scopes, as the Recordings' do.
    clips = {(NS, "cam"): [ClipIndexFacts("k1", 50)], (NS, "other"): [ClipIndexFacts("k2", 7)]}
    assert quota_use([index, clips], NS, "cam", 1000, None) == QuotaUse("namespace", 957, 1000)
    assert quota_use([index, clips], NS, "cam", 0, 600) == QuotaUse("stream", 550, 600)
    assert quota_use([index, clips], NS, "cam", 0, 550).level == "full"
    # The index entries carry what the quotas count.
    body = {"metadata": {"name": "a", "namespace": NS}, "spec": {"streamRef": {"name": "cam"}}}
    assert recording_entry({**body, "status": {"storedBytes": 42}})[(NS, "cam")].stored_bytes == 42
    # A Clip's: its video's size while stored; nothing before it is, nor once it expired.
    video = {"sizeBytes": 4096, "url": "s3://b/k.mp4"}
    assert clip_entry({**body, "status": {"videos": [video]}})[(NS, "cam")] == ClipIndexFacts("a", 4096)
    assert clip_entry(body)[(NS, "cam")].stored_bytes == 0
    expired = {**video, "expiredAt": "2026-11-25T00:00:00Z"}
    assert clip_entry({**body, "status": {"videos": [expired]}})[(NS, "cam")].stored_bytes == 0
    lst = {"metadata": {"name": "cam", "namespace": NS}, "spec": {"recording": {"quotaBytes": 7}}}
    assert stream_entry(lst)[(NS, "cam")].recording_quota_bytes == 7
