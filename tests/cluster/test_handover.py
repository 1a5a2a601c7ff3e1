"""A live ingest handed over make-before-break (docs/design/handover.md) against the real API server
and the real operator: a spec edit the worker needs (the DVR window) while live makes a successor
Pod in the second slot, not serving; once Ready it is asked to follow; once caught up it takes the
serving label, the predecessor loses it and is asked to release; once released it is deleted, with
the Event HandedOver. A successor that fails is deleted, the predecessor keeps serving and records
why (RestartPending, reason HandoverFailed, Event HandoverFailed).

No kubelet runs here: the test sets the Pods' status, and its `FakeIngest` answers the workers'
/status and records the operator's POSTs. The tier's workers are hostNetwork Pods bound to
127.0.0.1 with the role's allocated ports, so both slots' Pods are reached at one address: the one
fake answers for both, its handover report holding the successor's `phase` and the predecessor's
`release` (the operator reads each from the Pod whose part it is).
"""

from __future__ import annotations

import json
from typing import Any

from devtools.catalog import livestream
from devtools.cluster.fake_worker import FakeWorker, container_port, running, serving
from devtools.cluster.kubectl import condition
from devtools.cluster.local_pods import set_pod_status
from devtools.waits import eventually

SERVING = "streaming.streamops.dev/serving"


class FakeIngest(FakeWorker):
    """/status from `status`, every POST's path and JSON body in `posts`."""

    def __init__(self) -> None:
        super().__init__({"live": True})
        self.posts: list[tuple[str, dict[str, Any]]] = []

    def took(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        self.posts.append((path, body))
        return 202, None

    def posted(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in list(self.posts) if p == path]


def internal_port(pod: dict[str, Any]) -> int:
    return container_port(pod, "internal")


def labelled(cluster: Any, ns: str, name: str) -> bool:
    pod = cluster.get("pods", ns, name)
    return bool(pod) and (pod["metadata"].get("labels") or {}).get(SERVING) == "true"


def edit_dvr(cluster: Any, ns: str, seconds: int) -> None:
    cluster.patch("lst", ns, "cam", {"spec": {"dvr": {"enabled": True, "durationSeconds": seconds}}})


def stream_condition(cluster: Any, ns: str, type_: str) -> dict[str, Any] | None:
    return condition(cluster.get("livestreams", ns, "cam"), type_)


def undo_dvr(cluster: Any, ns: str) -> None:
    cluster.patch("lst", ns, "cam", {"spec": {"dvr": None}})


def uid(cluster: Any, ns: str, name: str) -> str | None:
    pod = cluster.get("pods", ns, name)
    return pod["metadata"]["uid"] if pod and not pod["metadata"].get("deletionTimestamp") else None


def reconciled(cluster: Any, ns: str) -> bool:
    stream = cluster.get("livestreams", ns, "cam")
    return (stream.get("status") or {}).get("observedGeneration") == stream["metadata"]["generation"]


def test_a_handover_whose_reason_goes_away_is_cancelled_before_the_point_of_no_return_only(
    cluster, operator, namespace
):
    """Issue 56 (ci31): the reason gone (here the edit undone; a node uncordoned is the same) while
    Starting or Following cancels the successor, the predecessor never released; once the label has
    moved (MovingService, Releasing) the handover completes. A released predecessor whose successor
    is deleted goes at once: a fresh ingest, never a dead stream."""
    ns = namespace
    cluster.apply(ns, livestream("cam"))
    first = eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest Pod")
    with serving(FakeIngest(), internal_port(first)) as worker:
        running(cluster, ns, "cam-ingest")
        eventually(lambda: cluster.get("livestreams", ns, "cam")["status"].get("live"), what="live")

        # Starting (the successor not Ready): undone, the successor goes, the predecessor serves on.
        edit_dvr(cluster, ns, 60)
        eventually(lambda: cluster.get("pods", ns, "cam-ingest-b"), what="a successor")
        undo_dvr(cluster, ns)
        eventually(lambda: cluster.get("pods", ns, "cam-ingest-b") is None, what="the successor cancelled")
        [event] = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandoverCancelled"), what="the Event")
        assert (
            event["type"] == "Normal"
            and "from cam-ingest to cam-ingest-b cancelled, no longer needed" in (event["message"])
        )

        # Following: the same.
        edit_dvr(cluster, ns, 60)
        running(cluster, ns, "cam-ingest-b")
        eventually(lambda: worker.posted("/handover/follow"), what="POST /handover/follow")
        worker.status = {"live": True, "handover": {"predecessorPod": "cam-ingest", "phase": "following"}}
        undo_dvr(cluster, ns)
        eventually(lambda: cluster.get("pods", ns, "cam-ingest-b") is None, what="the following successor cancelled")
        assert uid(cluster, ns, "cam-ingest") == first["metadata"]["uid"] and labelled(cluster, ns, "cam-ingest")
        assert not worker.posted("/handover/release"), "a predecessor is never released for a cancelled handover"
        worker.status = {"live": True}

        # Releasing (the label moved): undone now, the handover completes all the same.
        edit_dvr(cluster, ns, 60)
        successor = running(cluster, ns, "cam-ingest-b")
        worker.status = {"live": True, "handover": {"predecessorPod": "cam-ingest", "phase": "caught-up"}}
        eventually(lambda: worker.posted("/handover/release"), what="POST /handover/release")
        worker.status = {"live": True, "handover": {"phase": "caught-up", "release": "releasing"}}
        undo_dvr(cluster, ns)
        eventually(lambda: reconciled(cluster, ns), what="the undo reconciled")
        assert uid(cluster, ns, "cam-ingest-b") == successor["metadata"]["uid"], "past the point: never deleted"
        worker.status = {"live": True, "handover": {"phase": "on-air", "release": "released"}}
        eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandedOver"), what="HandedOver")
        assert not cluster.events(ns, "LiveStream", "cam", "HandoverCut")

        # The successor (dvr 60) now differs from the spec: handed over again, into the first slot.
        # Its successor deleted by someone while it releases: it goes at once, a fresh ingest comes.
        worker.status = {"live": True}
        again = running(cluster, ns, "cam-ingest")
        worker.status = {"live": True, "handover": {"predecessorPod": "cam-ingest-b", "phase": "caught-up"}}
        eventually(lambda: len(worker.posted("/handover/release")) >= 2, what="the second release")
        worker.status = {"live": True, "handover": {"phase": "caught-up", "release": "released"}}
        cluster.delete("pod", ns, "cam-ingest")
        eventually(lambda: uid(cluster, ns, "cam-ingest-b") is None, what="the released predecessor deleted")
        [cut] = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandoverCut"), what="HandoverCut")
        assert cut["type"] == "Warning" and "a fresh ingest is made" in cut["message"]
        fresh = eventually(lambda: uid(cluster, ns, "cam-ingest") or uid(cluster, ns, "cam-ingest-b"), what="fresh")
        assert fresh not in (again["metadata"]["uid"], successor["metadata"]["uid"])


def test_a_handover_for_a_cordoned_node_is_cancelled_when_the_node_is_uncordoned(cluster, operator, namespace):
    """ci31's trigger, played without a kubelet: the live ingest bound to a Node that is cordoned gets a
    successor (the drain signal); uncordoned before the successor has caught up, the successor goes,
    the predecessor serves on, never released, and no WorkerReplaced is said."""
    ns = namespace
    node = f"n2-{ns}"
    cluster.core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    try:
        cluster.apply(ns, livestream("cam"))
        first = eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest Pod")
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "cam-ingest"}}
        binding["target"] = {"apiVersion": "v1", "kind": "Node", "name": node}
        cluster.core.create_namespaced_pod_binding("cam-ingest", ns, binding, _preload_content=False)
        with serving(FakeIngest(), internal_port(first)) as worker:
            set_pod_status(cluster, ns, "cam-ingest", "Running", True, ip="127.0.0.1")
            eventually(lambda: cluster.get("livestreams", ns, "cam")["status"].get("live"), what="live")
            cluster.cordon(node)
            successor = running(cluster, ns, "cam-ingest-b")
            assert successor["metadata"]["annotations"]["streaming.streamops.dev/handover-for"] == "node"
            eventually(lambda: worker.posted("/handover/follow"), what="POST /handover/follow")
            worker.status = {"live": True, "handover": {"predecessorPod": "cam-ingest", "phase": "following"}}
            cluster.cordon(node, unschedulable=False)
            eventually(lambda: cluster.get("pods", ns, "cam-ingest-b") is None, what="the successor cancelled")
            [event] = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandoverCancelled"), what="Event")
            assert f"no longer needed: node {node} is no longer cordoned; cam-ingest keeps serving" in event["message"]
            assert uid(cluster, ns, "cam-ingest") == first["metadata"]["uid"] and labelled(cluster, ns, "cam-ingest")
            assert not worker.posted("/handover/release")
            assert not cluster.events(ns, "LiveStream", "cam", "WorkerReplaced")
    finally:
        cluster.core.delete_namespaced_pod("cam-ingest", ns, grace_period_seconds=0)  # (no kubelet confirms)
        cluster.core.delete_node(node)


def test_a_live_ingest_is_handed_over_and_a_failed_successor_leaves_it_serving(cluster, operator, namespace):
    ns = namespace
    cluster.apply(ns, livestream("cam"))
    first = eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest Pod")
    assert first["metadata"]["labels"][SERVING] == "true", "a new ingest serves"
    service = eventually(lambda: cluster.get("services", ns, "cam-ingest"), what="the ingest Service")
    assert service["spec"]["selector"][SERVING] == "true"
    with serving(FakeIngest(), internal_port(first)) as worker:
        running(cluster, ns, "cam-ingest")
        eventually(lambda: cluster.get("livestreams", ns, "cam")["status"].get("live"), what="live")

        # The DVR window edited while live: a successor, not serving, the old Pod untouched.
        edit_dvr(cluster, ns, 60)
        successor = running(cluster, ns, "cam-ingest-b")
        annotations = successor["metadata"]["annotations"]
        assert annotations["streaming.streamops.dev/successor-of"] == first["metadata"]["uid"]
        assert annotations["streaming.streamops.dev/handover-for"].startswith("config.dvr")
        assert SERVING not in successor["metadata"]["labels"]
        assert json.loads(successor["spec"]["containers"][0]["env"][0]["value"])["dvr"]["durationSeconds"] == 60

        # Ready: asked to follow its predecessor's internal face.
        # (sent again every 2 s until the successor's report shows it took: the first is looked at)
        follow = eventually(lambda: worker.posted("/handover/follow"), what="POST /handover/follow")[0]
        assert follow == {"predecessorUrl": f"http://127.0.0.1:{internal_port(first)}", "predecessorPod": "cam-ingest"}
        handing = eventually(lambda: stream_condition(cluster, ns, "HandingOver"), what="HandingOver")
        assert handing["status"] == "True" and "from cam-ingest to cam-ingest-b" in handing["message"]

        # Caught up: the label moves (the successor first), the predecessor is asked to release.
        worker.status = {"live": True, "handover": {"predecessorPod": "cam-ingest", "phase": "caught-up"}}
        eventually(lambda: labelled(cluster, ns, "cam-ingest-b"), what="the successor serving")
        eventually(lambda: not labelled(cluster, ns, "cam-ingest"), what="the predecessor no longer serving")
        eventually(lambda: worker.posted("/handover/release"), what="POST /handover/release")
        assert cluster.get("pods", ns, "cam-ingest")["metadata"]["uid"] == first["metadata"]["uid"], "still there"

        # Released, the successor on air: the predecessor goes, and the Event says why.
        worker.status = {"live": True, "handover": {"phase": "on-air", "release": "released"}}
        eventually(lambda: cluster.get("pods", ns, "cam-ingest") is None, what="the predecessor deleted")
        [event] = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandedOver"), what="HandedOver")
        assert event["message"].startswith(
            "primary ingest handed over from cam-ingest to cam-ingest-b because config.dvr"
        )
        eventually(lambda: stream_condition(cluster, ns, "HandingOver") is None, what="HandingOver gone")

        # Edited again: the next successor takes the first slot, and fails.
        worker.status = {"live": True, "handover": {"phase": "failed", "error": "predecessor unreachable"}}
        edit_dvr(cluster, ns, 90)
        again = running(cluster, ns, "cam-ingest")
        assert again["metadata"]["annotations"]["streaming.streamops.dev/successor-of"] == successor["metadata"]["uid"]
        eventually(lambda: cluster.get("pods", ns, "cam-ingest") is None, what="the failed successor deleted")
        failed = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandoverFailed"), what="HandoverFailed")[0]
        assert "predecessor unreachable" in failed["message"] and "cam-ingest-b keeps running" in failed["message"]
        pending = eventually(lambda: stream_condition(cluster, ns, "RestartPending"), what="RestartPending")
        assert (pending["status"], pending["reason"]) == ("True", "HandoverFailed")
        kept = cluster.get("pods", ns, "cam-ingest-b")
        assert kept["metadata"]["uid"] == successor["metadata"]["uid"] and labelled(cluster, ns, "cam-ingest-b")
        assert "streaming.streamops.dev/handover-failed" in kept["metadata"]["annotations"]


def test_a_primary_with_a_live_backup_switches_to_it_is_replaced_and_switches_back(cluster, operator, namespace):
    """Issue 56 item 1's planned switchover: the DVR window edited while the primary and its backup are
    live. Both roles get a successor; the primary's, caught up, has its predecessor yield to the
    backup (the backup's media on air through it) before the Services move; the predecessor goes once
    the successor's own media is back on air (switched back). The backup's own handover waits meanwhile,
    then runs as usual."""
    ns = namespace
    cluster.apply(ns, livestream("cam", source={"push": {"protocols": ["rtmp"], "backup": True}}))
    first = eventually(lambda: cluster.get("pods", ns, "cam-ingest"), what="the ingest Pod")
    first_backup = eventually(lambda: cluster.get("pods", ns, "cam-ingest-backup"), what="the backup's Pod")
    with (
        serving(FakeIngest(), internal_port(first)) as primary,
        serving(FakeIngest(), internal_port(first_backup)) as backup,
    ):
        primary.status = {"live": True, "activeIngest": "primary"}
        backup.status = {"live": True, "activeIngest": "backup"}
        running(cluster, ns, "cam-ingest")
        running(cluster, ns, "cam-ingest-backup")
        eventually(
            lambda: (s := cluster.get("livestreams", ns, "cam")["status"]).get("live") and s.get("backupLive"),
            what="both live",
        )
        edit_dvr(cluster, ns, 60)
        running(cluster, ns, "cam-ingest-b")
        running(cluster, ns, "cam-ingest-backup-b")
        eventually(lambda: primary.posted("/handover/follow") and backup.posted("/handover/follow"), what="follow")

        # The primary's successor caught up: its predecessor is asked to yield; nobody's label moves yet.
        # The primary's first, then the backup's once the yield shows the primary's switchover began:
        # each role's /status is its own read, one after the other in a tick, so two set at once may be
        # seen a tick apart, and a backup seen caught up first is handed over first while the primary
        # waits for it (ci51: with this fake never saying released, RELEASE_SECONDS, 30 s). That order
        # and the one-tick tie: tests/unit/control/livestream/test_handover.py.
        caught_up = {"predecessorPod": "x", "phase": "caught-up"}
        primary.status = {"live": True, "activeIngest": "primary", "handover": caught_up}
        try:
            eventually(lambda: primary.posted("/handover/yield"), what="POST /handover/yield to the primary")
        except AssertionError as e:  # say which step each role was at, as the operator decided it
            labels = {pod: labelled(cluster, ns, pod) for pod in ("cam-ingest-b", "cam-ingest-backup-b")}
            condition = stream_condition(cluster, ns, "HandingOver")
            said = "\n".join([line for line in operator.logs().splitlines() if f"{ns}/cam: " in line][-20:])
            found = f"HandingOver: {condition}\nserving: {labels}\nthe operator said:\n{said}"
            raise AssertionError(f"{e}\n{found}\n{cluster.diagnose(ns)}") from None
        # Then the backup's caught up: it waits while the primary's switchover is under way (one
        # condition for both roles: its reason the primary's step).
        backup.status = {"live": True, "activeIngest": "backup", "handover": caught_up}
        waiting = "cam-ingest-backup-b has caught up and waits for the primary ingest's handover"
        handing = eventually(
            lambda: (
                (c := stream_condition(cluster, ns, "HandingOver"))
                and c["reason"] == "SwitchingToBackup"
                and waiting in c["message"]
                and c
            ),
            what="HandingOver: switching to the backup, the backup's successor waiting",
        )
        assert "switching to the backup ingest's media (through cam-ingest)" in handing["message"], handing
        assert not labelled(cluster, ns, "cam-ingest-b") and not labelled(cluster, ns, "cam-ingest-backup-b")

        # The backup's media on air: the primary's Services move, its predecessor releases (yielding
        # until then); the Event says it is a planned switch, not an outage.
        primary.status = {"live": True, "activeIngest": "backup", "handover": caught_up}
        eventually(lambda: labelled(cluster, ns, "cam-ingest-b"), what="the primary's successor serving")
        eventually(lambda: primary.posted("/handover/release"), what="POST /handover/release")
        [took] = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "BackupTookOver"), what="BackupTookOver")
        assert took["type"] == "Normal" and "for the primary ingest's handover" in took["message"], took
        eventually(
            lambda: "switched to the backup" in (stream_condition(cluster, ns, "HandingOver") or {}).get("message", ""),
            what="HandingOver says switched to the backup",
        )
        assert not labelled(cluster, ns, "cam-ingest-backup-b"), "the backup's handover waits"

        # Released; the successor on air with the backup's media, then its own: the predecessor goes.
        primary.status = {
            "live": True,
            "activeIngest": "backup",
            "handover": {"phase": "on-air", "release": "released"},
        }
        eventually(
            lambda: "cam-ingest is releasing" in stream_condition(cluster, ns, "HandingOver")["message"],
            what="releasing",
        )
        assert cluster.get("pods", ns, "cam-ingest") is not None, "kept until switched back"
        primary.status = {
            "live": True,
            "activeIngest": "primary",
            "handover": {"phase": "on-air", "release": "released"},
        }
        eventually(lambda: cluster.get("pods", ns, "cam-ingest") is None, what="the predecessor deleted")
        [event] = eventually(lambda: cluster.events(ns, "LiveStream", "cam", "HandedOver"), what="HandedOver")
        assert event["message"].endswith("switched to the backup, then switched back to cam-ingest-b's own media"), (
            event["message"]
        )

        # Then the backup's handover, the ordinary way.
        eventually(lambda: labelled(cluster, ns, "cam-ingest-backup-b"), what="the backup's successor serving")
        eventually(lambda: backup.posted("/handover/release"), what="POST /handover/release to the backup")
        backup.status = {"live": True, "activeIngest": "backup", "handover": {"phase": "on-air", "release": "released"}}
        eventually(lambda: cluster.get("pods", ns, "cam-ingest-backup") is None, what="the backup's predecessor gone")
        assert primary.posted("/handover/yield") and not backup.posted("/handover/yield")
