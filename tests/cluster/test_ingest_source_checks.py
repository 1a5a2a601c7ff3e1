"""What the operator says about what encoders will meet: a referenced stream key SRT cannot take as
its passphrase (Stalled until the Secret is fixed, the ingest running meanwhile), and a source that
common browsers will not play (BrowserPlayable False from the real ingest worker's telemetry, with
a Warning Event).

The second test runs the ingest worker as a local process standing in for its Pod (see
devtools/cluster/local_pods.py and tests/cluster/test_media_flow.py) and publishes 10-bit H.264 to it.
"""

from __future__ import annotations

import base64
import json

from devtools.catalog import livestream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import Publisher
from devtools.waits import eventually

SHORT_KEY = "Zq9wX3k"  # 7 characters: RTMP takes it, SRT does not (10..79)


def stream_where(cluster, ns, probe, what, timeout=30.0):
    return eventually(
        lambda: (s := cluster.get("livestreams", ns, "cam")) and probe(s) and s, timeout=timeout, what=what
    )


def test_a_key_srt_cannot_use_stalls_the_stream_until_the_secret_is_fixed(cluster, operator, namespace):
    ns = namespace
    cluster.create_secret(ns, "mine", {"streamKey": SHORT_KEY})
    cluster.allow_reference(ns, "mine")
    cluster.apply(
        ns, livestream("cam", source={"push": {"protocols": ["rtmp", "srt"], "streamKeySecretRef": {"name": "mine"}}})
    )
    s = stream_where(
        cluster, ns, lambda s: (c := condition(s, "Stalled")) and c["reason"] == "StreamKeyInvalidForSrt", "Stalled"
    )
    stalled, ready = condition(s, "Stalled"), condition(s, "Ready")
    assert stalled["status"] == "True" and (ready["status"], ready["reason"]) == ("False", "StreamKeyInvalidForSrt")
    assert "Secret mine (key streamKey)" in stalled["message"] and "10 to 79" in stalled["message"]
    # RTMP takes the key: the ingest runs (and its worker leaves SRT off, see tests/unit/contract/test_stream_key.py).
    assert eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest Pod")
    # Two Events carry the reason: Ready False on the first visit (Normal) and Stalled True (Warning),
    # in no set order: the Warning is looked for, and the key in neither.
    events = eventually(
        lambda: (
            (found := cluster.events(ns, "LiveStream", "cam", "StreamKeyInvalidForSrt"))
            and any(e["type"] == "Warning" for e in found)
            and found
        ),
        what="the Warning Event",
    )
    assert "Warning" in {e["type"] for e in events}
    for where, text in (("status", json.dumps(s["status"])), ("events", json.dumps(events))):
        assert SHORT_KEY not in text, f"the key leaked into {where}"

    pod_uid = cluster.get("pods", ns, "cam-ingest")["metadata"]["uid"]
    fixed = base64.b64encode(b"Zq9wX3k-long-enough").decode()
    cluster.core.patch_namespaced_secret("mine", ns, {"data": {"streamKey": fixed}})
    # The operator reads the Secret when it reconciles (resync); the ingest is not restarted.
    stream_where(cluster, ns, lambda s: condition(s, "Stalled") is None, "Stalled gone", timeout=45)
    assert cluster.get("pods", ns, "cam-ingest")["metadata"]["uid"] == pod_uid, "a fixed key needs no new Pod"


def test_a_source_browsers_will_not_play_is_said_from_the_workers_telemetry(
    cluster, operator, namespace, local_pods: LocalPods, publishers
):
    ns = namespace
    cluster.apply(ns, livestream("cam", source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False}))
    eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest Pod")
    s = stream_where(cluster, ns, lambda s: condition(s, "BrowserPlayable"), "BrowserPlayable")
    assert (condition(s, "BrowserPlayable")["status"], condition(s, "BrowserPlayable")["reason"]) == (
        "Unknown",
        "NoMedia",
    )

    ingest = local_pods.start(ns, "cam-ingest")
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    # What OBS sends with "Color Format: P010 (10-bit)": H.264 High 10.
    ten_bit = ["-pix_fmt", "yuv420p10le", "-profile:v", "high10"]
    url = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"
    publishers.append(Publisher(url, size="320x180", rate=15, encode_args=ten_bit).start())

    s = stream_where(cluster, ns, lambda s: s["status"].get("videoProfile"), "status.videoProfile", timeout=30)
    st = s["status"]
    assert (st["videoCodec"], st["videoProfile"], st["pixelFormat"], st["bitDepth"]) == (
        "h264",
        "High 10",
        "yuv420p10le",
        10,
    )
    playable = condition(s, "BrowserPlayable")
    assert (playable["status"], playable["reason"]) == ("False", "High10Profile"), playable
    assert "spec.transcoding.renditions" in playable["message"]
    warning = eventually(
        lambda: cluster.events(ns, "LiveStream", "cam", "NotBrowserPlayable"), what="the NotBrowserPlayable Warning"
    )
    assert warning[0]["type"] == "Warning" and "High10Profile" in warning[0]["message"]
    assert condition(s, "Ready")["status"] == "True", "a stream browsers cannot play is still a working stream"
