"""Clips through the operator (issue 29): a real API server and operator, a real ingest with DVR
(a local Pod) fed by a real FFmpeg publisher, and the clipper run as its Pod would be:

- a Clip of the last seconds: its clipper Pod, Succeeded with videos[0] (the MP4 on the claim,
  ffprobe'd, and its sidecar), the Pod gone once the final status is written, the printer columns;
- refusals before any Pod, as a condition and one Warning Event (annotated with the stream's client
  fields): NoDvr, EndTooFarInFuture, and NoSpace once the stored clip fills the stream's recordings
  quota (spec.recording.quotaBytes 1: the first clip's video counts in it);
- the spec is immutable (CEL, on the real API server).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from typing import Any

import pytest
from devtools.catalog import clip, livestream
from devtools.cluster.api_reads import ApiRefused
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.http_client import http_get
from devtools.media.peers import Publisher
from devtools.waits import eventually


def state(obj: dict[str, Any], type_: str) -> tuple[str, str] | None:
    c = condition(obj, type_)
    return (c["status"], c["reason"]) if c else None


def dvr_seconds(url: str) -> float:
    code, body = http_get(url)
    lines = body.decode(errors="replace").splitlines() if code == 200 else []
    return sum(float(line.split(":")[1].split(",")[0]) for line in lines if line.startswith("#EXTINF:"))


def test_a_clip_from_the_dvr_and_refusals(cluster, operator, namespace, local_pods: LocalPods, tmp_path):
    ns = namespace
    dvr = {"enabled": True, "durationSeconds": 60}
    cluster.apply(
        ns,
        livestream(
            "cam",
            dvr=dvr,
            hls={"segmentSeconds": 1},
            screenshots={"enabled": False},
            recording={"quotaBytes": 1},  # empty until the first clip is stored, full after
            clientUserId=7,
        ),
        livestream("nodvr", screenshots={"enabled": False}),
    )
    ingest = local_pods.start(ns, "cam-ingest")
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    playlist = f"http://127.0.0.1:{ingest.config['ports']['http']}/hls/ts/index.m3u8"
    publisher = Publisher(
        f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}",
        size="320x180",
        rate=15,
        gop_seconds=1,
        video_bitrate="300k",
        log_path=tmp_path / "publisher.log",
    )
    with publisher:
        eventually(lambda: dvr_seconds(playlist) >= 5, timeout=40, interval=0.5, what="5 s in the DVR")
        cluster.apply(
            ns,
            clip("last", lastSeconds=4),
            clip("nodvr-clip", streamRef={"name": "nodvr"}, lastSeconds=4),
            clip("far", start="2030-01-01T00:00:00Z", end="2030-01-01T00:01:00Z"),
        )
        clipper = local_pods.start(ns, "last-clipper")
        done = cluster.wait_status(
            "clips", ns, "last", lambda o: state(o, "Succeeded") == ("True", "Clipped"), "Succeeded", timeout=40
        )
    video = done["status"]["videos"][0]
    assert state(done, "Ready") == ("True", "Clipped") and condition(done, "Stalled") is None
    assert video["title"].startswith("Clip: Camera, ") and video["path"].endswith(".mp4")
    assert 4 - 0.2 <= video["durationSeconds"] <= 4 + 1 + 0.2, video  # a GOP (1 s) more at most
    assert done["status"]["storage"]["pvc"]["claimName"] == "streamops-recordings"
    assert done["status"]["startedAt"] and done["status"]["endedAt"]
    mp4 = clipper.claim_dir("streamops-recordings") / video["path"]
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(mp4)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert abs(float(json.loads(probe.stdout)["format"]["duration"]) - video["durationSeconds"]) < 0.01
    assert video["sizeBytes"] == mp4.stat().st_size
    assert json.loads(mp4.with_suffix(".json").read_text())["durationSeconds"] == video["durationSeconds"]
    eventually(lambda: cluster.get("pods", ns, "last-clipper") is None, timeout=30, what="the clipper Pod removed")

    cluster.apply(ns, clip("full", lastSeconds=2))
    refusals = (("nodvr-clip", "NoDvr"), ("far", "EndTooFarInFuture"), ("full", "NoSpace"))
    for name, reason in refusals:
        refused = cluster.wait_status(
            "clips", ns, name, lambda o, r=reason: state(o, "Succeeded") == ("False", r), reason
        )
        assert state(refused, "Stalled") == ("True", reason) and state(refused, "Ready") == ("False", reason)
        assert cluster.get("pods", ns, f"{name}-clipper") is None, "a refused Clip gets no Pod"
    full = condition(cluster.get("clips", ns, "full"), "Succeeded")["message"]
    assert full.startswith(f"no space for recording the stream: used {video['sizeBytes']} of 1 bytes "), full

    def warnings_of(name: str) -> list[dict[str, Any]]:
        return [e for e in cluster.events(ns, "Clip", name) if e["type"] == "Warning"]

    # Each one's Warning, written apart from the status that says it refused: waited for, not assumed.
    eventually(lambda: all(warnings_of(name) for name, _ in refusals), what="each refused Clip's Warning")
    time.sleep(1)  # (a window in which a second Warning must NOT come: it would with the next status write)
    for name, reason in refusals:
        warnings = warnings_of(name)
        assert [e["reason"] for e in warnings] == [reason], warnings
        if name == "far":  # a Clip's Events carry its stream's client fields
            assert warnings[0]["metadata"]["annotations"]["streaming.streamops.dev/client-user-id"] == "7"

    with pytest.raises(ApiRefused) as refused:
        cluster.patch("clip", ns, "last", {"spec": {"lastSeconds": 9}})
    assert "a Clip's spec cannot be changed" in refused.value.message, refused.value.message
    table = cluster.kubectl("get", "clip", "-n", ns).stdout.splitlines()
    assert table[0].split()[:4] == ["NAME", "STREAM", "DURATION", "SUCCEEDED"], table
    assert any(line.split()[:2] == ["last", "cam"] and "True" in line for line in table[1:]), table
