"""No secret on a command line or in a child's environment, on the cluster (issue 25): a stream
published over RTMP and SRT (its key is the SRT passphrase), recorded to S3, restreamed with keys
to an RTMP and an SRT server on the LAN. Every process of every Pod on the nodes is read as anyone
on the node reads it: /proc/<pid>/cmdline (any user) and /proc/<pid>/environ (its user and root).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from devtools.catalog import recording, restream
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.media.peers import NginxRtmp, Publisher, SrtListener
from devtools.media.s3_server import S3Server
from devtools.processes import command_line, environment
from devtools.waits import eventually

from tests.multinode.test_streaming import rtmp_url, start_stream, wait_live

pytestmark = pytest.mark.timeout(600)

RTMP_TARGET_KEY = "rtmp-target-KEY-4b7e19c2"
SRT_TARGET_KEY = "srt-target-KEY-9d02aa51"


def key_secret(name: str, key: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"streaming.streamops.dev/allow-reference": "true"}},
        "data": {"streamKey": base64.b64encode(key.encode()).decode()},
    }


def pod_processes(cluster: LocalCluster) -> dict[int, str]:
    """Every process in a Pod on the cluster's nodes (their cgroups are under the node's cgroup
    root) → its command line."""
    roots = tuple(node.cgroup_root + "/" for node in cluster.nodes)
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cgroup = (entry / "cgroup").read_text()
        except OSError:
            continue  # gone meanwhile
        if any(root in cgroup for root in roots):
            found[int(entry.name)] = command_line(int(entry.name))
    return found


def test_no_key_on_any_command_line_and_no_s3_key_in_an_ffmpeg_environment(
    cluster: LocalCluster,
    release: Release,
    namespace: str,
    publishers: list[Publisher],
    s3: S3Server,
    s3_storage: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    ns = namespace
    cluster.apply(ns, key_secret("rtmp-target", RTMP_TARGET_KEY), key_secret("srt-target", SRT_TARGET_KEY))
    stream = start_stream(cluster, ns)
    stream_key = cluster.stream_key(ns, "cam")
    cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns)
    with (
        NginxRtmp(workdir=tmp_path / "nginx", address=OUTSIDE_IP, netns=cluster.network.outside) as rtmp_target,
        SrtListener(
            tmp_path / "srt.ts", log_path=tmp_path / "srt.log", address=OUTSIDE_IP, netns=cluster.network.outside
        ) as srt_target,
    ):
        cluster.apply(
            ns,
            recording("rec", minDurationSeconds=1, storage=s3_storage),
            restream("to-rtmp", uri=rtmp_target.app_url(), streamKeySecretRef={"name": "rtmp-target"}),
            restream("to-srt", uri=srt_target.url, streamKeySecretRef={"name": "srt-target"}),
        )
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
        for name in ("to-rtmp", "to-srt"):
            cluster.wait_status("rst", ns, name, lambda o: o["status"].get("live"), f"{name} live", 90)
        eventually(lambda: rtmp_target.publishing() == {RTMP_TARGET_KEY}, timeout=30, what="the RTMP target's key")
        eventually(lambda: srt_target.received_bytes() > 100_000, timeout=30, what="the SRT target receiving")
        time.sleep(2)

        processes = pod_processes(cluster)
        ffmpegs = {pid: cmd for pid, cmd in processes.items() if cmd.split(" ", 1)[0].endswith("ffmpeg")}
        # The SRT target's FFmpeg: its target in an args file (the recorder's and the WHEP feeder's
        # carry only the feed's credential header in theirs, feed-headers.args); the RTMP target
        # rides the pusher's relay, its key on the relay's stdin (docs/design/shared-pusher.md).
        pushers = [cmd for cmd in ffmpegs.values() if "-args_file" in cmd and "/target-" in cmd]
        assert len(pushers) == 1, f"the SRT target's FFmpeg seen: {sorted(ffmpegs.values())}"
        relays = [cmd for cmd in processes.values() if cmd.split(" ", 1)[0].endswith("streamops-relay")]
        assert len(relays) == 1, f"the RTMP target's relay seen: {sorted(processes.values())}"
        recorders = [cmd for cmd in processes.values() if "worker record" in cmd]
        assert recorders and len(ffmpegs) >= 3, "the ingest's, the recorder's and the SRT target's FFmpeg"

        secrets = {
            "stream key": stream_key,
            "RTMP target key": RTMP_TARGET_KEY,
            "SRT target key": SRT_TARGET_KEY,
            "S3 access key": s3.access_key,
            "S3 secret key": s3.secret_key,
        }
        for pid, cmd in processes.items():
            for what, secret in secrets.items():
                assert secret not in cmd, f"the {what} is on the command line of {pid}: {cmd[:80]}…"
            env = environment(pid)
            for what in ("stream key", "RTMP target key", "SRT target key"):
                assert secrets[what] not in env, f"the {what} is in the environment of {pid} ({cmd[:80]}…)"
            if pid in ffmpegs:
                assert s3.access_key not in env and s3.secret_key not in env, f"S3 keys in FFmpeg {pid}'s environment"
        # The one place the S3 keys are: the recorder worker's own environment (env from the
        # credentials Secret, as Kubernetes hands Secrets to a container), read by no other user.
        assert any(s3.secret_key in environment(pid) for pid, cmd in processes.items() if "worker record" in cmd)
