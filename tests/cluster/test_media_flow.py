"""The whole control loop with real workers: a LiveStream, a Recording and Restreams driven by
the operator, their workers run as local processes standing in for the Pods, media from a
synthetic publisher, restream targets in a real nginx-rtmp.

How the Pods run without a kubelet (see devtools/cluster/local_pods.py): the operator runs with
STREAMOPS_HOST_NETWORK=true, so each worker Pod carries its config (env) and ports allocated by the
operator. The test reads that config from the Pod, starts `python -m streamops worker ...` with it
(only volume paths are mapped to local directories: Secrets become files, a PVC a directory shared
by its Pods), then sets the Pod's status to Running with podIP 127.0.0.1 and Ready. From there the
operator polls the worker's /status at podIP:port exactly as in a cluster. Every process a test
starts is stopped by PID at teardown, pass or fail.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from devtools.catalog import livestream, recording, restream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import NginxRtmp, Publisher, ffprobe_duration
from devtools.waits import eventually

GROUP = "streaming.streamops.dev"
TARGET_KEY = "target-key-Zq9Wv3x7Pk2"


def status_of(cluster, plural, ns, name, probe, what, timeout=30.0):
    # wait_status: an object with no status yet (a KeyError in the probe) is not there yet.
    return cluster.wait_status(plural, ns, name, probe, what, timeout)


@pytest.fixture
def nginx(tmp_path: Path):
    with NginxRtmp(workdir=tmp_path / "nginx") as server:
        yield server


def owner_kinds(obj):
    return {(r["kind"], r["name"]) for r in obj["metadata"].get("ownerReferences") or []}


def test_stream_record_restream_with_real_workers(
    cluster, operator, namespace, local_pods: LocalPods, nginx, publishers
):
    ns = namespace
    cluster.create_secret(ns, "yt-key", {"streamKey": TARGET_KEY})
    cluster.allow_reference(ns, "yt-key")
    # recording.auto: the stream's own Recording cam-auto records beside the user's (its settings from
    # the stream's recording defaults).
    cluster.apply(
        ns, livestream("cam", screenshots={"enabled": False}, recording={"auto": True, "minDurationSeconds": 1})
    )
    cluster.apply(ns, recording("rec", minDurationSeconds=1, reconnectWindowSeconds=3, maxSegmentSeconds=10))
    cluster.apply(ns, recording("short", minDurationSeconds=3600))  # whatever it records is discarded
    cluster.apply(
        ns,
        restream("out", uri=nginx.app_url(), streamKeySecretRef={"name": "yt-key"}),
        restream("dead", uri="rtmp://127.0.0.1:9/live/x"),  # nothing listens: backoff, never hurts the rest
    )

    # Children and owners: the recorder belongs to its Recording, the stream's one pusher to both its
    # Restreams (docs/design/shared-pusher.md), and the Restreams to the stream (they go with it); the
    # Recording to nobody.
    owners = (("cam-ingest", ["LiveStream"]), ("rec-recorder", ["Recording"]), ("cam-pusher", ["Restream"] * 2))
    for pod, kinds in (*owners, ("cam-auto-recorder", ["Recording"])):
        p = eventually(
            lambda pod=pod, kinds=kinds: (
                (p := cluster.get("pods", ns, pod)) and len(p["metadata"]["ownerReferences"]) == len(kinds) and p
            ),
            what=pod,
        )
        assert [r["kind"] for r in p["metadata"]["ownerReferences"]] == kinds
        assert p["spec"]["hostNetwork"] is True
    stream = cluster.get("livestreams", ns, "cam")
    out = status_of(cluster, "restreams", ns, "out", lambda o: ("LiveStream", "cam") in owner_kinds(o), "owner ref")
    assert [r["uid"] for r in out["metadata"]["ownerReferences"]] == [stream["metadata"]["uid"]]
    assert not cluster.get("recordings", ns, "rec")["metadata"].get("ownerReferences")

    # Offline stream: the Recording and the Restream wait, saying why.
    rec = status_of(
        cluster, "recordings", ns, "rec", lambda o: condition(o, "Ready") is not None, "Recording conditions"
    )
    assert (condition(rec, "Ready")["status"], condition(rec, "Ready")["reason"]) == ("False", "StreamNotLive")
    assert condition(rec, "Recording")["reason"] == "StreamNotLive"
    assert rec["status"]["observedGeneration"] == rec["metadata"]["generation"]
    out = status_of(cluster, "restreams", ns, "out", lambda o: condition(o, "Ready") is not None, "Restream status")
    assert condition(out, "Ready")["reason"] == "StreamNotLive"

    ingest = local_pods.start(ns, "cam-ingest")
    recorder = local_pods.start(ns, "rec-recorder")
    local_pods.start(ns, "short-recorder")
    local_pods.start(ns, "cam-auto-recorder")
    local_pods.start(ns, "cam-pusher")  # both targets: the dead one's backoff is its own
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    rtmp_port = ingest.config["ports"]["rtmp"]

    publisher = Publisher(f"rtmp://127.0.0.1:{rtmp_port}/live/{key}", size="320x180", rate=15, audio=True)
    publishers.append(publisher.start())
    eventually(lambda: ingest.status()["live"], timeout=20, interval=0.05, what="ingest worker live")
    media_at = time.monotonic()
    s = status_of(cluster, "livestreams", ns, "cam", lambda o: o["status"]["live"], "status.live", timeout=10)
    assert time.monotonic() - media_at <= 2.0, "live must flip within 2 s of media arriving"
    s = status_of(cluster, "livestreams", ns, "cam", lambda o: o["status"].get("frameRate"), "telemetry")
    st = s["status"]
    assert (st["videoWidth"], st["videoHeight"], st["videoCodec"]) == (320, 180, "h264")
    assert st["audioCodec"] == "aac" and st["bitrate"] > 0 and st["startedAtPrimary"] and st["protocol"] == "rtmp"
    assert condition(s, "Live")["status"] == "True"

    # The Recording starts by itself; the stream shows it.
    rec = status_of(cluster, "recordings", ns, "rec", lambda o: o["status"].get("recording"), "recording", 20)
    assert condition(rec, "Recording")["status"] == "True" and rec["status"]["startedAt"]
    s = status_of(cluster, "livestreams", ns, "cam", lambda o: o["status"]["recording"], "stream recording", 10)
    assert condition(s, "Recording")["status"] == "True"

    # The Restream pushes (with its key) to nginx; the dead one backs off without disturbing it.
    out = status_of(cluster, "restreams", ns, "out", lambda o: o["status"].get("live"), "restream live", 20)
    assert condition(out, "Ready")["reason"] == "Pushing" and out["status"]["startedAt"]
    assert TARGET_KEY in nginx.publishing()
    dead = status_of(cluster, "restreams", ns, "dead", lambda o: o["status"].get("reconnects"), "backoff", 30)
    assert condition(dead, "Ready")["status"] == "False" and dead["status"]["lastError"]
    out = status_of(cluster, "restreams", ns, "out", lambda o: (o["status"].get("bytesSent") or 0) > 0, "bytes", 10)

    # Operator restart mid-stream changes nothing observable.
    pods_before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in cluster.list("pods", ns)}
    went_live = cluster.event_reasons(ns, "LiveStream", "cam").count("WentLive")
    operator.restart()
    time.sleep(3)
    s = cluster.get("livestreams", ns, "cam")
    assert s["status"]["live"] is True and condition(s, "Live")["status"] == "True"
    assert cluster.get("recordings", ns, "rec")["status"]["recording"] is True
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in cluster.list("pods", ns)} == pods_before
    assert cluster.event_reasons(ns, "LiveStream", "cam").count("WentLive") == went_live

    # maxSegmentSeconds: the first video is cut at 10 s and listed while recording goes on.
    rec = status_of(cluster, "recordings", ns, "rec", lambda o: o["status"].get("videos"), "split", timeout=30)
    assert rec["status"]["recording"] is True and len(rec["status"]["videos"]) == 1
    # recordingDuration: the seconds a running Recording's recorder counted (≥ the 10 s video it cut).
    s = status_of(
        cluster, "livestreams", ns, "cam", lambda o: (o["status"].get("recordingDuration") or 0) >= 10, "duration", 10
    )
    assert s["status"]["recording"] is True and s["status"]["recordingDuration"] < 60
    time.sleep(3)

    # The source stops: live flips false (well within the reconnect window + 2 s).
    publisher.stop()
    stopped_at = time.monotonic()
    status_of(cluster, "livestreams", ns, "cam", lambda o: not o["status"]["live"], "offline", timeout=15)
    assert time.monotonic() - stopped_at <= 10 + 2

    # stop_recording: the video is finalised and listed, the recorder Pod goes away.
    cluster.patch("rec", ns, "rec", {"spec": {"stopped": True}})
    cluster.patch("rec", ns, "short", {"spec": {"stopped": True}})
    # recording.auto switched off stops cam-auto: its video is finalised and kept.
    auto_off = {"spec": {"recording": {"auto": False, "minDurationSeconds": 1}}}
    cluster.patch("lst", ns, "cam", auto_off)
    rec = status_of(
        cluster,
        "recordings",
        ns,
        "rec",
        lambda o: (c := condition(o, "Succeeded")) and c["status"] == "True",
        "final",
        40,
    )
    assert rec["status"]["recording"] is False and rec["status"]["endedAt"]
    assert rec["status"]["duration"] == pytest.approx(sum(v["durationSeconds"] for v in rec["status"]["videos"]), abs=2)
    *full, video = rec["status"]["videos"]
    assert full and all(v["durationSeconds"] == pytest.approx(10, abs=1.5) for v in full), rec["status"]["videos"]
    assert video["title"].startswith("Stream Record: Camera, ") and video["durationSeconds"] >= 1
    assert video["sizeBytes"] > 0 and len({v["path"] for v in rec["status"]["videos"]}) == len(full) + 1
    assert condition(rec, "Ready")["reason"] == "Finished"
    eventually(lambda: cluster.get("pods", ns, "rec-recorder") is None, what="recorder Pod removed")
    recorder.stop()
    claim = recorder.claim_dir("streamops-recordings")
    video_file = claim / video["path"]
    assert video_file.is_file() and video_file.stat().st_size == video["sizeBytes"]
    assert cluster.get("persistentvolumeclaims", ns, "streamops-recordings")["metadata"].get("ownerReferences") is None
    auto = status_of(
        cluster,
        "recordings",
        ns,
        "cam-auto",
        lambda o: (c := condition(o, "Succeeded")) and c["status"] == "True",
        "auto",
    )
    [auto_video] = auto["status"]["videos"]
    auto_file = claim / auto_video["path"]
    assert auto_video["title"].startswith("Stream Record: Camera, ") and auto_video["durationSeconds"] > 0
    assert ffprobe_duration(auto_file) == pytest.approx(auto_video["durationSeconds"], abs=1), "real media"
    s = status_of(cluster, "livestreams", ns, "cam", lambda o: not o["status"]["recording"], "no recording", 10)
    assert s["status"].get("recordingDuration") is None, "unset when no Recording runs"

    eventually(lambda: "RecordingFinished" in cluster.event_reasons(ns, "Recording", "rec"), what="RecordingFinished")
    assert "RecordingSplit" in cluster.event_reasons(ns, "Recording", "rec")
    short = status_of(cluster, "recordings", ns, "short", lambda o: condition(o, "Succeeded"), "short final", 40)
    assert short["status"]["videos"] == [] and "minDurationSeconds" in short["status"]["discarded"][0]["reason"]
    discarded = cluster.events(ns, "Recording", "short", "RecordingDiscarded")
    assert discarded and discarded[0]["type"] == "Warning"
    stream_events = cluster.event_reasons(ns, "LiveStream", "cam")
    assert "WentLive" in stream_events and "WentOffline" in stream_events
    assert "RecordingStarted" in cluster.event_reasons(ns, "Recording", "rec")
    assert "RestreamLive" in cluster.event_reasons(ns, "Restream", "out")
    assert "RestreamBackoff" in cluster.event_reasons(ns, "Restream", "dead")

    # No key material anywhere: statuses, Events, the operator's log.
    everything = {
        "statuses": json.dumps([o.get("status") for p in ("lst", "rec", "rst") for o in cluster.list(p, ns)]),
        "events": json.dumps(cluster.list("events", ns)),
        "operator log": operator.logs(),
        "restream specs": json.dumps([o["spec"] for o in cluster.list("rst", ns)]),
    }
    for where, text in everything.items():
        assert key not in text, f"stream key leaked into {where}"
        assert TARGET_KEY not in text, f"restream key leaked into {where}"

    # Deleting the stream takes its Restreams and Pods; the Recording and the video stay.
    cluster.delete("lst", ns, "cam", wait=True)
    eventually(
        lambda: not cluster.list("rst", ns) and cluster.get("pods", ns, "cam-ingest") is None,
        timeout=60,
        what="Restreams and ingest garbage-collected",
    )
    assert cluster.get("recordings", ns, "rec") is not None
    assert video_file.is_file() and auto_file.is_file(), "the auto Recording goes with the stream, its video stays"


def test_recording_adopts_the_streams_warm_recorder(cluster, operator, namespace, local_pods: LocalPods, publishers):
    """`recording.standby`: the stream keeps a warm recorder; a Recording takes it over (no Pod
    start on the way to the first bytes). While it records the stream keeps no other (issue 53:
    ingest, one recorder per Recording, pusher); when it ends, the stream starts its next standby."""
    ns = namespace
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}, recording={"standby": True}))
    standby = eventually(lambda: cluster.get("pods", ns, "cam-recorder-1"), what="the stream's standby recorder")
    assert owner_kinds(standby) == {("LiveStream", "cam")}
    assert standby["metadata"]["labels"]["app.kubernetes.io/component"] == "recorder-standby"
    assert cluster.get("persistentvolumeclaims", ns, "streamops-recordings"), "the claim comes with the standby"

    ingest = local_pods.start(ns, "cam-ingest")
    warm = local_pods.start(ns, "cam-recorder-1")
    waiting = warm.status()
    assert (waiting["state"], waiting["recording"], waiting["videos"]) == ("standby", False, []), waiting
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    publisher = Publisher(f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}", size="320x180", rate=15)
    publishers.append(publisher.start())
    status_of(cluster, "livestreams", ns, "cam", lambda o: o["status"]["live"], "status.live", timeout=20)

    cluster.apply(ns, recording("rec", minDurationSeconds=1))
    rec = status_of(cluster, "recordings", ns, "rec", lambda o: o["status"].get("recording"), "recording", 20)
    assert condition(rec, "Recording")["status"] == "True"
    assert warm.status()["recording"] is True, "the warm recorder is the one recording"
    adopted = cluster.get("pods", ns, "cam-recorder-1")
    assert owner_kinds(adopted) == {("Recording", "rec")}
    assert adopted["metadata"]["labels"]["app.kubernetes.io/component"] == "recorder"
    assert adopted["metadata"]["annotations"][f"{GROUP}/adopted-by"] == "rec"
    assert cluster.get("pods", ns, "rec-recorder") is None, "no recorder Pod was created"

    time.sleep(2)
    assert cluster.get("pods", ns, "cam-recorder-2") is None, "no second warm recorder while one records"
    rec = cluster.stop_recording(ns, "rec", timeout=40)
    [video] = rec["status"]["videos"]
    assert video["durationSeconds"] >= 1 and video["path"].startswith(f"{ns}/rec-")
    assert (warm.claim_dir("streamops-recordings") / video["path"]).stat().st_size == video["sizeBytes"]

    def standby_now() -> str | None:
        for pod in cluster.list("pods", ns):
            if owner_kinds(pod) == {("LiveStream", "cam")} and pod["metadata"]["name"].startswith("cam-recorder-"):
                return str(pod["metadata"]["name"])
        return None

    eventually(
        lambda: (
            (p := cluster.get("pods", ns, "cam-recorder-1")) is None
            or p["metadata"]["uid"] != adopted["metadata"]["uid"]
        ),
        what="the adopted recorder removed",
    )
    nxt = eventually(standby_now, what="the stream's next standby, once the recording ended")

    # Switched off: the standby goes, the stream stays.
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}, recording={"standby": False}))
    eventually(lambda: cluster.get("pods", ns, nxt) is None, what="standby removed")
