"""The installed operator end to end: a LiveStream gets a running ingest Pod (PodSecurity
`restricted` enforced), an RTMP push from FFmpeg makes it live and HLS is served, kstatus and the
Argo CD health check call it Current/Healthy. Runs against the local pod-network cluster in
`make test` and against kind in `make kind-e2e` (tests/e2e/conftest.py). It reaches the ingest with
`kubectl port-forward`, as an admin would, whatever exposure the install chose."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
from collections.abc import Iterator
from typing import Any

from devtools.chart import argo_health, kstatus
from devtools.cluster.kubectl import Kubectl, condition
from devtools.http_client import http_get
from devtools.media.hls import media_playlist
from devtools.ports import free_port
from devtools.waits import eventually

STREAM = {
    "apiVersion": "streaming.streamops.dev/v1alpha1",
    "kind": "LiveStream",
    "metadata": {"name": "cam"},
    "spec": {"title": "kind e2e", "source": {"push": {"protocols": ["rtmp"]}}},
}
WAIT = {"timeout": 120.0, "interval": 1.0}  # a real cluster pulling images: slower than the local tiers


def condition_status(obj: dict[str, Any] | None, type_: str) -> str | None:
    return (condition(obj, type_) or {}).get("status")


@contextlib.contextmanager
def port_forward(kube: Kubectl, namespace: str, target: str, remote: int) -> Iterator[int]:
    local = free_port()
    proc = subprocess.Popen(
        [
            kube.binary,
            "--kubeconfig",
            str(kube.kubeconfig),
            "-n",
            namespace,
            "port-forward",
            target,
            f"{local}:{remote}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        eventually(
            lambda: proc.stdout is not None and b"Forwarding" in proc.stdout.readline(),
            timeout=30,
            interval=1,
            what="port-forward",
        )
        yield local
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_push_goes_live_and_serves_hls(kube: Kubectl, namespace: str) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(STREAM))
    stream = eventually(
        lambda: (s := kube.get("livestreams", namespace, "cam")) and condition_status(s, "Ready") == "True" and s,
        what="Ready=True (ingest Pod running)",
        **WAIT,
    )
    assert kstatus(stream)[0] == "Current" and argo_health("LiveStream", stream)[0] == "Healthy"
    secret = kube.get("secrets", namespace, stream["status"]["ingest"]["streamKeySecret"])
    assert secret is not None
    key = base64.b64decode(secret["data"]["streamKey"]).decode()
    service = "cam-ingest"  # the ingest Service: <stream>-ingest
    with port_forward(kube, namespace, f"svc/{service}", 1935) as rtmp:
        ffmpeg = subprocess.Popen(
            [
                "ffmpeg", "-nostdin", "-loglevel", "error", "-re",
                "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25",
                "-f", "lavfi", "-i", "sine=frequency=440",
                "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-c:a", "aac",
                "-t", "60", "-f", "flv", f"rtmp://127.0.0.1:{rtmp}/live/{key}",
            ]
        )  # fmt: skip
        try:
            live = eventually(
                lambda: (s := kube.get("livestreams", namespace, "cam")) and s["status"].get("live") and s,
                what="status.live true",
                **WAIT,
            )
            assert condition_status(live, "Live") == "True"
            assert argo_health("LiveStream", live) == ("Healthy", "Live")
            with port_forward(kube, namespace, f"svc/{service}", 8080) as http:
                url = f"http://127.0.0.1:{http}/hls/cmaf/index.m3u8"
                # 404 until the first segment is written, a moment after `live`
                playlist, _segments = eventually(lambda: (m := media_playlist(url)) and m[1] and m, what="HLS", **WAIT)
                assert http_get(playlist)[1].startswith(b"#EXTM3U"), playlist
        finally:
            ffmpeg.terminate()
            ffmpeg.wait(timeout=10)
