"""`helm upgrade` while streams are live (issue 25): a chart upgrade that changes only the operator
(its log level, resources, Pod annotations: a new ReplicaSet) rolls no worker Pod, cuts no
publisher, splits no recording and counts no restream reconnect; one that changes a worker value
(issue 39) restarts no busy worker either, says RestartPending, and applies it once idle. A chart
whose CRD schema changed (a new optional field) over live objects: test_handover.py's upgrade, which
brings one with its new worker image. The session's release is put back as installed after each test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devtools.catalog import recording, restream
from devtools.cluster.kubectl import condition
from devtools.cluster.local_cluster import LocalCluster
from devtools.cluster.network import OUTSIDE_IP
from devtools.cluster.release import Release
from devtools.media.peers import NginxRtmp, Publisher
from devtools.waits import eventually

from tests.multinode.test_streaming import rtmp_url, start_stream, wait_live

pytestmark = pytest.mark.timeout(900)

OPERATOR_ONLY = {
    "operator": {"verbose": False},
    "resources": {"requests": {"cpu": "60m", "memory": "140Mi"}, "limits": {"memory": "300Mi"}},
    "podAnnotations": {"streamops.test/upgrade": "operator-only"},
}


WORKER_TOLERATION = 37  # worker.nodeLoss.tolerationSeconds after the second upgrade (the chart's: 30)


# Readings (2 s apart) of what must not change, after the new operator's first reconcile of each object.
PAST_THE_RECONCILES = 2


def restart_pending(obj: dict[str, Any]) -> bool:
    found = condition(obj, "RestartPending")
    return bool(found and found["status"] == "True" and "spec.tolerations changed" in found["message"])


@pytest.fixture
def restored(release: Release) -> Iterator[Release]:
    """The session's release, upgraded back to the install's chart and values before the next test that
    needs them (Release.restore_later: the next module of devtools.test_scopes.RELEASE_CHAIN does not)."""
    try:
        yield release
    finally:
        release.restore_later()


def worker_pods(cluster: LocalCluster, ns: str) -> dict[str, str]:
    """name → uid of the namespace's Pods (all of them the operator's workers)."""
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in cluster.list("pods", ns)}


def observed(cluster: LocalCluster, ns: str) -> dict[str, Any]:
    """What must not change across the upgrade, as the API shows it."""
    stream = cluster.get("lst", ns, "cam") or {}
    rec = cluster.get("rec", ns, "rec") or {}
    out = cluster.get("rst", ns, "out") or {}
    return {
        "live": stream.get("status", {}).get("live"),
        "session started": stream.get("status", {}).get("startedAtPrimary"),
        "recording": rec.get("status", {}).get("recording"),
        "videos": len(rec.get("status", {}).get("videos") or []),
        "recording started": rec.get("status", {}).get("startedAt"),
        "restream live": out.get("status", {}).get("live"),
        "restream reconnects": out.get("status", {}).get("reconnects"),
    }


def test_an_operator_only_upgrade_while_live_touches_no_worker(
    cluster: LocalCluster,
    restored: Release,
    namespace: str,
    publishers: list[Publisher],
    s3_storage: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    ns = namespace
    stream = start_stream(cluster, ns)
    encoder = cluster.publish_from_lan(rtmp_url(cluster, ns, stream), publishers)
    wait_live(cluster, ns)
    with NginxRtmp(workdir=tmp_path / "nginx", address=OUTSIDE_IP, netns=cluster.network.outside) as target:
        cluster.apply(
            ns,
            recording("rec", minDurationSeconds=1, reconnectWindowSeconds=5, storage=s3_storage),
            restream("out", uri=target.app_url()),
        )
        cluster.wait_status("rec", ns, "rec", lambda o: o["status"].get("recording"), "recording", 90)
        cluster.wait_status("rst", ns, "out", lambda o: o["status"].get("live"), "restream live", 90)
        time.sleep(5)
        pods, before = worker_pods(cluster, ns), observed(cluster, ns)
        assert before["restream reconnects"] == 0 and before["videos"] == 0, before
        assert before["session started"] and before["recording started"], before
        operators = {p["metadata"]["uid"] for p in restored.operator_pods()}

        restored.upgrade(OPERATOR_ONLY)  # waits for the rollout
        # The old Pods may still be terminating when helm's wait ends: see them gone.
        new = eventually(
            lambda: (pods := restored.operator_pods())
            and operators.isdisjoint(p["metadata"]["uid"] for p in pods)
            and pods,
            timeout=90, interval=1, what="only the upgrade's operator Pods",
        )  # fmt: skip
        assert all(p["metadata"]["annotations"].get("streamops.test/upgrade") for p in new)
        # The new operator reconciles every object at its first look, and says so: watch until it
        # has reconciled all three, then PAST_THE_RECONCILES readings more (its status loops write
        # what they observe within a tick, 0.5 s).
        deadline, past = time.monotonic() + 90, -1
        while True:
            assert observed(cluster, ns) == before, f"changed by the upgrade:\n{restored.diagnose()}"
            assert worker_pods(cluster, ns) == pods, "no worker Pod was replaced"
            if past >= 0 or restored.reconciled_by_the_leader(
                ("LiveStream", ns, "cam"), ("Recording", ns, "rec"), ("Restream", ns, "out")
            ):
                past += 1
                if past == PAST_THE_RECONCILES:
                    break
            assert time.monotonic() < deadline, f"the new operator reconciled not all three:\n{restored.diagnose()}"
            time.sleep(2)
        assert encoder.running, "the publisher was never cut"
        assert target.publishing(), "the restream target still receives"

        # A chart-wide worker value (issue 39): every worker would need it, none needs it now. While
        # live, recording and pushing, each waits, and its object says which field.
        # (restartPolicy idle: the busy ingest waits as the recorder and the pusher do; its handover is
        # test_handover.py's)
        worker = {"nodeLoss": {"tolerationSeconds": WORKER_TOLERATION}, "restartPolicy": "idle"}
        restored.upgrade({**OPERATOR_ONLY, "worker": worker})
        for kind, name in (("lst", "cam"), ("rec", "rec"), ("rst", "out")):
            cluster.wait_status(kind, ns, name, restart_pending, f"{kind}/{name} RestartPending", 60)
        assert worker_pods(cluster, ns) == pods, "no worker Pod was replaced"
        assert observed(cluster, ns) == before, f"changed by the upgrade:\n{restored.diagnose()}"
        assert encoder.running and target.publishing()

        rec = cluster.stop_recording(ns, "rec", timeout=120)
        [video] = rec["status"]["videos"]  # one video across both upgrades
        assert video["upload"] == "uploaded", video

        # Idle: the ingest and the pusher are replaced with the new value, each with an Event.
        encoder.stop()
        for kind, name in (("lst", "cam"), ("rst", "out")):
            cluster.wait_status(kind, ns, name, lambda o: not restart_pending(o), f"{kind}/{name} restarted", 90)

        def replaced() -> bool:
            new = {p["metadata"]["name"]: p for p in cluster.list("pods", ns)}
            return all(
                (pod := new.get(name)) is not None
                and pod["metadata"]["uid"] != pods.get(name)
                and any(t.get("tolerationSeconds") == WORKER_TOLERATION for t in pod["spec"]["tolerations"])
                for name in ("cam-ingest", "cam-pusher")
            )

        eventually(replaced, timeout=60, interval=1, what="the ingest and the pusher replaced with the new toleration")
        said = [e["message"] for e in cluster.list("events", ns) if e.get("reason") == "WorkerReplaced"]
        assert any("primary ingest Pod cam-ingest replaced: spec.tolerations" in m for m in said), said
        assert any("pusher Pod cam-pusher replaced: spec.tolerations" in m for m in said), said
