"""Which node events matter to the streams (docs/design/handover.md): a node cordoned or
uncordoned (the ingest, pusher and recorder Pods on it move, or stop waiting to), and a change of
what placement looks at (a node that comes, goes, changes zone or schedulability: the backups'
spread may change). Everything else a node's watch brings (its status, its images) is nothing to
them. Pure but for its memory of what each node was."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from streamops.control.workers.cluster_nodes import cordoned, node_entry, schedulable, zone_of
from streamops.control.workers.ingest_address import ingest_component
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Body

STREAM_KIND = "LiveStream"


@dataclass(frozen=True)
class NodeChange:
    node: str
    cordon: bool = False  # it was cordoned or uncordoned: the ingest Pods on it reconcile
    placement: bool = False  # the backups' spread may differ: streams with a backup reconcile


@dataclass
class NodeMemory:
    """What each node was at its last event: (cordoned, schedulable, zone)."""

    seen: dict[str, tuple[bool, bool, str]] = field(default_factory=dict)

    def observe(self, type_: str | None, body: Body) -> NodeChange:
        [((_, name), node)] = node_entry(body).items()
        before = self.seen.get(name)
        if type_ == "DELETED":
            self.seen.pop(name, None)
            return NodeChange(name, placement=before is not None)
        now = (cordoned(node), schedulable(node), zone_of(node))
        self.seen[name] = now
        if before is None:
            # A node the operator sees for the first time: new to the cluster, or the operator
            # (re)started, when every stream reconciles anyway.
            return NodeChange(name, cordon=now[0], placement=True)
        return NodeChange(name, cordon=before[0] != now[0], placement=before[1:] != now[1:])


def streams_to_reconcile(
    change: NodeChange, pods: Mapping[tuple[str, str, str, str], Iterable[PodObservation]]
) -> set[tuple[str, str]]:
    """(namespace, name) of the LiveStreams to reconcile for `change`, from the operator's pod index
    (its (namespace, owner kind, owner, component) keys; the same index files Pods by name too, under
    two-part keys): those with an ingest on a node cordoned or uncordoned, and with a placement change
    those with a backup."""
    if not (change.cordon or change.placement):
        return set()
    backup, found = ingest_component("backup"), set()
    for key in list(pods):
        if len(key) != 4 or key[1] != STREAM_KIND or not key[3].startswith("ingest"):
            continue
        on_node = change.cordon and any(p.node == change.node for p in pods[key])
        if on_node or (change.placement and key[3] == backup):
            found.add((key[0], key[2]))
    return found


MOVER_COMPONENTS = {("LiveStream", "pusher"), ("Recording", "recorder")}  # as the pod index files them


def movers_to_reconcile(
    change: NodeChange, pods: Mapping[tuple[str, str, str, str], Iterable[PodObservation]]
) -> set[tuple[str, str, str]]:
    """(owner kind, namespace, name) as the pod index files the pushers and recorders on a node
    cordoned or uncordoned: a stream's shared pusher under its LiveStream (its Restreams reconcile),
    a recorder under its Recording. They move by a handover too (docs/design/handover.md, Part 5)."""
    if not change.cordon:
        return set()
    return {
        (key[1], key[0], key[2])
        for key in list(pods)
        if len(key) == 4 and (key[1], key[3]) in MOVER_COMPONENTS and any(p.node == change.node for p in pods[key])
    }
