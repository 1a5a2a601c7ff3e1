"""Retention and quota against the S3 server on the LAN, on the pod-network cluster (issue 25): a
video with deleteAfterDays is deleted from the bucket once its (shortened) day is over; a stream's
recording.quotaBytes finalises a running Recording cleanly (NoSpace, its video uploaded) and refuses
the next one. The chart's retention day and interval are shortened by `helm upgrade` for the test
(worker.recordings.retentionDaySeconds, a test knob), and put back after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from devtools.catalog import recording
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.release import Release
from devtools.media.peers import Publisher
from devtools.media.s3_server import S3Server

from tests.multinode.test_streaming import rtmp_url, start_stream, stream_live, wait_live

# sets_release: short_days replaces what the test before it left (devtools.test_scopes.RELEASE_CHAIN).
pytestmark = [pytest.mark.timeout(900), pytest.mark.sets_release]

DAY_SECONDS = 15  # a video with deleteAfterDays 1 expires 15 s after its end


@pytest.fixture
def short_days(release: Release) -> Iterator[Release]:
    release.upgrade({"worker": {"recordings": {"retentionDaySeconds": DAY_SECONDS, "retentionIntervalSeconds": 3}}})
    try:
        yield release
    finally:
        release.restore_later()


def is_true(obj: dict[str, Any], kind: str) -> bool:
    return (condition(obj, kind) or {}).get("status") == "True"


def record_for(cluster: LocalCluster, ns: str, name: str, seconds: float) -> None:
    cluster.wait_status("rec", ns, name, lambda o: o["status"].get("recording"), f"{name} recording", 90)
    time.sleep(seconds)
    cluster.kubectl("patch", "rec", name, "-n", ns, "--type=merge", "-p", '{"spec":{"stopped":true}}')


def stored(s3: S3Server, bucket: str, ns: str) -> dict[str, int]:
    return {key: size for key, size in s3.objects(bucket, "").items() if f"/{ns}/" in f"/{key}"}


def test_retention_and_quota_against_the_s3_server_on_the_lan(
    cluster: LocalCluster,
    short_days: Release,
    namespace: str,
    publishers: list[Publisher],
    s3: S3Server,
    s3_storage: dict[str, dict[str, str]],
) -> None:
    ns = namespace
    bucket = s3_storage["s3"]["bucket"]
    stream = start_stream(cluster, ns)
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers, live=stream_live(cluster, ns))
    wait_live(cluster, ns)

    # Retention: one (15 s) day after the video's end, the video and its sidecar leave the bucket.
    expiring = {"s3": {**s3_storage["s3"], "deleteAfterDays": 1}}
    cluster.apply(ns, recording("kept-a-day", storage=expiring, minDurationSeconds=1))
    record_for(cluster, ns, "kept-a-day", 4)
    rec = cluster.wait_status("rec", ns, "kept-a-day", lambda o: is_true(o, "Succeeded"), "uploaded", 120)
    [video] = rec["status"]["videos"]
    key = video["url"].removeprefix(f"s3://{bucket}/")
    assert video["upload"] == "uploaded" and key in stored(s3, bucket, ns), video
    rec = cluster.wait_status(
        "rec", ns, "kept-a-day", lambda o: o["status"]["videos"][0].get("expiredAt"), "expired", DAY_SECONDS + 90
    )
    assert rec["status"]["storedBytes"] == 0
    assert not stored(s3, bucket, ns), "the video and its sidecar are deleted from the bucket"
    assert "VideoExpired" in cluster.event_reasons(ns)

    # Quota: the stream's limit is a few seconds of video; a running Recording is finalised at it.
    quota = '{"spec":{"recording":{"quotaBytes":400000}}}'
    cluster.kubectl("patch", "lst", "cam", "-n", ns, "--type=merge", "-p", quota)
    cluster.apply(ns, recording("capped", storage=s3_storage, minDurationSeconds=1))
    rec = cluster.wait_status("rec", ns, "capped", lambda o: is_true(o, "NoSpace"), "NoSpace: finalised", 180)
    assert (condition(rec, "Recording") or {}).get("reason") == "NoSpace", rec["status"]["conditions"]
    rec = cluster.wait_status(
        "rec", ns, "capped",
        lambda o: o["status"]["videos"] and all(v["upload"] == "uploaded" for v in o["status"]["videos"]),
        "its videos uploaded", 120,
    )  # fmt: skip
    assert stored(s3, bucket, ns), "finalised cleanly, in the bucket"
    cluster.apply(ns, recording("refused", storage=s3_storage))
    refused = cluster.wait_status("rec", ns, "refused", lambda o: is_true(o, "NoSpace"), "refused", 60)
    assert (condition(refused, "Ready") or {}).get("reason") == "NoSpace"
    assert cluster.get("pods", ns, "refused-recorder") is None
