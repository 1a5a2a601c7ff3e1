"""What the operator's in-memory indexes hold (kopf keeps them from its watches): small frozen
facts per object instead of whole bodies. Pure functions of one object's body."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from streamops.api import GROUP
from streamops.api.broadcast import stream_names
from streamops.api.common import spec_client_annotations
from streamops.contract.ingest import PLAYER_PAGE
from streamops.control.workers.endpoint_slices import EndpointSliceIndex
from streamops.control.workers.pod_observation import PodObservation
from streamops.kube.manifests import Body, Manifest, ObjectIndex, plain
from streamops.kube.naming import COMPONENT_LABEL, MANAGED_ANNOTATIONS_ANNOTATION, STREAM_NAME_ANNOTATION

PodKey = tuple[str, str, str, str]  # namespace, owner kind, owner name, component
ObjectRef = tuple[str, str]  # namespace, name
SetKey = tuple[str, str, str]  # a quality set: kind (QualitySet, ClusterQualitySet), namespace ("": cluster), name


@dataclass(frozen=True)
class StreamFacts:
    uid: str
    live: bool
    backup_live: bool
    active_ingest: str | None = None  # status.activeIngest: whose media the primary serves
    recording_quota_bytes: int | None = None  # spec.recording.quotaBytes: its Recordings' byte limit
    # spec.clientUserId / clientEntityData as Event annotations: its Recordings' (and Clips') Events carry them.
    client_annotations: tuple[tuple[str, str], ...] = ()
    player_url: str | None = None  # status.playback.playerUrl: a Broadcast's page sits beside it
    hls_url: str | None = None  # status.playback.hlsCmafUrl, else hlsMpegtsUrl: what a Broadcast's page plays
    signed: bool = False  # spec.playback.access is signed: a Broadcast's page needs its token
    # status's HandingOver condition is True: an ingest of the stream is being handed over (its feed
    # moves to the successor with it), so its pusher's own handover waits (restream/handover.py).
    handing_over: bool = False

    @property
    def playback_base(self) -> str | None:
        """Where its playback URLs start: the player page's URL without /player (None: none yet)."""
        if not self.player_url or not self.player_url.endswith(PLAYER_PAGE):
            return None
        return self.player_url[: -len(PLAYER_PAGE)]


@dataclass(frozen=True)
class BroadcastFacts:
    """A Broadcast as the streams it names see it (their pages serve it): its spec's words and its status."""

    name: str
    title: str
    message: str  # spec.pendingMessage
    phase: str  # status.phase (Pending until the operator wrote one)
    on_air: str | None
    members: tuple[str, ...]  # spec.streams, in order


@dataclass(frozen=True)
class RecordingIndexFacts:
    name: str
    recording: bool
    duration: float | None
    auto: bool
    stored_bytes: int = 0  # status.storedBytes: what the quotas count


@dataclass(frozen=True)
class ClipIndexFacts:
    name: str
    stored_bytes: int = 0  # its video's size while stored (not once expired): what the quotas count


StoredFacts = RecordingIndexFacts | ClipIndexFacts  # what the quotas add up (storage_quota.py)

# kopf indexes: a mapping of key to the values of every object filed under it.
PodIndex = Mapping[PodKey, Iterable[PodObservation]]  # worker Pods by owner and component
StreamIndex = Mapping[ObjectRef, Iterable[StreamFacts]]  # LiveStreams by (namespace, name)
RecordingIndex = Mapping[ObjectRef, Iterable[RecordingIndexFacts]]  # Recordings by (namespace, stream)
ClipIndex = Mapping[ObjectRef, Iterable[ClipIndexFacts]]  # Clips by (namespace, stream)
StoredIndex = Mapping[ObjectRef, Iterable[StoredFacts]]
QualitySetUsers = Mapping[SetKey, Iterable[ObjectRef]]  # the LiveStreams that name each quality set
BroadcastIndex = Mapping[ObjectRef, Iterable[BroadcastFacts]]  # Broadcasts by (namespace, stream) they name


@dataclass(frozen=True)
class Indexes:
    """What the status loops read from kopf's indexes (handlers.py names them)."""

    pods: PodIndex
    streams: StreamIndex
    recordings: RecordingIndex
    clips: ClipIndex = field(default_factory=dict)
    endpoints: EndpointSliceIndex = field(default_factory=dict)  # ingest Services' EndpointSlices
    quality_set_users: QualitySetUsers = field(default_factory=dict)
    broadcasts: BroadcastIndex = field(default_factory=dict)
    playback_policy_users: QualitySetUsers = field(default_factory=dict)  # keyed (PlaybackPolicy, namespace, name)


@dataclass(frozen=True)
class ChildIndexes:
    """What the reconcilers read from kopf's indexes instead of the API server (KubeApi.watched)."""

    pods: ObjectIndex
    services: ObjectIndex
    streams: ObjectIndex
    quality_sets: ObjectIndex = field(default_factory=dict)
    cluster_quality_sets: ObjectIndex = field(default_factory=dict)  # keyed ("", name)
    playback_policies: ObjectIndex = field(default_factory=dict)
    nodes: ObjectIndex | None = None  # keyed ("", name): workers/cluster_nodes.py (None: not watched)
    budgets: ObjectIndex | None = None  # the ingests' PodDisruptionBudgets (None: not watched)
    restreams: ObjectIndex | None = None  # Restreams keyed by (namespace, stream) (None: not watched)


K = TypeVar("K")
V = TypeVar("V")


def index_values(index: Mapping[K, Iterable[V]], key: K) -> list[V]:
    return list(index[key]) if key in index else []


def indexed_stream(streams: StreamIndex, namespace: str, name: str) -> StreamFacts | None:
    """The facts of the LiveStream `name` of the namespace (None: no such stream)."""
    return next(iter(index_values(streams, (namespace, name))), None)


def worker_pod(pods: PodIndex, namespace: str, kind: str, owner: str, component: str) -> PodObservation | None:
    """The worker Pod of an object with this component (e.g. a stream's "ingest")."""
    found = index_values(pods, (namespace, kind, owner, component))
    return found[0] if found else None


def controller_of(meta: Body) -> Body | None:
    for ref in meta.get("ownerReferences") or []:
        if (
            isinstance(ref, Mapping)
            and ref.get("controller")
            and str(ref.get("apiVersion", "")).startswith(GROUP + "/")
        ):
            return ref
    return None


def shared_stream_of(meta: Body) -> str | None:
    """The stream of a worker Pod that several objects own and none controls (a stream's shared
    pusher, owned by its Restreams: docs/design/shared-pusher.md)."""
    if controller_of(meta) is not None or not meta.get("ownerReferences"):
        return None
    stream = (meta.get("annotations") or {}).get(STREAM_NAME_ANNOTATION)
    return str(stream) if stream else None


def worker_pod_entry(body: Body) -> dict[PodKey, PodObservation]:
    """Under its controller; a shared Pod under its stream (kind LiveStream)."""
    meta = body.get("metadata") or {}
    owner = controller_of(meta)
    component = (meta.get("labels") or {}).get(COMPONENT_LABEL, "")
    if owner is None:
        stream = shared_stream_of(meta)
        if stream is None:
            return {}
        return {(meta.get("namespace") or "", "LiveStream", stream, component): PodObservation.of(meta["name"], body)}
    key = (meta.get("namespace") or "", str(owner.get("kind")), str(owner.get("name")), component)
    return {key: PodObservation.of(meta.get("name") or "", body)}


def pod_entry(body: Body) -> dict[ObjectRef | PodKey, Manifest | PodObservation]:
    """A worker Pod in the operator's one pod index, under two keys: (namespace, name), its trimmed
    manifest (the reconcilers' reads, `child_entry`); (namespace, owner kind, owner, component), its
    PodObservation (the status loops', `worker_pod_entry`). A key's length says which: one kopf
    index, handler call and set of kopf's per-object records per Pod instead of two."""
    entry: dict[ObjectRef | PodKey, Manifest | PodObservation] = {}
    for name, manifest in child_entry(body).items():
        entry[name] = manifest
    for owner, observed in worker_pod_entry(body).items():
        entry[owner] = observed
    return entry


def stream_entry(body: Body) -> dict[ObjectRef, StreamFacts]:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    quota = ((body.get("spec") or {}).get("recording") or {}).get("quotaBytes")
    found = status.get("playback")
    playback: Mapping[str, object] = found if isinstance(found, Mapping) else {}
    spec_playback = (body.get("spec") or {}).get("playback")
    facts = StreamFacts(
        uid=meta.get("uid") or "",
        live=bool(status.get("live")),
        backup_live=bool(status.get("backupLive")),
        active_ingest=status.get("activeIngest") or None,
        recording_quota_bytes=quota if isinstance(quota, int) and quota > 0 else None,
        client_annotations=tuple(sorted(spec_client_annotations(body.get("spec")).items())),
        player_url=_text(playback.get("playerUrl")),
        hls_url=_text(playback.get("hlsCmafUrl")) or _text(playback.get("hlsMpegtsUrl")),
        signed=(spec_playback.get("access") if isinstance(spec_playback, Mapping) else None) == "signed",
        handing_over=any(
            isinstance(c, Mapping) and c.get("type") == "HandingOver" and c.get("status") == "True"
            for c in status.get("conditions") or ()
        ),
    )
    return {(meta.get("namespace") or "", meta.get("name") or ""): facts}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def broadcast_entry(body: Body) -> dict[ObjectRef, BroadcastFacts]:
    """The Broadcast filed under each stream it names (a stream's page serves each of its broadcasts)."""
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    members = stream_names(spec)
    facts = BroadcastFacts(
        name=meta.get("name") or "",
        title=_text(spec.get("title")) or "",
        message=_text(spec.get("pendingMessage")) or "",
        phase=_text(status.get("phase")) or "Pending",
        on_air=_text(status.get("onAir")),
        members=members,
    )
    return {(meta.get("namespace") or "", member): facts for member in members}


def recording_entry(body: Body) -> dict[ObjectRef, RecordingIndexFacts]:
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    stream = ((body.get("spec") or {}).get("streamRef") or {}).get("name") or ""
    owner = controller_of(meta)
    duration, stored = status.get("duration"), status.get("storedBytes")
    facts = RecordingIndexFacts(
        name=meta.get("name") or "",
        recording=bool(status.get("recording")),
        duration=float(duration) if isinstance(duration, int | float) else None,
        auto=bool(owner and owner.get("kind") == "LiveStream"),
        stored_bytes=stored if isinstance(stored, int) and stored > 0 else 0,
    )
    return {(meta.get("namespace") or "", stream): facts}


def clip_entry(body: Body) -> dict[ObjectRef, ClipIndexFacts]:
    """A Clip's stored bytes: its video's size (a clip has no other renditions) until the video
    expires; nothing while it is being cut (its scratch copy is transient, as a recording's parts
    are not counted either until the recorder reports them)."""
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    stream = ((body.get("spec") or {}).get("streamRef") or {}).get("name") or ""
    stored = 0
    for video in status.get("videos") or []:
        size = video.get("sizeBytes") if isinstance(video, Mapping) else None
        if isinstance(size, int) and size > 0 and not video.get("expiredAt"):
            stored += size
    return {(meta.get("namespace") or "", stream): ClipIndexFacts(name=meta.get("name") or "", stored_bytes=stored)}


def child_entry(body: Body) -> dict[ObjectRef, Manifest]:
    """A worker Pod or ingest Service as the reconcilers read it (children.py, ports.py): identity,
    owners, labels, our own annotations, a Service's spec, a Pod's phase. Not the Pod spec, the
    managed fields or others' annotations, which are most of a body."""
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    try:  # the annotations the operator set (a Service's user-given ones too), to compare with
        managed = set(json.loads(annotations.get(MANAGED_ANNOTATIONS_ANNOTATION) or "[]"))
    except (TypeError, ValueError):
        managed = set()
    trimmed: Manifest = {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "labels": plain(meta.get("labels") or {}),
            "annotations": plain({k: v for k, v in annotations.items() if k.startswith(GROUP + "/") or k in managed}),
            "ownerReferences": plain(meta.get("ownerReferences") or []),
        }
    }
    if meta.get("deletionTimestamp"):
        trimmed["metadata"]["deletionTimestamp"] = meta["deletionTimestamp"]
    if body.get("kind") == "Service":
        trimmed["spec"] = plain(body.get("spec") or {})
        # A LoadBalancer's address (its controller writes it): status.ingest shows it.
        trimmed["status"] = {"loadBalancer": plain((body.get("status") or {}).get("loadBalancer") or {})}
    else:
        trimmed["status"] = {"phase": (body.get("status") or {}).get("phase")}
        if body.get("kind") == "Pod":  # where it runs: a cordoned node moves it (workers/drain.py)
            trimmed["spec"] = {"nodeName": (body.get("spec") or {}).get("nodeName")}
    return {(meta.get("namespace") or "", meta.get("name") or ""): trimmed}


def stream_object_entry(body: Body) -> dict[ObjectRef, Manifest]:
    """A LiveStream as Recordings and Restreams read it (its spec and identity, not its status); a
    QualitySet or ClusterQualitySet (namespace "") as the streams that name it read it."""
    meta = body.get("metadata") or {}
    trimmed = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: plain(meta[k]) for k in ("name", "namespace", "uid", "generation", "labels") if k in meta},
        "spec": plain(body.get("spec") or {}),
    }
    return {(meta.get("namespace") or "", meta.get("name") or ""): trimmed}


def stream_child_entry(body: Body) -> dict[ObjectRef, Manifest]:
    """A Restream filed under the stream it names (spec.streamRef), as its siblings' reconciles read
    it: its spec and identity, deletionTimestamp included (a stream's targets without it)."""
    meta = body.get("metadata") or {}
    keep = ("name", "namespace", "uid", "generation", "labels", "deletionTimestamp")
    trimmed = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: plain(meta[k]) for k in keep if k in meta},
        "spec": plain(body.get("spec") or {}),
    }
    stream = ((body.get("spec") or {}).get("streamRef") or {}).get("name") or ""
    return {(meta.get("namespace") or "", stream): trimmed}


def playback_policy_user_entry(body: Body) -> dict[SetKey, ObjectRef]:
    """A LiveStream filed under the PlaybackPolicy it names (nothing when it names none): the streams to
    reconcile when a policy changes, and the count in a policy's status."""
    meta = body.get("metadata") or {}
    name = (((body.get("spec") or {}).get("playback") or {}).get("policyRef") or {}).get("name")
    if not isinstance(name, str) or not name:
        return {}
    namespace = meta.get("namespace") or ""
    return {("PlaybackPolicy", namespace, name): (namespace, meta.get("name") or "")}


def quality_set_user_entry(body: Body) -> dict[SetKey, ObjectRef]:
    """A LiveStream filed under the quality set it names (nothing when it names none): the streams
    to reconcile when a set changes, and the count in a set's status."""
    meta = body.get("metadata") or {}
    ref = ((body.get("spec") or {}).get("transcoding") or {}).get("qualitySetRef") or {}
    name, kind = ref.get("name"), ref.get("kind") or "QualitySet"
    if not isinstance(name, str) or not name:
        return {}
    namespace = meta.get("namespace") or ""
    return {(kind, namespace if kind == "QualitySet" else "", name): (namespace, meta.get("name") or "")}
