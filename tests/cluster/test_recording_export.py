"""Export of a transcoded recording through the operator (issue 29, item 3), against the real API
server, a real ingest transcoding a 2-rendition ladder and the recorder standing in for their Pods
(devtools.cluster.local_pods), and the real S3 server (versitygw, TLS with its private CA):

- the operator hands the recorder the ladder; the Recording's status lists both renditions,
  uploaded, and storedBytes counts them both;
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
from devtools.catalog import livestream, recording
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


def test_a_transcoded_recording_keeps_every_rendition_and_each_is_downloadable(
    cluster: Any, operator: Any, namespace: str, local_pods: LocalPods, s3: S3Server, tmp_path: Path
) -> None:
    ns = namespace
    storage = {"s3": {"endpoint": s3.endpoint, "bucket": BUCKET, "credentialsSecret": "s3-creds", "caSecret": "s3-ca"}}
    cluster.apply(
        ns,
        s3.credentials_secret("s3-creds", ns),
        s3.ca_secret("s3-ca", ns),
        livestream(
            "cam",
            screenshots={"enabled": False},
            transcoding={"renditions": LADDER},
            hls={"segmentSeconds": 2},
            recording={"type": "transcoded"},
        ),
    )
    ingest = local_pods.start(ns, "cam-ingest")
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
