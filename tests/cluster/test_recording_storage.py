"""Recordings to object storage through the operator (issue 13), against the real S3 server
(versitygw, devtools.media.s3_server) and real workers standing in for the Pods (devtools.cluster.local_pods:
hostNetwork workers on 127.0.0.1, where the recorder reaches the server too):

- a Secret the storage names is missing: no recorder Pod, StorageCredentialsMissing, then a Pod
  once it exists;
- wrong credentials: Uploaded False StorageAccessDenied within seconds, and no key anywhere;
- a recording to S3: s3:// URLs, uploaded, Uploaded True, VideoUploaded, the object and its sidecar
  in the bucket; retention (deleteAfterDays with a short test day): VideoExpired, both objects
  gone, expiredAt set, storedBytes 0;
- keepOrigin (issue 41) beside it, the stream transcoding a 144p ladder: a transcoded recording to
  the bucket and one to the default claim, each with its original (the source's 320x180 beside the
  144p video), deleted after one (20 s) day while the videos stay: in the bucket by the operator, on
  the claim by the one-shot origin expiry Pod (run here as a kubelet would); origin.expiredAt,
  OriginExpired, storedBytes down to the video's;
- the namespace quota (set from the first video's size, operator restarted): StorageAlmostFull on
  a new Recording at 80 %, a running one finalised with NoSpace at 100 %, a new one refused.

One stream, one publisher, one S3 server for all of it. The suite's operator runs with a short
test day for retention (devtools.cluster.suite.OPERATOR_ENV); the quota is this module's, and the
operator is given back its usual settings afterwards.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import livestream, recording
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import LocalPods
from devtools.cluster.suite import OPERATOR_ENV
from devtools.media.peers import Publisher, ffprobe_streams
from devtools.media.s3_server import S3Server
from devtools.media.webhook_receiver import WebhookReceiver
from devtools.ports import free_port
from devtools.waits import eventually

BUCKET = "recordings"
LADDER = {"renditions": [{"name": "144p", "height": 144, "videoBitrateKbps": 150, "audioBitrateKbps": 64}]}
KEEP_ORIGIN = {"enabled": True, "deleteAfterDays": 1}  # a 20 s day, as deleteAfterDays of the storage
# Retention's day in the suite (OPERATOR_ENV): a video expires 20 s after it ended (deleteAfterDays 1).
DAY_SECONDS = int(OPERATOR_ENV["STREAMOPS_RETENTION_DAY_SECONDS"])
QUOTA_ENV = "STREAMOPS_RECORDINGS_QUOTA_BYTES"
ALLOWED = {"streaming.streamops.dev/allow-reference": "true"}  # Secrets the specs may name (tenancy.md)
# The stream's own identifiers (spec.clientUserId / clientEntityData): into sidecars, webhook data, Events.
CLIENT = {"clientUserId": 4200000000123, "clientEntityData": '{"team": "ünï", "plan": "pro"}'}
CLIENT_ANNOTATIONS = {
    "streaming.streamops.dev/client-user-id": "4200000000123",
    "streaming.streamops.dev/client-entity-data": CLIENT["clientEntityData"],
}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def storage_operator(operator):
    """The session's operator; its own settings again afterwards (the test sets a quota)."""
    with operator.with_env({}, restart=False) as configured:
        yield configured


def wait(cluster, plural: str, ns: str, name: str, probe, what: str, timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        obj = cluster.get(plural, ns, name)
        try:
            return obj if obj is not None and probe(obj) else None
        except (KeyError, TypeError):
            return None

    return eventually(check, timeout=timeout, interval=0.1, what=f"{name}: {what}")


def is_true(obj: dict[str, Any], type_: str, reason: str | None = None) -> bool:
    c = condition(obj, type_)
    return bool(c and c["status"] == "True" and (reason is None or c["reason"] == reason))


def cond(obj: dict[str, Any], type_: str) -> tuple[str, str] | None:
    c = condition(obj, type_)
    return (c["status"], c["reason"]) if c else None


def s3_storage(s3: S3Server, credentials: str = "s3-creds", **extra: Any) -> dict[str, Any]:
    return {
        "s3": {
            "endpoint": s3.endpoint,
            "bucket": BUCKET,
            "credentialsSecret": credentials,
            "caSecret": "s3-ca",
            "keyTemplate": "{namespace}/{stream}/{year}/{month}/{day}/{recording}-{uid}",
            **extra,
        }
    }


def record_for(cluster, ns: str, name: str, seconds: float) -> None:
    wait(cluster, "recordings", ns, name, lambda o: o["status"]["recording"], "recording", 30)
    time.sleep(seconds)
    cluster.patch("rec", ns, name, {"spec": {"stopped": True}})


def test_recordings_to_object_storage(
    cluster, storage_operator, namespace, local_pods: LocalPods, s3: S3Server, tmp_path: Path
):
    ns, operator = namespace, storage_operator
    wrong_secret = {"accessKeyId": "SOWRONGKEYID00000000", "secretAccessKey": "wrong-secret-value-4242424242"}
    # A webhook receiver for the recordings' events (upload failing, video ready in the bucket, no space).
    receiver = WebhookReceiver("127.0.0.1", free_port(), tmp_path / "hooks.jsonl", ["hook-secret-value"]).start()
    cluster.apply(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook", "labels": ALLOWED},
            "stringData": {"secret": "hook-secret-value"},
        },
        {
            "apiVersion": "streaming.streamops.dev/v1alpha1",
            "kind": "StreamWebhook",
            "metadata": {"name": "hooks"},
            "spec": {"url": receiver.url, "secretRef": {"name": "hook"}, "events": ["recording.*"]},
        },
    )
    try:
        storage_flow(cluster, operator, ns, local_pods, s3, tmp_path, wrong_secret)
        # Webhooks leave from the delivery queue after the status they report: the flow's last one
        # (q3 refused) may still be on its way when the flow has seen q3's status (ci82).
        eventually(
            lambda: any(
                e["type"].endswith("recording.no_space") and e["subject"] == "recordings/q3" for e in receiver.events()
            ),
            timeout=60,
            what="q3's recording.no_space webhook",
        )
        events = receiver.events()
    finally:
        receiver.stop()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_type.setdefault(e["type"].removeprefix("dev.streamops."), []).append(e)
    assert all(e["verified"] for e in receiver.entries())
    assert [e["subject"] for e in by_type["recording.upload_failing"]] == ["recordings/wrong"]
    assert by_type["recording.upload_failing"][0]["data"]["reason"] == "StorageAccessDenied"
    in_bucket = [e["data"]["location"] for e in by_type["recording.video_ready"] if e["subject"] == "recordings/rec"]
    assert all({k: e["data"].get(k) for k in CLIENT} == CLIENT for e in events), "data carries the client fields"
    assert in_bucket and all(loc.startswith(f"s3://{BUCKET}/") for loc in in_bucket)
    assert {e["subject"] for e in by_type["recording.no_space"]} >= {"recordings/q2", "recordings/q3"}
    for secret in (s3.access_key, s3.secret_key, *wrong_secret.values()):
        assert secret not in json.dumps(events), "a credential leaked into a webhook"


def claim_file(local_pods: LocalPods, ns: str, path: str) -> Path:
    """A file of the default recordings claim, as the local Pods share it."""
    return local_pods.root / "claims" / ns / "streamops-recordings" / path


def stream_of(path: Path) -> dict[str, Any]:
    [video] = [s for s in ffprobe_streams(path) if s["codec_type"] == "video"]
    return video


def kept_originals(cluster, ns: str, local_pods: LocalPods, s3: S3Server) -> dict[str, dict[str, Any]]:
    """Both keepOrigin Recordings finalised: each video with its original beside it, the source's
    size against the rendition's, in the bucket and on the claim. Their videos, by Recording."""
    videos = {}
    for name in ("orig", "origpvc"):
        r = wait(cluster, "recordings", ns, name, lambda o: is_true(o, "Succeeded"), "Succeeded", 60)
        [video] = r["status"]["videos"]
        origin = video["origin"]
        ended = datetime.fromisoformat(video["endedAt"])
        assert datetime.fromisoformat(origin["deleteAt"]) == ended + timedelta(seconds=DAY_SECONDS), origin
        assert (origin["width"], origin["height"]) == (320, 180) and origin.get("expiredAt") is None
        assert r["status"]["storedBytes"] == video["sizeBytes"] + origin["sizeBytes"]
        videos[name] = video
    bucket = videos["orig"]
    stem = bucket["url"][len(f"s3://{BUCKET}/") : -len(".mp4")]
    assert bucket["origin"]["url"] == f"s3://{BUCKET}/{stem}-origin.mp4" and bucket["origin"]["upload"] == "uploaded"
    objects = s3.objects(BUCKET, stem)
    assert objects[f"{stem}-origin.mp4"] == bucket["origin"]["sizeBytes"] and f"{stem}-origin.json" in objects
    doc = json.loads(s3.client().get_object(Bucket=BUCKET, Key=f"{stem}.json")["Body"].read())
    assert doc["originUrl"] == bucket["origin"]["url"], "the video's sidecar names its original"
    claim = videos["origpvc"]
    assert claim["origin"]["path"] == claim["path"][: -len(".mp4")] + "-origin.mp4"
    kept, made = (
        stream_of(claim_file(local_pods, ns, claim["origin"]["path"])),
        stream_of(claim_file(local_pods, ns, claim["path"])),
    )
    assert (kept["width"], kept["height"], made["height"]) == (320, 180, 144), "the source's beside the rendition's"
    return videos


def originals_expire(cluster, ns: str, local_pods: LocalPods, s3: S3Server, videos: dict[str, dict[str, Any]]) -> None:
    """A day after each video's end its original is deleted, the video stays: in the bucket by the
    operator, on the claim by the origin expiry Pod (run once here, as a kubelet would)."""
    started = time.monotonic()
    ran = local_pods.run_to_completion(ns, "origpvc-origin-expiry")  # waits for the operator to make it
    assert ran == 0
    for name, video in videos.items():
        r = wait(
            cluster,
            "recordings",
            ns,
            name,
            lambda o: o["status"]["videos"][0]["origin"].get("expiredAt"),
            "origin expired",
            60,
        )
        [after] = r["status"]["videos"]
        late = (
            datetime.fromisoformat(after["origin"]["expiredAt"]) - datetime.fromisoformat(video["origin"]["deleteAt"])
        ).total_seconds()
        print(f"keepOrigin {name}: original deleted {late:.0f} s after its deleteAt")
        assert after.get("expiredAt") is None and r["status"]["storedBytes"] == video["sizeBytes"], "the video stays"
        # The Event follows the status patch (polled at 0.1 s, the status can be read before it is posted).
        events = eventually(lambda n=name: cluster.events(ns, "Recording", n, "OriginExpired"), what="OriginExpired")
        assert events and (video["origin"].get("url") or video["origin"]["path"]) in events[0]["message"]
    stem = videos["orig"]["url"][len(f"s3://{BUCKET}/") : -len(".mp4")]
    assert set(s3.objects(BUCKET, stem)) == {f"{stem}.mp4", f"{stem}.json", f"{stem}.html"}, "the original is gone"
    claim = videos["origpvc"]
    assert not claim_file(local_pods, ns, claim["origin"]["path"]).exists(), "the original is gone"
    assert claim_file(local_pods, ns, claim["path"]).stat().st_size == claim["sizeBytes"], "the video stays"
    sidecar = json.loads(claim_file(local_pods, ns, claim["path"][: -len(".mp4")] + ".json").read_text())
    assert sidecar["origin"]["expiredAt"], "the claim's sidecar says so"
    eventually(lambda: cluster.get("pods", ns, "origpvc-origin-expiry") is None, what="the expiry Pod removed")
    print(f"keepOrigin: both originals expired {time.monotonic() - started:.1f} s after the videos' own expiry")


def storage_flow(cluster, operator, ns: str, local_pods: LocalPods, s3: S3Server, tmp_path: Path, wrong_secret) -> None:
    cluster.apply(
        ns,
        s3.credentials_secret("s3-creds", ns),
        s3.ca_secret("s3-ca", ns),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "wrong-creds", "labels": ALLOWED},
            "stringData": wrong_secret,
        },
        livestream("cam", screenshots={"enabled": False}, transcoding=LADDER, **CLIENT),
    )
    ingest = local_pods.start(ns, "cam-ingest")
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    publisher = Publisher(
        f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}",
        size="320x180",
        rate=15,
        video_bitrate="300k",
        log_path=tmp_path / "publisher.log",
    )
    with publisher:
        wait(cluster, "livestreams", ns, "cam", lambda o: o["status"]["live"], "live", 30)

        # A recording to S3, retention after one (20 s) day: the day passes while the next two
        # Recordings (a missing and a wrong credentials Secret) are looked at.
        cluster.apply(ns, recording("rec", storage=s3_storage(s3, deleteAfterDays=1), minDurationSeconds=1))
        # keepOrigin beside it: transcoded recordings keeping their originals a day, to the bucket and to the claim.
        transcoded = {"type": "transcoded", "keepOrigin": KEEP_ORIGIN, "minDurationSeconds": 1}
        cluster.apply(ns, recording("orig", storage=s3_storage(s3), **transcoded), recording("origpvc", **transcoded))
        pod = cluster.get("pods", ns, "rec-recorder") or eventually(lambda: cluster.get("pods", ns, "rec-recorder"))
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert "emptyDir" in volumes["recordings"] and "affinity" not in pod["spec"]
        rec_worker = local_pods.start(ns, "rec-recorder")
        origin_workers = [local_pods.start(ns, f"{name}-recorder") for name in ("orig", "origpvc")]
        for name in ("orig", "origpvc"):
            wait(cluster, "recordings", ns, name, lambda o: o["status"]["recording"], "recording", 30)
        record_for(cluster, ns, "rec", 4)
        for name in ("orig", "origpvc"):
            cluster.patch("rec", ns, name, {"spec": {"stopped": True}})
        stopped = time.monotonic()
        r = wait(cluster, "recordings", ns, "rec", lambda o: is_true(o, "Succeeded"), "Succeeded", 60)
        print(f"stop -> Succeeded (video uploaded) in {time.monotonic() - stopped:.1f} s")
        originals = kept_originals(cluster, ns, local_pods, s3)
        [video] = r["status"]["videos"]
        prefix = f"s3://{BUCKET}/{ns}/cam/"
        assert video["url"].startswith(prefix) and video["url"].endswith(".mp4") and video["upload"] == "uploaded"
        assert cond(r, "Uploaded") == ("True", "Uploaded")
        assert r["status"]["storage"]["s3"]["bucket"] == BUCKET and r["status"]["storedBytes"] == video["sizeBytes"]
        object_key = video["url"][len(f"s3://{BUCKET}/") :]
        sidecar = object_key[: -len(".mp4")] + ".json"
        objects = s3.objects(BUCKET, f"{ns}/")
        assert objects.get(object_key) == video["sizeBytes"] and sidecar in objects
        doc = json.loads(s3.client().get_object(Bucket=BUCKET, Key=sidecar)["Body"].read())
        assert {k: doc.get(k) for k in CLIENT} == CLIENT, doc
        uploaded = eventually(lambda: cluster.events(ns, "Recording", "rec", "VideoUploaded"), what="VideoUploaded")
        assert uploaded and video["url"] in uploaded[0]["message"]
        assert uploaded[0]["metadata"].get("annotations") == CLIENT_ANNOTATIONS, "its stream's client fields"
        went_live = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "WentLive"), what="WentLive")
        assert went_live and went_live[0]["metadata"].get("annotations") == CLIENT_ANNOTATIONS

        # The publish session so far, as the real ingest measured it (status.sessions).
        def on_air(o: dict[str, Any]) -> dict[str, Any] | None:
            last = o["status"]["sessions"][-1]
            return last if last.get("averageBitrate") and last.get("peakBitrate") else None

        stream = wait(cluster, "livestreams", ns, "cam", on_air, "a session with bitrates", 30)
        session = stream["status"]["sessions"][-1]
        assert (session["ingest"], session["protocol"], session["videoCodec"]) == ("primary", "rtmp", "h264")
        assert (session["width"], session["height"], "endedAt" in session) == (320, 180, False)
        assert session["startedAt"] == stream["status"]["startedAtPrimary"]
        # A 300 kbit/s publisher: the feed's bytes (MPEG-TS), the peak a whole second's (the open one is not in it).
        assert 0 < session["averageBitrate"] <= 1.2 * session["peakBitrate"] < 6_000_000, session
        assert session["frameRate"] == pytest.approx(15, abs=3)
        assert stream["status"]["transcodedQualities"] == ["144p"]  # the ladder keepOrigin's recordings record
        # Finalised: the operator removes its Pod, and its worker stops as a kubelet would stop it
        # (its port may be handed out again; retention is the operator's).
        eventually(lambda: cluster.get("pods", ns, "rec-recorder") is None, what="the finalised recorder's Pod gone")
        rec_worker.stop()
        for worker in origin_workers:
            worker.stop()

        # A missing credentials Secret: no Pod, and the Recording says which Secret.
        cluster.apply(ns, recording("nocreds", storage=s3_storage(s3, "absent")))
        r = wait(cluster, "recordings", ns, "nocreds", lambda o: is_true(o, "Stalled"), "Stalled")
        assert cond(r, "Ready") == ("False", "StorageCredentialsMissing")
        assert "absent" in condition(r, "Ready")["message"]
        assert cluster.get("pods", ns, "nocreds-recorder") is None
        cluster.apply(ns, {**s3.credentials_secret("absent", ns)})
        eventually(lambda: cluster.get("pods", ns, "nocreds-recorder"), timeout=20, what="Pod once the Secret exists")
        cluster.delete("rec", ns, "nocreds", wait=True)

        # Wrong credentials: said within seconds, recording goes on locally.
        cluster.apply(ns, recording("wrong", storage=s3_storage(s3, "wrong-creds"), minDurationSeconds=1))
        wrong = local_pods.start(ns, "wrong-recorder")
        started = time.monotonic()
        r = wait(
            cluster,
            "recordings",
            ns,
            "wrong",
            lambda o: cond(o, "Uploaded") == ("False", "StorageAccessDenied"),
            "denied",
        )
        print(f"wrong credentials -> Uploaded False StorageAccessDenied in {time.monotonic() - started:.1f} s")
        r = wait(cluster, "recordings", ns, "wrong", lambda o: o["status"]["recording"], "recording goes on locally")
        assert cond(r, "Ready")[0] == "True" and cond(r, "Uploaded") == ("False", "StorageAccessDenied")
        assert "StorageAccessDenied" in condition(r, "Ready")["message"]
        eventually(lambda: "StorageAccessDenied" in cluster.event_reasons(ns, "Recording", "wrong"), what="the Event")
        cluster.delete("rec", ns, "wrong", wait=True)
        wrong.stop()

        # The first Recording's day is over: its video and sidecar are deleted.
        r = wait(cluster, "recordings", ns, "rec", lambda o: o["status"]["videos"][0].get("expiredAt"), "expired", 60)
        ended = datetime.fromisoformat(video["endedAt"])
        late = (datetime.fromisoformat(r["status"]["videos"][0]["expiredAt"]) - ended).total_seconds() - DAY_SECONDS
        print(f"retention: deleted {late:.0f} s after the video's end + 1 day ({DAY_SECONDS} s)")
        assert r["status"]["storedBytes"] == 0
        assert not s3.objects(BUCKET, object_key.rsplit("/", 1)[0] + "/"), "the video and its sidecar are deleted"
        expired = eventually(lambda: cluster.events(ns, "Recording", "rec", "VideoExpired"), what="VideoExpired")
        assert expired and video["url"] in expired[0]["message"]
        originals_expire(cluster, ns, local_pods, s3, originals)
        # Their videos stay, counted in the namespace's quota: out of the way of the quota's arithmetic below.
        cluster.delete("rec", ns, "orig", "origpvc", wait=True)

        # The namespace quota: what one 4 s video takes is 85 % of it.
        cluster.apply(ns, recording("q1", storage=s3_storage(s3), minDurationSeconds=1))
        local_pods.start(ns, "q1-recorder")
        record_for(cluster, ns, "q1", 4)
        q1 = wait(cluster, "recordings", ns, "q1", lambda o: is_true(o, "Succeeded"), "Succeeded", 60)
        used = q1["status"]["storedBytes"]
        limit = used * 100 // 85
        operator.env[QUOTA_ENV] = str(limit)
        operator.restart()

        cluster.apply(ns, recording("q2", storage=s3_storage(s3), minDurationSeconds=1))
        q2 = wait(cluster, "recordings", ns, "q2", lambda o: is_true(o, "StorageAlmostFull"), "StorageAlmostFull")
        percent = used * 100 // limit
        assert condition(q2, "StorageAlmostFull")["message"] == (
            f"used {used} of {limit} bytes ({percent} %) of namespace quota"
        )
        # The Event follows the condition's status patch: wait for it, not just read once.
        almost = eventually(lambda: cluster.events(ns, "Recording", "q2", "StorageAlmostFull"), what="the Event")
        assert almost[0]["type"] == "Warning"
        q1 = cluster.get("recordings", ns, "q1")
        assert condition(q1, "StorageAlmostFull") is None and is_true(q1, "Succeeded"), "a finished one is not warned"
        local_pods.start(ns, "q2-recorder")
        wait(cluster, "recordings", ns, "q2", lambda o: o["status"]["recording"], "recording")
        recording_at = time.monotonic()
        q2 = wait(cluster, "recordings", ns, "q2", lambda o: is_true(o, "NoSpace"), "NoSpace: finalised", 60)
        print(f"quota: recording -> finalised with NoSpace in {time.monotonic() - recording_at:.1f} s")
        assert cond(q2, "Recording") == ("False", "NoSpace")
        q2 = wait(
            cluster, "recordings", ns, "q2", lambda o: cond(o, "Uploaded") == ("True", "Uploaded"), "its video uploaded"
        )
        assert all(v["upload"] == "uploaded" for v in q2["status"]["videos"]), "finalised cleanly, nothing lost"

        cluster.apply(ns, recording("q3", storage=s3_storage(s3)))
        q3 = wait(cluster, "recordings", ns, "q3", lambda o: is_true(o, "NoSpace"), "refused")
        assert cond(q3, "Ready") == ("False", "NoSpace")
        assert condition(q3, "NoSpace")["message"].startswith("no space for recording the stream: used ")
        assert cluster.get("pods", ns, "q3-recorder") is None
        refused = eventually(lambda: cluster.events(ns, "Recording", "q3", "NoSpace"), what="NoSpace Event")
        assert any(e["type"] == "Warning" for e in refused)

    # No key anywhere: statuses, Events, the operator's log.
    everything = {
        "statuses": json.dumps([o.get("status") for o in cluster.list("rec", ns)]),
        "events": json.dumps(cluster.list("events", ns)),
        "operator log": operator.logs(),
    }
    for where, text in everything.items():
        for secret in (s3.access_key, s3.secret_key, *wrong_secret.values()):
            assert secret not in text, f"a credential leaked into {where}"
