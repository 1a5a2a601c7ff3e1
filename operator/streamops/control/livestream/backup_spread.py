"""Where a stream's backup ingest runs when its placement could only be preferred (pure;
docs/design/handover.md): on a cluster with one schedulable node the backup may share its
primary's node, and a Warning Event says so, once per backup Pod. With a required spread the scheduler
never puts them together: nothing is said."""

from __future__ import annotations

from collections.abc import Mapping

from streamops.contract.ingest import Role
from streamops.control.runtime.decisions import PostEvent
from streamops.control.workers.pod_observation import PodObservation

BACKUP_SHARES_NODE = "BackupSharesNode"


def shared_node_event(
    pods: Mapping[Role, PodObservation], why: str | None, said: str | None
) -> tuple[list[PostEvent], str | None]:
    """The Event (none or one) and the backup Pod uid it was said for. `why`: what kept the spread from
    being required (None: required, or no backup runs); `said`: the uid it was said for before."""
    primary, backup = pods.get("primary"), pods.get("backup")
    if why is None or primary is None or backup is None or not backup.node or backup.node != primary.node:
        return [], said
    if backup.uid == said:
        return [], said
    message = (
        f"backup ingest Pod {backup.name} runs on node {backup.node} with its primary {primary.name}: the spread "
        f"from it could only be preferred ({why}); one node lost takes both"
    )
    return [PostEvent("Warning", BACKUP_SHARES_NODE, message)], backup.uid
