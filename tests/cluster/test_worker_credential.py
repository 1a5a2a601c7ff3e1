"""Issue 37, finding 8, with the operator in the loop: it creates the stream's worker credential
Secret, every worker Pod of the stream mounts it (never inlined), and its own control of the
workers (status reads, POST /stop) goes through while a client without the credential is refused.
Workers run as local processes standing in for the Pods (devtools/cluster/local_pods.py)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

from devtools.catalog import livestream, recording
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import Publisher
from devtools.waits import eventually

CREDENTIAL_FILE = "/var/run/secrets/streamops/worker-credential/credential"


def code(url: str, method: str = "GET") -> int:
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_the_operator_issues_mounts_and_presents_the_worker_credential(
    cluster, operator, namespace, local_pods: LocalPods, publishers
):
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    cluster.apply(ns, recording("rec", minDurationSeconds=1))

    secret = eventually(lambda: cluster.get("secrets", ns, "cam-worker-credential"), what="credential Secret")
    stream = cluster.get("livestreams", ns, "cam")
    assert [(r["kind"], r["uid"]) for r in secret["metadata"]["ownerReferences"]] == [
        ("LiveStream", stream["metadata"]["uid"])
    ], "it goes with the stream"
    credential = base64.b64decode(secret["data"]["credential"]).decode()
    assert len(credential) == 43
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    assert credential != key, "never the stream key"

    for name in ("cam-ingest", "rec-recorder"):
        pod = eventually(lambda name=name: cluster.get("pods", ns, name), what=name)
        [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "worker-credential"]
        assert volume["secret"]["secretName"] == "cam-worker-credential" and volume["secret"]["defaultMode"] == 0o440
        container = pod["spec"]["containers"][0]
        assert json.loads(container["env"][0]["value"])["credentialFile"] == CREDENTIAL_FILE
        assert credential not in json.dumps(pod), "mounted, never inlined"

    ingest = local_pods.start(ns, "cam-ingest")
    recorder = local_pods.start(ns, "rec-recorder")
    rtmp_port = ingest.config["ports"]["rtmp"]
    publisher = Publisher(f"rtmp://127.0.0.1:{rtmp_port}/live/{key}", size="320x180", rate=15, audio=True)
    publishers.append(publisher.start())

    # The operator reads the workers' /status with the credential: live and recording show.
    eventually(lambda: cluster.get("livestreams", ns, "cam")["status"].get("live"), timeout=20, what="status.live")
    eventually(lambda: cluster.get("recordings", ns, "rec")["status"].get("recording"), timeout=30, what="recording")

    # A client without it: refused, and the recording goes on.
    internal = f"http://127.0.0.1:{ingest.control_port}"
    recorder_url = f"http://127.0.0.1:{recorder.http_port}"
    assert code(recorder_url + "/stop", "POST") == 401
    assert code(internal + "/status") == 401 and code(internal + "/feed") == 401
    assert code(recorder_url + "/status") == 401 and code(recorder_url + "/metrics") == 200
    assert recorder.status()["state"] == "recording"
    eventually(lambda: (recorder.status()["duration"] or 0) > 3, timeout=20, what="a few seconds recorded")

    # The operator's POST /stop (stop_recording) goes through: the video is finalised.
    rec = cluster.stop_recording(ns, "rec", timeout=40)
    assert rec["status"]["videos"] and rec["status"]["recording"] is False, rec["status"]
    events = json.dumps(cluster.list("events", ns))
    assert credential not in events and credential not in json.dumps(cluster.get("livestreams", ns, "cam"))
    recorder.stop()
