"""kopf wiring. Handlers are thin: each object has one status loop (an asyncio task its own watch
events start and stop, runtime/object_tasks.py; each kind's loop.py) that reconciles it and writes
its status; watch events only wake that loop.

Reconciling is level-based: the loop reconciles when the object is new to it (created, or the
operator restarted), when its spec changed (metadata.generation), when one of its Pods or its
playback route went away, and every resync period. Every trigger runs the same idempotent
reconcile, so a missed or duplicated event, or an operator restart, changes nothing observable.
There are no kopf create/update/delete handlers and no kopf daemons, so kopf writes nothing on
the objects: no diff-base or progress annotations and no finalizer (object_tasks.py says why none
is needed).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

import kopf

from streamops.api import (
    BROADCAST,
    CLIP,
    CLUSTER_QUALITY_SET,
    GROUP,
    LIVESTREAM,
    QUALITY_SET,
    RECORDING,
    RESTREAM,
    STREAM_WEBHOOK,
    VERSION,
)
from streamops.api.kinds import PLAYBACK_POLICY
from streamops.control.edge.tasks import EdgeLoops
from streamops.control.kinds import BY_NAME, KINDS, ControlledKind
from streamops.control.livestream.route_events import playback_route_wake
from streamops.control.qualityset.default_set import ensure_default_quality_set
from streamops.control.runtime.discovery_rescan import kopf_discovery_rescans
from streamops.control.runtime.indexes import (
    BroadcastIndex,
    ChildIndexes,
    ClipIndex,
    Indexes,
    PodIndex,
    QualitySetUsers,
    RecordingIndex,
    StreamIndex,
    broadcast_entry,
    child_entry,
    clip_entry,
    controller_of,
    index_values,
    playback_policy_user_entry,
    pod_entry,
    quality_set_user_entry,
    recording_entry,
    shared_stream_of,
    stream_child_entry,
    stream_entry,
    stream_object_entry,
)
from streamops.control.runtime.object_loop import SELECTOR
from streamops.control.runtime.object_tasks import LiveObject, ObjectTasks
from streamops.control.runtime.state import ObjectKey, OperatorState
from streamops.control.shared.settings import OperatorSettings
from streamops.control.storage.recorder_pod import RECORDER_COMPONENT
from streamops.control.webhook.notifier import Notifier, webhook_session
from streamops.control.workers.cluster_nodes import node_entry
from streamops.control.workers.endpoint_slices import SERVICE_NAME_LABEL, EndpointSliceIndex, endpoint_slice_entry
from streamops.control.workers.node_changes import NodeMemory, movers_to_reconcile, streams_to_reconcile
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.worker_client import http_client
from streamops.kube.client import KubeApi, api_connection_limit, kopf_session, watched_object
from streamops.kube.client import login as kube_login
from streamops.kube.manifests import ObjectIndex
from streamops.kube.naming import (
    ADOPTED_ANNOTATION,
    COMPONENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    STREAM_NAME_ANNOTATION,
)

# A stream's playback route: an Ingress, or an HTTPRoute. Where the Gateway API is not served, kopf
# warns that it cannot watch httproutes (once: OnceEach), and watches them as soon as their CRD
# appears (it watches CRDs; runtime/discovery_rescan.py when discovery lags the CRD's events).
ROUTES = (("networking.k8s.io", "ingresses"), ("gateway.networking.k8s.io", "httproutes"))
ENDPOINT_SLICES = ("discovery.k8s.io", "endpointslices")  # the ingest Services' (endpoint_slices.py)
UNRESOLVED = "Unresolved resources cannot be served"  # kopf's warning (kopf._core.reactor.observation)
FINALIZER = f"{GROUP}/finalizer"  # what earlier versions put on every object: kopf removes it
SETTINGS = OperatorSettings.from_env()
IDLE_WORKER_SECONDS = 0.5  # docs/design/operator-scale.md
log = logging.getLogger("streamops.operator")


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf deep-copies every object on every watch event to diff it for create/update handlers
    (≈10 % of the operator's CPU in a burst of new objects). The operator has none: its loops
    reconcile by metadata.generation. So there is nothing to build, keep or compare."""

    def build(self, *, body: kopf.Body, extra_fields: object = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


class OnceEach(logging.Filter):
    """kopf repeats its UNRESOLVED warning on every event of every CRD in the cluster for as long as
    a resource it has handlers for is not served: 35 times while the Gateway API's CRDs were being
    applied, and forever where something keeps patching CRDs. Each distinct message passes once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(UNRESOLVED):
            return True
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: object) -> None:
    # Our own annotation prefix: no kopf.zalando.org leftovers on user objects, and nothing of
    # kopf's in status (status is written only by the status loops). No handler needs a finalizer;
    # naming the one earlier versions put on objects makes kopf remove it (once per object).
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = NoDiffBase()
    # Watches end server-side before the client gives up, so a silent connection never stalls us.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    # An object's kopf worker waits this long for its next event before it ends, holding the last
    # one's decoded body (5 s by default; a Pod's is ≈35 KB): in a burst, hundreds of them.
    settings.queueing.idle_timeout = IDLE_WORKER_SECONDS
    # Only our playback routes and our Services' EndpointSlices cross the wire (a handler's label
    # filter is applied client-side; the EndpointSlice controller copies a Service's labels onto its
    # slices, so the cluster's other slices, which change with every Pod of every Service, do not).
    for group, plural in (*ROUTES, ENDPOINT_SLICES):
        settings.watching.label_selectors[group, plural] = SELECTOR
    logging.getLogger("kopf._core.reactor.observation").addFilter(OnceEach())  # (startup runs before it)
    # Events on user objects are ours (transitions); kopf's own only when something failed.
    settings.posting.level = logging.WARNING
    # No kopf peering: replicas elect a leader on a Lease (runtime/leader_election.py).
    settings.peering.standalone = True
    settings.execution.max_workers = 1  # every handler is async; API calls go to state.executor
    state = OperatorState(api=KubeApi.from_environment(), settings=SETTINGS, client=http_client())
    if SETTINGS.worker.host_network:
        state.allocator = PortAllocator(SETTINGS.worker.ports)
        state.seed_ports(SELECTOR)
    memo.state = state
    memo.tasks = ObjectTasks()
    memo.edges = EdgeLoops(state)  # one per namespace whose streams want the edge (control/edge/)
    memo.nodes = NodeMemory()  # what each node was: its events that matter to the streams (node_event)
    memo.notifier = Notifier(state, webhook_session())
    memo.sweeper = asyncio.get_running_loop().create_task(sweep_vanished(state, memo.tasks), name="sweep")
    if memo.get("insights") is not None:  # (given by cli/operator.py: kopf's own is not reachable)
        rescans = kopf_discovery_rescans(settings, kopf.get_default_registry(), memo.insights, ROUTES)
        memo.rescans = asyncio.get_running_loop().create_task(rescans.run(), name="discovery rescans")
    await keep_default_quality_set(state)


async def keep_default_quality_set(state: OperatorState) -> None:
    """The chart's default ClusterQualitySet, created when missing (qualityset/default_set.py). A
    failure (its CRD not installed yet, the API unreachable) is logged: streams do not need it to run."""
    wanted = state.settings.default_quality_set
    try:
        if wanted is not None and await state.call(ensure_default_quality_set, state.api, state.settings):
            log.info("created the default ClusterQualitySet %s", wanted.name)
    except Exception as e:
        log.warning("could not create the default ClusterQualitySet: %s", e)


async def sweep_vanished(state: OperatorState, tasks: ObjectTasks) -> None:
    """Every resync period: the loops of objects that no listing has any more are stopped. (A watch
    kopf lists again after a 410 Gone brings no DELETED event for what was deleted meanwhile; a
    loop left running would recreate the children the garbage collector removes.) One request per
    kind and namespace with loops, object metadata only."""
    while True:
        await asyncio.sleep(state.settings.telemetry.resync_seconds)
        for kind in KINDS:
            for namespace in sorted(tasks.namespaces(kind.api.kind)):
                asked = time.monotonic()
                try:
                    listed = await state.call(state.api.custom_uids, kind.api, namespace)
                except Exception as e:  # the API is unreachable: next period
                    log.warning("listing %s in %s failed: %s", kind.api.plural, namespace, e)
                    continue
                for uid in tasks.stale(kind.api.kind, namespace, listed, asked):
                    log.info("%s %s (uid) is gone, no DELETED event came: its loop stops", kind.api.kind, uid)
                    tasks.stop(uid)


@kopf.on.login()
async def login(memo: kopf.Memo, **_: object) -> kopf.AiohttpSession:
    return kopf_session(kube_login(), api_connection_limit(memo.get("namespaces") or ()))


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: object) -> None:
    if memo.get("stop_flag") is not None:  # stopped by a signal: kopf's waiter of the flag ends too
        memo.stop_flag.set()
    for task in ("sweeper", "rescans"):
        if memo.get(task) is not None:
            memo[task].cancel()
    if memo.get("tasks") is not None:
        await memo.tasks.close()
    if memo.get("edges") is not None:
        await memo.edges.close()
    if memo.get("notifier") is not None:
        await memo.notifier.close()
    if memo.get("state") is not None:
        memo.state.executor.shutdown(wait=False, cancel_futures=True)
        memo.state.status_executor.shutdown(wait=False, cancel_futures=True)
        if memo.state.client is not None:
            await memo.state.client.close()


# --- indexes (kopf fills them from its watches before any handler runs) -------------------------


@dataclass(frozen=True)
class IndexedResource:
    """One kopf index: `name` is its id and the keyword argument handlers get it by; `resource` what it
    watches (kopf.index's positional arguments); `entry` what it files of each object; `objects`
    which of them: every one, those streamops manages, or its worker Pods' (those with a component)."""

    name: str
    resource: tuple[str, ...]
    entry: Callable[[kopf.Body], object]
    objects: Literal["all", "managed", "components"] = "all"


STREAMS = (GROUP, VERSION, LIVESTREAM.plural)
INDEXES = (
    # One index of worker Pods for the loops (by owner and component) and the reconcilers (by name).
    IndexedResource("worker_pods", ("v1", "pods"), pod_entry, "components"),
    IndexedResource("service_objects", ("v1", "services"), child_entry, "managed"),
    IndexedResource(
        "ingest_endpoint_slices", ("discovery.k8s.io", "v1", "endpointslices"), endpoint_slice_entry, "components"
    ),
    IndexedResource("stream_objects", STREAMS, stream_object_entry),
    IndexedResource("streams", STREAMS, stream_entry),
    IndexedResource("recordings", (GROUP, VERSION, RECORDING.plural), recording_entry),
    IndexedResource("clips", (GROUP, VERSION, CLIP.plural), clip_entry),
    # Quality sets as the streams that name them read them (a stream's ladder), and the streams by the
    # set they name: a set's spec change reconciles exactly those.
    IndexedResource("quality_set_objects", (GROUP, VERSION, QUALITY_SET.plural), stream_object_entry),
    IndexedResource("cluster_quality_set_objects", (GROUP, VERSION, CLUSTER_QUALITY_SET.plural), stream_object_entry),
    IndexedResource("quality_set_users", STREAMS, quality_set_user_entry),
    # Likewise PlaybackPolicies and the streams by the policy they name (their rules files).
    IndexedResource("playback_policy_objects", (GROUP, VERSION, PLAYBACK_POLICY.plural), stream_object_entry),
    IndexedResource("playback_policy_users", STREAMS, playback_policy_user_entry),
    # Broadcasts by the streams they name: each stream's pages serve its broadcasts (player_settings.py).
    IndexedResource("broadcasts", (GROUP, VERSION, BROADCAST.plural), broadcast_entry),
    # The cluster's nodes, trimmed: the backups' spread and the drain signal (docs/design/handover.md).
    IndexedResource("nodes", ("v1", "nodes"), node_entry),
    # The ingests' PodDisruptionBudgets (restart policy handover), as the reconcilers read them.
    IndexedResource("disruption_budgets", ("policy", "v1", "poddisruptionbudgets"), child_entry, "managed"),
    # Restreams by the stream they name: each reconcile reads its siblings' targets from here, not
    # by a LIST of the namespace (N streams' Restreams reconciling were N² objects decoded).
    IndexedResource("stream_restreams", (GROUP, VERSION, RESTREAM.plural), stream_child_entry),
)


def _indexer(entry: Callable[[kopf.Body], object]) -> Callable[..., Awaitable[object]]:
    async def index(body: kopf.Body, **_: object) -> object:
        return entry(body)

    return index


for _index in INDEXES:
    # (The label filters are written out here: kopf's filter type is not public.)
    kopf.index(
        *_index.resource,
        id=_index.name,
        labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: kopf.PRESENT}
        if _index.objects == "components"
        else {MANAGED_BY_LABEL: MANAGED_BY}
        if _index.objects == "managed"
        else None,
    )(_indexer(_index.entry))


# --- wake-ups (every watch event of an object, of its worker Pods or of its route) -----------


def _key(kind: ControlledKind, body: kopf.Body) -> ObjectKey:
    return (kind.api.kind, body.metadata.namespace or "", body.metadata.name or "")


async def _object_event(
    kind: ControlledKind, type: str, body: kopf.Body, state: OperatorState, users: QualitySetUsers
) -> None:
    """The object's own loop; a stream's Recordings and Restreams (they show whether it is live);
    a Recording's stream (whose status shows `recording`, `recordingDuration`). A Recording that
    went away makes its stream reconcile, as a worker Pod does its owner: a stopped `<stream>-auto`
    held by its finalizer is replaced as soon as it is gone, not at the next resync (120 s). A
    quality set's spec change (or its coming or going, not its status writes) reconciles the streams
    that name it and their followers (a transcoded recording keeps the ladder's renditions); a
    stream wakes the set it names (its status counts the streams)."""
    key = _key(kind, body)
    state.wake(key)
    namespace = body.metadata.namespace or ""
    if kind.wakes_followers:
        state.wake_followers(namespace, body.metadata.name or "")
    if kind.wakes_stream:
        stream = (body.spec.get("streamRef") or {}).get("name")
        if stream:
            state.wake((LIVESTREAM.kind, namespace, stream), reconcile=type == "DELETED")
    if kind.wakes_siblings and state.spec_changed(key, body.metadata.get("generation"), gone=type == "DELETED"):
        # A Restream came, changed or went: the stream's others plan the shared pusher's set again.
        stream = (body.spec.get("streamRef") or {}).get("name")
        if stream:
            state.wake_followers(namespace, stream, reconcile=True, kind=kind.api.kind)
    if kind.wakes_users and state.spec_changed(key, body.metadata.get("generation"), gone=type == "DELETED"):
        for stream_namespace, stream in set(index_values(users, (kind.api.kind, key[1], key[2]))):
            state.wake((LIVESTREAM.kind, stream_namespace, stream), reconcile=True)
            state.wake_followers(stream_namespace, stream, reconcile=True)
    if kind.api is BROADCAST:  # its streams' pages serve it: they are sent its new state
        for _, stream in broadcast_entry(body):
            state.wake((LIVESTREAM.kind, namespace, stream))
    if kind.api is LIVESTREAM:
        for set_kind, set_namespace, set_name in [*quality_set_user_entry(body), *playback_policy_user_entry(body)]:
            state.wake((set_kind, set_namespace, set_name))
    default = state.settings.default_quality_set
    if kind.api is CLUSTER_QUALITY_SET and type == "DELETED" and default and key[2] == default.name:
        await keep_default_quality_set(state)


def _wake_on_events(kind: ControlledKind) -> None:
    @kopf.on.event(GROUP, VERSION, kind.api.plural, id=f"{kind.api.singular}-event")
    async def object_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: object) -> None:
        state: OperatorState = memo.state

        def loop(obj: LiveObject) -> Awaitable[None]:
            return kind.loop(state, obj, _indexes(state, kwargs))

        memo.tasks.observe(type, _key(kind, body), body, loop)
        if kind.api is LIVESTREAM and type == "DELETED":  # its edge need not wait for the GC to take its Service
            memo.edges.wake(body.metadata.namespace or "", start=False)
        if kind.api is LIVESTREAM:  # its edge writes the rules of the PlaybackPolicy it names
            memo.edges.observe_stream(type, body)
        if kind.api is PLAYBACK_POLICY:  # the edge of its namespace writes its streams' rules
            memo.edges.wake(body.metadata.namespace or "", start=False)
        users = kwargs["playback_policy_users" if kind.api is PLAYBACK_POLICY else "quality_set_users"]
        await _object_event(kind, type or "", body, state, cast(QualitySetUsers, users))
        memo.notifier.observe(kind.api.kind, type, body)


@kopf.on.event(GROUP, VERSION, STREAM_WEBHOOK.plural)
async def stream_webhook_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
    """A webhook subscription: its delivery task starts, learns its new spec, or stops."""
    memo.notifier.observe_subscription(type, body)


@kopf.on.event("v1", "services", labels={MANAGED_BY_LABEL: MANAGED_BY})
async def ingest_service_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
    """An ingest Service appeared or changed: its stream's status shows its nodePorts and load
    balancer address (a cloud controller writes status.loadBalancer), and the recorders and pushers
    of its stream need its ports; the namespace's edge serves the streams whose Services say so."""
    memo.edges.observe_service(type, body)
    owner = controller_of(body.metadata)
    if owner is not None and owner.get("kind") == LIVESTREAM.kind:
        namespace = body.metadata.namespace or ""
        memo.state.wake((LIVESTREAM.kind, namespace, str(owner.get("name"))))
        memo.state.wake_followers(namespace, str(owner.get("name")))


@kopf.on.event(
    "discovery.k8s.io", "v1", "endpointslices", labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: kopf.PRESENT}
)
async def ingest_endpoint_slice_event(body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
    """An EndpointSlice of an ingest Service changed (the EndpointSlice controller marked the Pod's
    endpoint ready, or not): the stream's loop looks at once, since Ready waits for it. The stream
    is the owner of the slice's Service, from the service index (a slice is owned by its Service)."""
    if not endpoint_slice_entry(body):
        return  # an internal Service's slice
    state: OperatorState = memo.state
    namespace = body.metadata.namespace or ""
    service = (body.metadata.labels or {}).get(SERVICE_NAME_LABEL, "")
    index = state.api.watched.get("Service")
    owner = controller_of((watched_object(index, (namespace, service)) or {}).get("metadata") or {}) if index else None
    if owner is not None and owner.get("kind") == LIVESTREAM.kind:
        state.wake((LIVESTREAM.kind, namespace, str(owner.get("name"))))


@kopf.on.event("v1", "pods", labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: kopf.PRESENT})
async def worker_pod_event(type: str, body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
    """A worker Pod changed: its owner's loop looks at once. One that went away (deleted,
    evicted, rolled) makes the owner reconcile, which puts it back right away."""
    state: OperatorState = memo.state
    gone = type == "DELETED"
    if gone and state.allocator is not None:
        component = (body.metadata.labels or {}).get(COMPONENT_LABEL, "")
        if not component.startswith("ingest"):  # (an ingest's ports belong to its Service, which outlives the Pod)
            state.allocator.release(ports_of(body).values())
    owner = controller_of(body.metadata)
    namespace = body.metadata.namespace or ""
    if owner is not None and owner.get("kind") in BY_NAME:
        state.wake((str(owner["kind"]), namespace, str(owner.get("name"))), reconcile=gone)
    shared_by = shared_stream_of(body.metadata)
    if shared_by is not None:  # a stream's shared pusher: every Restream of the stream looks
        state.wake_followers(namespace, shared_by, reconcile=gone, kind=RESTREAM.kind)
    annotations = body.metadata.annotations or {}
    component = (body.metadata.labels or {}).get(COMPONENT_LABEL, "")
    recorder = component == RECORDER_COMPONENT and owner is not None and owner.get("kind") == RECORDING.kind
    if STREAM_NAME_ANNOTATION in annotations and (ADOPTED_ANNOTATION in annotations or recorder):
        # A Recording's recorder came (the stream's standby adopted, or its own) or went: the stream
        # keeps a warm recorder only while none of its Recordings has one (plan.py), so it looks now.
        state.wake((LIVESTREAM.kind, namespace, annotations[STREAM_NAME_ANNOTATION]), reconcile=True)


@kopf.on.event("v1", "nodes")
async def node_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: object) -> None:
    """A node cordoned or uncordoned: the streams whose ingest runs there reconcile (it moves, or stops
    waiting to: workers/drain.py), and the Restreams and Recordings whose pusher or recorder does. A
    change of what placement looks at: the streams with a backup reconcile (workers/placement.py; a
    running backup takes it by the restart rules)."""
    change = memo.nodes.observe(type, body)
    pods = cast(PodIndex, kwargs["worker_pods"])
    for namespace, name in streams_to_reconcile(change, pods):
        memo.state.wake((LIVESTREAM.kind, namespace, name), reconcile=True)
    for kind, namespace, name in movers_to_reconcile(change, pods):
        if kind == LIVESTREAM.kind:  # its shared pusher: the stream's Restreams
            memo.state.wake_followers(namespace, name, reconcile=True, kind=RESTREAM.kind)
        else:
            memo.state.wake((kind, namespace, name), reconcile=True)


@kopf.on.event("networking.k8s.io", "v1", "ingresses", labels={MANAGED_BY_LABEL: MANAGED_BY})
@kopf.on.event("gateway.networking.k8s.io", "v1", "httproutes", labels={MANAGED_BY_LABEL: MANAGED_BY})
async def playback_route_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: object) -> None:
    """A stream's Ingress or HTTPRoute changed: its loop looks at once. One that went away (or lost
    its spec hash) makes the stream reconcile, which puts it back right away."""
    wake = playback_route_wake(type, body)
    if wake is not None:
        key, reconcile = wake
        memo.state.wake(key, reconcile=reconcile)


# --- status loops (one per object) ----------------------------------------------------------------


def _indexes(state: OperatorState, kwargs: Mapping[str, object]) -> Indexes:
    """The indexes kopf passes to every handler by the index's name: the status loops' view, and
    the reconcilers' (KubeApi.watched)."""
    state.watch(
        ChildIndexes(
            pods=cast(ObjectIndex, kwargs["worker_pods"]),
            services=cast(ObjectIndex, kwargs["service_objects"]),
            streams=cast(ObjectIndex, kwargs["stream_objects"]),
            quality_sets=cast(ObjectIndex, kwargs["quality_set_objects"]),
            cluster_quality_sets=cast(ObjectIndex, kwargs["cluster_quality_set_objects"]),
            playback_policies=cast(ObjectIndex, kwargs["playback_policy_objects"]),
            nodes=cast(ObjectIndex, kwargs["nodes"]),
            budgets=cast(ObjectIndex, kwargs["disruption_budgets"]),
            restreams=cast(ObjectIndex, kwargs["stream_restreams"]),
        )
    )
    return Indexes(
        pods=cast(PodIndex, kwargs["worker_pods"]),
        streams=cast(StreamIndex, kwargs["streams"]),
        recordings=cast(RecordingIndex, kwargs["recordings"]),
        clips=cast(ClipIndex, kwargs["clips"]),
        endpoints=cast(EndpointSliceIndex, kwargs["ingest_endpoint_slices"]),
        quality_set_users=cast(QualitySetUsers, kwargs["quality_set_users"]),
        broadcasts=cast(BroadcastIndex, kwargs["broadcasts"]),
        playback_policy_users=cast(QualitySetUsers, kwargs["playback_policy_users"]),
    )


for _kind in KINDS:
    _wake_on_events(_kind)
