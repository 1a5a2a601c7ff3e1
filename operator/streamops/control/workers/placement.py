"""How far a stream's backup ingest is kept from its primary (pure; docs/design/handover.md):
a decision of the cluster's nodes as the node index holds them.

Two zones or more among the nodes a worker may land on: required across zones
(`topology.kubernetes.io/zone`), so that one zone's outage takes only one ingest. Else two
schedulable nodes or more: required across nodes (`kubernetes.io/hostname`). Else (one node, or the
operator does not see the nodes) preferred across nodes: a one-node cluster still runs its backup.
A cordoned node does not count: while one of two nodes is drained the backup may share the other
(required, its replacement could land nowhere)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamops.control.workers.cluster_nodes import ZONE_TOPOLOGY, schedulable, zone_of
from streamops.kube.manifests import Manifest
from streamops.kube.naming import HOSTNAME_TOPOLOGY


@dataclass(frozen=True)
class Spread:
    """The backup's anti-affinity to its primary: on `topology`, required or only preferred (`why`:
    what kept it from being required, said in an Event when the two share a node)."""

    topology: str
    required: bool
    why: str = ""


UNSEEN = Spread(HOSTNAME_TOPOLOGY, False, "the operator does not see the cluster's nodes")


def spread(nodes: Sequence[Manifest] | None) -> Spread:
    """The decision for the nodes as observed (None: not watched)."""
    if nodes is None:
        return UNSEEN
    usable = [n for n in nodes if schedulable(n)]
    zones = {zone_of(n) for n in usable} - {""}
    if len(zones) >= 2:
        return Spread(ZONE_TOPOLOGY, True)
    if len(usable) >= 2:
        return Spread(HOSTNAME_TOPOLOGY, True)
    count = "no schedulable node" if not usable else "one schedulable node"
    return Spread(HOSTNAME_TOPOLOGY, False, f"the cluster has {count} (of {len(nodes)})")
