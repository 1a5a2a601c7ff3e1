"""Webhooks through the operator (issue 28): StreamWebhooks deliver the events of a stream, its
backup, its Recording and its Restream to real HTTP receivers (devtools.media.webhook_receiver:
aiohttp + the CloudEvents SDK, in their own processes) on 127.0.0.1, with real workers as local
processes and media from synthetic publishers.

What a receiver sees: every event as a valid structured CloudEvent, signed (a wrong secret does
not verify), in sequence order per stream; a receiver that is down for several times the delivery
backoff's cap gets everything once it is back, also when the operator was SIGKILLed meanwhile, with
duplicates only of what it had (same id, same sequence); a slow receiver delays no one else."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from devtools.catalog import clip, livestream, recording, restream
from devtools.cluster.local_pods import LocalPods
from devtools.media.peers import NginxRtmp, Publisher
from devtools.media.webhook_receiver import WebhookReceiver
from devtools.ports import free_port
from devtools.waits import eventually

SECRET = "whsec-test-Hq8v2LmN4"
NEW_SECRET = "whsec-rotated-Tz5c9WbK1"
GROUP = "streaming.streamops.dev/v1alpha1"
# The user's own identifiers (spec.clientUserId / clientEntityData): in every event's data.
CLIENT = {"clientUserId": 31337, "clientEntityData": '{"channel": "main"}'}
# The delivery backoff's cap (webhook_backoff_cap_seconds, 30 s by default) of the operator that
# follows the SIGKILL, and how long the receiver is down at least: several times the cap (60 s were
# twice the default cap; ≥5 failures in a row keep it down longer anyway).
CAP_SECONDS = 2.0
OUTAGE_SECONDS = 5 * CAP_SECONDS
CAP_ENV = "STREAMOPS_WEBHOOK_BACKOFF_CAP_SECONDS"


def webhook(name: str, url: str, **spec: object) -> dict:
    body = {"url": url, "secretRef": {"name": "hook-secret"}, **spec}
    return {"apiVersion": GROUP, "kind": "StreamWebhook", "metadata": {"name": name}, "spec": body}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def kinds_index(entries: list[dict], kind: str) -> int:
    return next(i for i, e in enumerate(entries) if e["event"]["type"] == f"dev.streamops.{kind}")


def types_of(receiver: WebhookReceiver) -> list[str]:
    return [e["type"].removeprefix("dev.streamops.") for e in receiver.events()]


def received(receiver: WebhookReceiver, *wanted: str, timeout: float = 30.0) -> list[dict]:
    eventually(lambda: set(wanted) <= set(types_of(receiver)), timeout=timeout, what=f"{wanted} received")
    return receiver.events()


@pytest.fixture
def receivers(tmp_path: Path):
    started: list[WebhookReceiver] = []

    def start(
        name: str, secrets: list[str], delay: float = 0.0, port: int | None = None, host: str = "127.0.0.1"
    ) -> WebhookReceiver:
        r = WebhookReceiver(host, port or free_port(), tmp_path / f"{name}.jsonl", secrets, delay)
        started.append(r)
        return r.start()

    yield start
    for r in started:
        r.stop()


def in_order_per_stream(events: list[dict]) -> None:
    """Sequence numbers only grow per stream (duplicates repeat a sequence with the same id)."""
    seen: dict[str, dict[int, str]] = {}
    last: dict[str, int] = {}
    for e in events:
        seq = int(e["sequence"])
        ids = seen.setdefault(e["source"], {})
        if seq in ids:
            assert ids[seq] == e["id"], "one sequence number, two events"
            continue
        assert seq > last.get(e["source"], 0), f"out of order: {seq} after {last[e['source']]}"
        ids[seq], last[e["source"]] = e["id"], seq


def test_every_stream_recording_and_restream_event_reaches_the_receiver(
    cluster, operator, namespace, local_pods: LocalPods, publishers, receivers, tmp_path: Path
):
    ns = namespace
    hooks = receivers("hooks", [SECRET, NEW_SECRET])
    wrong = receivers("wrong", ["not-the-secret"])
    slow = receivers("slow", [SECRET], delay=4.0)
    cluster.create_secret(ns, "hook-secret", {"secret": SECRET})
    cluster.allow_reference(ns, "hook-secret")
    cluster.apply(
        ns,
        webhook("hooks", hooks.url),
        webhook("wrong-secret", wrong.url, events=["stream.*"]),
        webhook("slow", slow.url, events=["stream.active", "stream.idle"], timeoutSeconds=10),
        webhook("other", hooks.url, streamSelector={"matchLabels": {"tier": "none"}}),  # selects nothing
    )
    target = NginxRtmp(workdir=tmp_path / "nginx").start()
    rtmp_port = int(target.app_url().split(":")[2].split("/")[0])
    try:
        push = {"protocols": ["rtmp"], "backup": True, "failback": {"stableSeconds": 3}}
        cluster.apply(ns, livestream("cam", source={"push": push}, screenshots={"enabled": False}, **CLIENT))
        cluster.apply(ns, recording("rec", minDurationSeconds=1, reconnectWindowSeconds=30))
        cluster.apply(ns, restream("out", uri=target.app_url(), clientUserId=7))
        for pod in ("cam-ingest", "cam-ingest-backup", "rec-recorder", "cam-pusher"):
            eventually(lambda pod=pod: cluster.get("pods", ns, pod), what=pod)
        primary = local_pods.start(ns, "cam-ingest")
        backup = local_pods.start(ns, "cam-ingest-backup")
        local_pods.start(ns, "rec-recorder")
        local_pods.start(ns, "cam-pusher")
        key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()

        def publish(ingest) -> Publisher:
            url = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"
            publishers.append(Publisher(url, size="320x180", rate=15).start())
            return publishers[-1]

        # The backup alone: the stream is active on its backup; recording and restream start.
        on_backup = publish(backup)
        received(hooks, "stream.active", "stream.backup_active", "recording.started", "restream.connected", timeout=40)
        # The slow receiver (4 s per answer) got its first event meanwhile; the others did not wait for it.
        active_at = next(e for e in hooks.entries() if e["event"]["type"].endswith("stream.active"))["arrived"]
        main = publish(primary)
        received(hooks, "stream.primary_restored", timeout=30)
        on_backup.stop()
        # A Clip of a stream that keeps no DVR: refused by the operator (NoDvr), no Pod. (Not before
        # the stream is active: the first event's arrival is the slow receiver's check's baseline.)
        cluster.apply(ns, clip("late", lastSeconds=5))

        # The target goes away and comes back on its port: failing, then recovered.
        target.stop()
        received(hooks, "restream.failing", timeout=30)
        target = NginxRtmp(workdir=tmp_path / "nginx2", rtmp_port=rtmp_port).start()
        received(hooks, "restream.recovered", timeout=60)

        # The secret is rotated (the old one kept as `previous`): from now on two signatures, each verifies.
        rotated = {"data": {"secret": b64(NEW_SECRET), "previous": b64(SECRET)}}
        rotated_at = time.time()
        cluster.patch("secret", ns, "hook-secret", rotated)
        time.sleep(6)  # (the delivery task reads a changed Secret within 5 s)
        main.stop()
        received(hooks, "stream.idle", timeout=30)
        cluster.patch("rec", ns, "rec", {"spec": {"stopped": True}})
        events = received(hooks, "recording.video_ready", "recording.stopped", "clip.failed", timeout=60)
    finally:
        target.stop()

    # Valid CloudEvents (the SDK parsed each), signed with the secret, about this stream, in order.
    entries = hooks.entries()
    assert all(e["error"] is None and e["verified"] for e in entries), entries
    before = [e for e in entries if e["arrived"] < rotated_at]
    after = entries[kinds_index(entries, "stream.idle") :]  # (sent more than 5 s after the rotation)
    assert before and all(e["signatures"] == 1 and e["verifiedWith"] == [0] for e in before)
    assert all(e["signatures"] == 2 and e["verifiedWith"] == [0, 1] for e in after), after
    assert all(e["contentType"].startswith("application/cloudevents+json") for e in entries)
    assert all(e["webhookId"] == e["event"]["id"] for e in entries)
    stream_uid = cluster.get("livestreams", ns, "cam")["metadata"]["uid"]
    assert {e["source"] for e in events} == {f"/apis/streaming.streamops.dev/v1alpha1/namespaces/{ns}/livestreams/cam"}
    assert all(e["id"] == f"{stream_uid}-{e['sequence']}" for e in events)
    in_order_per_stream(events)
    kinds = types_of(hooks)
    assert kinds.index("stream.active") < kinds.index("stream.primary_restored") < kinds.index("stream.idle")
    # One Recording's events in causal order, by sequence (issue 41: its last video_ready, 4, had come
    # before stopped, 5: spec.stopped makes the recorder list the video before it says it stopped).
    firsts = {e["id"]: e for e in events if e["subject"] == "recordings/rec"}
    by_seq = sorted(firsts.values(), key=lambda e: int(e["sequence"]))
    assert [e["type"].removeprefix("dev.streamops.") for e in by_seq] == [
        "recording.started",
        "recording.stopped",
        "recording.video_ready",
    ], by_seq
    assert kinds.index("restream.connected") < kinds.index("restream.failing") < kinds.index("restream.recovered")
    refused = next(e for e in events if e["type"].endswith("clip.failed"))
    assert refused["subject"] == "clips/late" and refused["data"]["reason"] == "NoDvr"
    ready = next(e for e in events if e["type"].endswith("recording.video_ready"))
    assert ready["subject"] == "recordings/rec" and ready["data"]["download"] == {"recording": "rec", "number": 1}
    assert ready["data"]["location"].startswith("pvc://streamops-recordings/") and ready["data"]["sizeBytes"] > 0
    assert (
        ready["data"]["namespace"] == ns
        and ready["data"]["stream"] == "cam"
        and ready["data"]["streamTitle"] == "Camera"
    )
    assert all({k: e["data"].get(k) for k in CLIENT} == CLIENT for e in events), "the stream's client fields"
    # The Restream's own Events carry its own client fields as annotations.
    ours = [e for e in cluster.events(ns, "Restream", "out") if e["reason"].startswith("Restream")]
    assert {"RestreamLive", "RestreamBackoff"} <= {e["reason"] for e in ours}
    assert all(e["metadata"]["annotations"] == {"streaming.streamops.dev/client-user-id": "7"} for e in ours), ours
    # Both ingests' publish sessions, ended, in status.sessions, oldest first.
    sessions = eventually(
        lambda: (
            (s := cluster.get("livestreams", ns, "cam")["status"]["sessions"])
            and all(x.get("endedAt") for x in s)
            and s
        ),
        timeout=15,
        what="every session ended in status",
    )
    assert [x["ingest"] for x in sessions] == ["backup", "primary"], sessions
    assert all(x["protocol"] == "rtmp" and x["videoCodec"] == "h264" and x["peakBitrate"] > 0 for x in sessions)

    # The wrong secret does not verify; the selector that selects nothing got nothing extra.
    eventually(lambda: wrong.entries(), what="the wrong-secret receiver got events")
    assert not any(e["verified"] for e in wrong.entries())
    assert len(hooks.entries()) == len([e for e in hooks.entries() if e["event"]])  # (nothing for "other")
    assert {e["event"]["type"] for e in wrong.entries()} <= {
        f"dev.streamops.stream.{t}" for t in ("active", "idle", "backup_active", "primary_restored")
    }

    # The slow receiver got its events too, and the fast one was not held up by it.
    eventually(
        lambda: (
            {"dev.streamops.stream.active", "dev.streamops.stream.idle"}
            <= set(e["event"]["type"] for e in slow.entries())
        ),
        timeout=30,
        what="slow receiver served",
    )
    assert active_at - min(e["arrived"] for e in hooks.entries()) < 4.0

    # Status of each subscription; nothing secret anywhere.
    status = eventually(
        lambda: (
            (o := cluster.get("streamwebhooks", ns, "hooks"))["status"].get("backlog") == 0
            and o["status"].get("delivered", 0) >= len(events) - 2
            and o["status"]
        ),
        timeout=15,
        what="hooks status",
    )
    assert [c["status"] for c in status["conditions"] if c["type"] == "Ready"] == ["True"]
    assert status["lastDelivery"]["httpStatus"] == 200 and status["consecutiveFailures"] == 0
    everything = json.dumps([cluster.list("streamwebhooks", ns), cluster.list("events", ns)]) + operator.logs()
    assert SECRET not in everything and NEW_SECRET not in everything and key not in json.dumps(entries)


@pytest.fixture
def short_backoff_operator(operator):
    """The session's operator; started with a backoff cap of CAP_SECONDS by the test's own start
    after the SIGKILL, and with the suite's settings again afterwards."""
    with operator.with_env({CAP_ENV: str(CAP_SECONDS)}, restart=False) as short:
        yield short


def test_a_receiver_down_for_several_backoff_caps_gets_everything_across_an_operator_sigkill(
    cluster, short_backoff_operator, namespace, local_pods: LocalPods, publishers, receivers
):
    operator = short_backoff_operator
    ns = namespace
    port = free_port()
    hooks = receivers("hooks", [SECRET], port=port)
    cluster.create_secret(ns, "hook-secret", {"secret": SECRET})
    cluster.allow_reference(ns, "hook-secret")
    cluster.apply(ns, webhook("hooks", hooks.url, events=["stream.*"]))
    cluster.apply(ns, livestream("cam", source={"push": {"protocols": ["rtmp"]}}, screenshots={"enabled": False}))
    eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="ingest Pod")
    ingest = local_pods.start(ns, "cam-ingest")
    key = base64.b64decode(cluster.get("secrets", ns, "cam-stream-key")["data"]["streamKey"]).decode()
    url = f"rtmp://127.0.0.1:{ingest.config['ports']['rtmp']}/live/{key}"

    def session() -> None:
        publisher = Publisher(url, size="320x180", rate=15).start()
        publishers.append(publisher)
        eventually(lambda: cluster.get("livestreams", ns, "cam")["status"].get("live"), timeout=20, what="live")
        publisher.stop()
        eventually(lambda: not cluster.get("livestreams", ns, "cam")["status"].get("live"), timeout=20, what="idle")

    session()
    received(hooks, "stream.active", "stream.idle")
    delivered_before = len(hooks.events())

    # The receiver goes down for OUTAGE_SECONDS at least; meanwhile two more sessions, and the
    # operator is SIGKILLed with their events in its outbox, then started again (with the short cap).
    hooks.stop()
    down_at = time.monotonic()
    session()
    eventually(
        lambda: (cluster.get("streamwebhooks", ns, "hooks").get("status") or {}).get("backlog", 0) >= 2,
        timeout=15,
        what="a backlog",
    )
    operator.kill()
    operator.start()
    session()
    # The events are written to the outbox after the operator sees the status that makes them (its
    # watch event), so a moment after the test sees that status.
    eventually(
        lambda: (
            len(json.loads(cluster.get("configmaps", ns, "streamops-events-cam")["data"]["outbox.json"])["events"]) == 4
        ),
        timeout=10,
        what="the outbox in etcd holds the backlog of 4",
    )
    failing = eventually(
        lambda: (
            (s := cluster.get("streamwebhooks", ns, "hooks").get("status") or {}).get("consecutiveFailures", 0) >= 5
            and s
        ),
        timeout=60,
        what="failures counted",
    )
    assert [c["reason"] for c in failing["conditions"] if c["type"] == "Ready"] == ["DeliveryFailing"]
    eventually(lambda: "DeliveryFailing" in cluster.event_reasons(ns, "StreamWebhook", "hooks"), what="Warning Event")
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))

    hooks.start()
    back_at = time.time()
    eventually(lambda: len({e["id"] for e in hooks.events()}) >= delivered_before + 4, timeout=45, what="backlog")
    events = hooks.events()
    took = max(e["arrived"] for e in hooks.entries()) - back_at
    print(f"backlog of 4 delivered {took:.1f} s after the receiver came back")
    in_order_per_stream(events)
    assert [e["type"].removeprefix("dev.streamops.") for e in events[delivered_before:]][:4] == [
        "stream.active",
        "stream.idle",
        "stream.active",
        "stream.idle",
    ]
    assert [int(e["sequence"]) for e in events] == sorted(int(e["sequence"]) for e in events)
    assert len({e["id"] for e in events}) == 6  # nothing lost; a duplicate would repeat an id
    eventually(lambda: "DeliveryRecovered" in cluster.event_reasons(ns, "StreamWebhook", "hooks"), what="recovered")
    # Drained: the outbox holds no events any more.
    eventually(
        lambda: (
            json.loads(cluster.get("configmaps", ns, "streamops-events-cam")["data"]["outbox.json"])["events"] == []
        ),
        timeout=15,
        what="outbox drained",
    )


def test_a_receiver_at_an_address_outside_the_allow_list_gets_nothing(cluster, operator, namespace, receivers):
    """Issue 37, finding 10: the operator POSTed wherever a StreamWebhook's url pointed and told in
    status.lastFailure how the destination answered (HTTP status, "connection refused" or a timeout,
    the duration): a port scanner of the cluster's network. The suite's operator allow-lists
    127.0.0.1 only (devtools.cluster.suite), so 127.0.0.2 stands in for any internal address: the
    receiver there gets nothing, and status says "refused by policy" and nothing else. (The metadata
    address, other namespaces' Services, rebinding and redirects: tests/unit/egress/test_policy.py.)"""
    ns = namespace
    allowed = receivers("allowed", [SECRET])
    internal = receivers("internal", [SECRET], host="127.0.0.2")
    cluster.create_secret(ns, "hook-secret", {"secret": SECRET})
    cluster.allow_reference(ns, "hook-secret")
    cluster.apply(ns, webhook("allowed", allowed.url), webhook("internal", internal.url))
    cluster.apply(ns, livestream("cam", screenshots={"enabled": False}))
    # The stream's outbox (its baseline) first, then an event: a Clip of a stream without DVR fails.
    eventually(lambda: cluster.get("configmaps", ns, "streamops-events-cam"), what="the stream's outbox")
    cluster.apply(ns, clip("late", lastSeconds=5))
    received(allowed, "clip.failed")

    def refused() -> dict | None:
        status = (cluster.get("streamwebhooks", ns, "internal") or {}).get("status") or {}
        return status if (status.get("lastFailure") or {}).get("error") else None

    status = eventually(lambda: refused() or internal.events(), timeout=30, what="a failure or a delivery")
    assert internal.events() == [], "a receiver outside the allow-list was reached"
    failure = status["lastFailure"]
    assert failure["error"] == "refused by policy", failure
    assert failure.get("httpStatus") is None and failure["durationMs"] == 0, failure


def test_a_broadcast_s_state_changes_reach_the_receiver_as_its_first_stream_s_events(
    cluster, operator, namespace, receivers
):
    """docs/design/broadcasts.md: the user's Paused and Finished come as broadcast.paused and
    broadcast.finished, subject broadcasts/<name>, in its first stream's sequence, verified."""
    ns = namespace
    hooks = receivers("hooks", [SECRET])
    cluster.create_secret(ns, "hook-secret", {"secret": SECRET})
    cluster.allow_reference(ns, "hook-secret")
    cluster.apply(ns, webhook("all", hooks.url, events=["broadcast.*"]))
    cluster.apply(
        ns, livestream("main", screenshots={"enabled": False}), livestream("backup", screenshots={"enabled": False})
    )
    eventually(lambda: cluster.get("configmaps", ns, "streamops-events-main"), what="the first stream's outbox")
    cluster.apply(ns, {"apiVersion": GROUP, "kind": "Broadcast", "metadata": {"name": "keynote"},
                       "spec": {"streams": ["main", "backup"], "state": "Paused"}})  # fmt: skip
    received(hooks, "broadcast.paused")
    cluster.patch("broadcast", ns, "keynote", {"spec": {"state": "Finished"}})
    events = received(hooks, "broadcast.paused", "broadcast.finished")
    assert types_of(hooks) == ["broadcast.paused", "broadcast.finished"], "each once, in order"
    paused, finished = events
    assert paused["subject"] == "broadcasts/keynote" and paused["source"].endswith(f"/namespaces/{ns}/livestreams/main")
    assert (paused["data"]["phase"], paused["data"]["previousPhase"]) == ("Paused", "Pending")
    assert finished["data"]["previousPhase"] == "Paused"
    assert int(finished["data"]["sequence"]) > int(paused["data"]["sequence"])
    assert all(e["verified"] for e in hooks.entries()), "signed with the subscription's secret"
