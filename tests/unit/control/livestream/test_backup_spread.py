"""The Event that says a backup shares its primary's node (livestream/backup_spread.py)."""

from __future__ import annotations

from streamops.control.livestream.backup_spread import BACKUP_SHARES_NODE, shared_node_event
from streamops.control.workers.pod_observation import PodObservation

WHY = "the cluster has one schedulable node (of 1)"


def pods(primary: str, backup: str, uid: str = "b1") -> dict[str, PodObservation]:
    return {
        "primary": PodObservation("cam-ingest", exists=True, uid="p1", node=primary),
        "backup": PodObservation("cam-ingest-backup", exists=True, uid=uid, node=backup),
    }


def test_said_once_per_backup_pod_when_they_share_a_node_and_only_preferred() -> None:
    [event], said = shared_node_event(pods("w1", "w1"), WHY, None)
    assert (event.type, event.reason, said) == ("Warning", BACKUP_SHARES_NODE, "b1")
    assert "runs on node w1 with its primary cam-ingest" in event.message and WHY in event.message
    assert shared_node_event(pods("w1", "w1"), WHY, said) == ([], "b1"), "once"
    assert shared_node_event(pods("w1", "w1", uid="b2"), WHY, said)[1] == "b2", "a new backup Pod: again"


def test_nothing_said_apart_required_or_unscheduled() -> None:
    assert shared_node_event(pods("w1", "w2"), WHY, None) == ([], None)
    assert shared_node_event(pods("w1", "w1"), None, None) == ([], None), "required: the scheduler keeps them apart"
    assert shared_node_event(pods("w1", ""), WHY, None) == ([], None)
    assert shared_node_event({"primary": pods("w1", "w1")["primary"]}, WHY, None) == ([], None)
