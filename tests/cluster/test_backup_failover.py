"""Backup failover through the operator: a LiveStream with a backup ingest, both ingest Pods and a
recorder run as local processes (devtools.cluster.local_pods: hostNetwork, the ports the operator
allocated), publishers on each ingest. The backup finds its primary at the primary's allocated
port, which the operator put into the backup's configuration.

What a user sees: status.activeIngest and its Events, a Recording that records while only the
backup sends (through the primary), the switch back after failback.stableSeconds, and what a
Recording says while only the backup receives media and no primary ingest runs. The backup's
encoder pushes SRT to status.ingest.backupPushUrlSrt (the key as passphrase), the primary's RTMP:
the failover carries either protocol (the RTMP backup: tests/cluster/test_webhooks.py,
tests/media/test_failover.py).
"""

from __future__ import annotations

import base64
import json
import time

from devtools.catalog import livestream, recording
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import Publisher
from devtools.waits import eventually

STABLE = 4


def stream_status(cluster, ns, probe, what, timeout=30.0):
    return eventually(
        lambda: (o := cluster.get("livestreams", ns, "cam")) and probe(o.get("status") or {}) and o["status"],
        timeout=timeout,
        what=what,
    )


def test_backup_failover_through_the_operator(cluster, operator, namespace, local_pods: LocalPods, publishers):
    ns = namespace
    push = {"protocols": ["rtmp", "srt"], "backup": True, "failback": {"stableSeconds": STABLE}}
    cluster.apply(ns, livestream("cam", source={"push": push}, screenshots={"enabled": False}))
    cluster.apply(ns, recording("rec", minDurationSeconds=1, reconnectWindowSeconds=10))
    for pod in ("cam-ingest", "cam-ingest-backup", "rec-recorder"):
        eventually(lambda pod=pod: cluster.get("pods", ns, pod), what=pod)
    primary = local_pods.start(ns, "cam-ingest")
    backup = local_pods.start(ns, "cam-ingest-backup")
    recorder = local_pods.start(ns, "rec-recorder")
    assert backup.config["primaryUrl"] == f"http://127.0.0.1:{primary.config['ports']['internal']}", "its internal face"
    assert "primaryUrl" not in primary.config and "failback" not in primary.config["source"]["push"]
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()

    def publish(url: str) -> Publisher:
        publisher = Publisher(url, size="320x180", rate=15).start()
        publishers.append(publisher)
        return publisher

    def publish_rtmp(ingest) -> Publisher:
        return publish(f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}")

    # Only the backup sends, over SRT to the URL status gives: its media is on air through the
    # primary, and the Recording records it (it used to show RecorderStarting while nothing recorded).
    # The URL of the backup Pod running now: a status written for the Pod it replaced (another port)
    # may come first (ci62, load 10-17: 24513 read, 24508 served).
    srt_url = f"srt://127.0.0.1:{backup.config['ports']['srt']}"
    srt = stream_status(
        cluster, ns, lambda s: (s.get("ingest") or {}).get("backupPushUrlSrt") == srt_url, "the backup's SRT URL"
    )
    assert key not in json.dumps(srt)
    publish(f"{srt_url}?mode=caller&passphrase={key}")
    st = stream_status(cluster, ns, lambda s: s.get("activeIngest") == "backup", "activeIngest backup")
    assert st["backupLive"] is True and st["live"] is False
    assert backup.status()["source"] == "srt"
    assert st["playback"]["hlsCmafUrl"].startswith(f"http://127.0.0.1:{primary.config['ports']['http']}/")
    rec = eventually(lambda: (o := cluster.get("recordings", ns, "rec"))["status"].get("recording") and o, 30)
    assert condition(rec, "Recording")["status"] == "True"
    eventually(lambda: "BackupTookOver" in cluster.event_reasons(ns, "LiveStream", "cam"), what="BackupTookOver")

    # The primary's publisher comes: the backup stays on air for failback.stableSeconds, then the
    # primary takes the air back.
    main = publish_rtmp(primary)
    st = stream_status(cluster, ns, lambda s: s.get("live"), "primary live", timeout=15)
    came = time.monotonic()
    assert st["activeIngest"] == "backup", "not before failback.stableSeconds"
    stream_status(cluster, ns, lambda s: s.get("activeIngest") == "primary", "back to primary", timeout=STABLE + 10)
    assert time.monotonic() - came >= STABLE - 1
    eventually(lambda: "PrimaryRestored" in cluster.event_reasons(ns, "LiveStream", "cam"), what="PrimaryRestored")

    # The primary's publisher stops: the backup takes over within 5 s (status polled every 0.5 s).
    main.stop()
    stopped = time.monotonic()
    stream_status(cluster, ns, lambda s: s.get("activeIngest") == "backup", "failover", timeout=10)
    assert time.monotonic() - stopped <= 5
    assert cluster.get("recordings", ns, "rec")["status"]["recording"] is True

    # The primary ingest itself goes away while the backup sends: nothing is on air (playback,
    # recordings and restreams read the primary), and the Recording says why once its window ends.
    primary.stop()
    st = stream_status(cluster, ns, lambda s: s.get("backupLive") and not s.get("activeIngest"), "nothing on air")
    rec = eventually(
        lambda: (
            (o := cluster.get("recordings", ns, "rec"))
            and (c := condition(o, "Ready"))
            and c["reason"] == "StreamNotLive"
            and o
        ),
        timeout=30,
        what="Recording waits",
    )
    assert "only its backup ingest receives media" in condition(rec, "Ready")["message"]
    assert rec["status"]["recording"] is False
    videos = eventually(lambda: cluster.get("recordings", ns, "rec")["status"].get("videos"), 30, what="video")
    assert len(videos) == 1, f"one video across the switches: {videos}"
    recorder.stop()
