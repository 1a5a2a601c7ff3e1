"""Export of a transcoded recording through the operator (issue 29, item 3), against the real API
server, a real ingest transcoding a 2-rendition ladder and the recorder standing in for their Pods
(devtools.cluster.local_pods), and the real S3 server (versitygw, TLS with its private CA). The
ladder is a QualitySet the stream names (issue 41, item 6; docs/design/quality-sets.md):

- the ingest's configuration carries the set's ladder, and the operator hands the recorder the
  same; the Recording's status lists both renditions, uploaded, and storedBytes counts them both;
- the set edited while the stream is live: RestartPending names it, the ingest Pod is kept; once
  the publisher stops, the Pod is replaced with the set's new ladder;
- `streamops video url --quality 180p` is a presigned link to the 180-line file (downloaded and
  ffprobe'd), an unknown quality is refused with the qualities there are;
- `streamops video page` is the page object, presigned, its fragment holding both renditions' links.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from devtools.catalog import livestream, named_ladder, quality_set, recording
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import Publisher, ffprobe_streams
from devtools.media.s3_server import S3Server
from devtools.waits import eventually

BUCKET = "exports"
LADDER = [
    {"name": "360p", "height": 360, "videoBitrateKbps": 500, "audioBitrateKbps": 64},
    {"name": "180p", "height": 180, "videoBitrateKbps": 200, "audioBitrateKbps": 64},
]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        server.create_bucket(BUCKET)
        yield server


def is_true(obj: dict[str, Any], type_: str) -> bool:
    c = condition(obj, type_)
    return bool(c and c["status"] == "True")


def streamops(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run(
        [sys.executable, "-m", "streamops", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def fetch(s3: S3Server, url: str) -> tuple[bytes, dict[str, str]]:
    ctx = ssl.create_default_context(cafile=str(s3.ca_file))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx))
    with opener.open(url, timeout=30) as r:
        return r.read(), {k.lower(): v for k, v in r.headers.items()}


def idle_restarts(stream: dict[str, Any]) -> dict[str, Any]:
    """The restart policy idle for this stream: its ingest waits for the session's end (a handover is
    tests/cluster/test_handover.py's)."""
    stream["metadata"]["annotations"] = {"streaming.streamops.dev/restarts": "idle"}
    return stream


def test_a_transcoded_recording_keeps_every_rendition_and_each_is_downloadable(
    cluster: Any, operator: Any, namespace: str, local_pods: LocalPods, s3: S3Server, tmp_path: Path
) -> None:
    ns = namespace
    storage = {"s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "credentialsSecret": "s3-creds", "caSecret": "s3-ca"}}
    cluster.apply(
        ns,
        s3.credentials_secret("s3-creds", ns),
        s3.ca_secret("s3-ca", ns),
        quality_set("export", *LADDER),
        idle_restarts(
            livestream(
                "cam",
                screenshots={"enabled": False},
                transcoding=named_ladder("export"),
                hls={"segmentSeconds": 2},
                recording={"type": "transcoded"},
            )
        ),
    )
    ingest = local_pods.start(ns, "cam-ingest")
    assert [r["name"] for r in ingest.config["transcoding"]["renditions"]] == ["360p", "180p"], "the set's ladder"
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    url = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"
    with Publisher(url, size="640x360", rate=15, video_bitrate="500k", log_path=tmp_path / "publisher.log"):
        status = eventually(
            lambda: (s := cluster.get("livestreams", ns, "cam")["status"]).get("live") and s, timeout=30, what="live"
        )
        assert status["transcodedQualities"] == ["360p", "180p"], "what the running ingest encodes, tallest first"
        cluster.apply(ns, recording("rec", storage=storage, minDurationSeconds=1))
        pod = eventually(lambda: cluster.get("pods", ns, "rec-recorder"), what="the recorder Pod")
        config = json.loads(pod["spec"]["containers"][0]["env"][0]["value"])
        assert [r["name"] for r in config["renditions"]] == ["360p", "180p"]
        assert config["feedUrl"].endswith("/feed/transcoded")
        local_pods.start(ns, "rec-recorder")
        eventually(lambda: cluster.get("recordings", ns, "rec")["status"].get("recording"), 30, what="recording")
        time.sleep(5)
        r = cluster.stop_recording(ns, "rec", timeout=60)

        # The set edited while the stream is live: its ingest keeps the ladder until the session ends.
        pod_uid = ingest.pod["metadata"]["uid"]
        cluster.patch("qualityset", ns, "export", {"spec": {"renditions": LADDER[:1]}})
        pending = cluster.wait_status(
            "livestreams", ns, "cam", lambda o: condition(o, "RestartPending"), what="RestartPending"
        )
        message = condition(pending, "RestartPending")["message"]
        assert "primary ingest: config.transcoding.renditions (from QualitySet export) changed" in message, message
        qs = cluster.wait_status(
            "qualitysets", ns, "export", lambda o: o["status"]["observedGeneration"] == 2, what="the set's status"
        )
        assert (qs["status"]["qualities"], qs["status"]["streams"]) == (["360p"], 1)
        table = cluster.kubectl("get", "qs", "export", "-n", ns, "--no-headers").stdout.split()
        assert table[1:4] == ['["360p"]', "1", "True"], table  # QUALITIES, STREAMS, READY
        time.sleep(1)  # (a few status loop ticks: a replacement would show by now)
        s = cluster.get("livestreams", ns, "cam")
        assert cluster.get("pods", ns, "cam-ingest")["metadata"]["uid"] == pod_uid and s["status"]["live"]
        assert s["status"]["transcodedQualities"] == ["360p", "180p"], "the running ingest's own word"

    # The publisher gone, the ingest is idle: replaced, with the set's new ladder.
    new = eventually(
        lambda: (p := cluster.get("pods", ns, "cam-ingest")) and p["metadata"]["uid"] != pod_uid and p,
        timeout=30,
        what="the ingest Pod replaced once idle",
    )
    config = json.loads(new["spec"]["containers"][0]["env"][0]["value"])
    assert [x["name"] for x in config["transcoding"]["renditions"]] == ["360p"]
    replaced = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "WorkerReplaced"), what="WorkerReplaced")
    assert "config.transcoding.renditions changed" in replaced[0]["message"]

    [video] = r["status"]["videos"]
    renditions = video["renditions"]
    assert [(x["name"], x["height"], x["upload"]) for x in renditions] == [
        ("360p", 360, "uploaded"),
        ("180p", 180, "uploaded"),
    ], video
    assert renditions[0]["url"] == video["url"] and renditions[1]["url"].endswith(".180p.mp4")
    assert r["status"]["storedBytes"] == video["sizeBytes"] + renditions[1]["sizeBytes"]

    link = streamops(cluster, "video", "url", "rec", "-n", ns, "--quality", "180p")
    assert link.returncode == 0, link.stderr
    data, _ = fetch(s3, link.stdout.strip())
    (tmp_path / "180p.mp4").write_bytes(data)
    assert len(data) == renditions[1]["sizeBytes"]
    assert [s["height"] for s in ffprobe_streams(tmp_path / "180p.mp4") if s["codec_type"] == "video"] == [180]

    unknown = streamops(cluster, "video", "url", "rec", "1", "-n", ns, "--quality", "1080p")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "streamops video url: video 1 has no quality '1080p': it has 360p, 180p"

    page = streamops(cluster, "video", "page", "rec", "-n", ns, "--expires", "120")
    assert page.returncode == 0, page.stderr
    page_url = page.stdout.strip()
    body, headers = fetch(s3, page_url.split("#")[0])
    assert headers["content-type"].startswith("text/html") and b"window.streamopsPlayer" in body
    data_field = parse_qs(urlsplit(page_url).fragment)["v"][0]
    doc = json.loads(base64.urlsafe_b64decode(data_field + "=" * (-len(data_field) % 4)))
    assert [x["n"] for x in doc["r"]] == ["360p", "180p"]
    assert all(parse_qs(urlsplit(x["u"]).query)["X-Amz-Expires"] == ["120"] for x in doc["r"])
    # The access key id is in every presigned URL (SigV4's X-Amz-Credential), the secret never.
    assert s3.secret_key not in json.dumps(r) + link.stdout + page.stdout
    assert s3.access_key not in json.dumps(r)
