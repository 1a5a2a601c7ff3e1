"""An IP camera on the cluster's LAN (GStreamer's RTSP server, basic authentication) pulled by a
LiveStream with its credentials in a Secret, played from the LAN and recorded (issue 40, item 3):
the ingest Pod reaches the camera through the pod network's egress, the password reaches no
process's command line on the nodes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from devtools.catalog import livestream, recording
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.media.hls import first_segment
from devtools.media.peers import ffprobe_duration, ffprobe_streams
from devtools.media.rtsp_camera import RtspCamera, rtsp_camera_available
from devtools.waits import eventually

from tests.multinode.test_secrets import pod_processes
from tests.multinode.test_streaming import wait_live

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(not rtsp_camera_available(), reason="needs GStreamer's RTSP server for python3 (hack/deps.sh)"),
]

USER, PASSWORD = "viewer", "LAN-cam-pass-31f7"


def test_an_rtsp_camera_on_the_lan_is_pulled_played_and_recorded(
    cluster: LocalCluster, release: Release, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    with RtspCamera(
        tmp_path / "cam", user=USER, password=PASSWORD, address=OUTSIDE_IP, netns=cluster.network.outside
    ) as camera:
        cluster.apply(ns, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cam-login"},
            "stringData": {"username": USER, "password": PASSWORD},
        })  # fmt: skip
        cluster.allow_reference(ns, "cam-login")
        volume = cluster.recordings_volume(ns, cluster.nodes[0].name)
        applied = time.monotonic()
        source = {"pull": {"urls": [camera.url], "credentialsSecretRef": {"name": "cam-login"}}}
        cluster.apply(ns, livestream("cam", source=source))
        stream = wait_live(cluster, ns, timeout=120)
        print(f"RTSP camera on the LAN: LiveStream applied -> status.live {time.monotonic() - applied:.2f} s")
        assert stream["status"]["videoCodec"] == "h264" and stream["status"]["audioCodec"] == "aac"
        url = stream["status"]["playback"]["hlsCmafUrl"]
        segment = eventually(lambda: first_segment(url, cluster.lan_get), timeout=60, interval=0.5, what="HLS")
        assert len(segment[1]) > 1000

        cluster.apply(ns, recording("rec", minDurationSeconds=1))
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
        exposed = "\n".join(pod_processes(cluster).values())
        assert PASSWORD not in exposed and "LAN-cam-pass" not in exposed, "no process on the nodes shows it"
        # 6 s recorded, as the recorder counts them (not 6 s of a loaded machine's wall time).
        cluster.wait_status("lst", ns, "cam", lambda o: (o["status"].get("recordingDuration") or 0) >= 6, "6 s", 60)
        rec = cluster.stop_recording(ns, "rec")
        [video] = rec["status"]["videos"]
        assert ffprobe_duration(volume / video["path"]) >= 4
        assert {s["codec_name"] for s in ffprobe_streams(volume / video["path"])} == {"h264", "aac"}
        status = cluster.get("livestreams", ns, "cam") or {}
        assert PASSWORD not in str(status), "nor the LiveStream's status"
