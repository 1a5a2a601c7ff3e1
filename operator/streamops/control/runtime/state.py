"""What the operator keeps in memory between handler calls: the API client, the HTTP client for
worker telemetry, the port allocator, the per-object reconcile locks and the means to wake an
object's status loop (each loop keeps its object's last reconcile outcome). Nothing in here is
needed to recover after a restart: every piece is rebuilt from the cluster."""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import aiohttp

from streamops.api import RESTREAM
from streamops.control.shared.settings import OperatorSettings
from streamops.control.workers.edge_viewers import EDGE_POD_SELECTOR, EdgeViewers, ready_edge_pods
from streamops.control.workers.pod_observation import PodObservation
from streamops.control.workers.ports import PortAllocator, ports_of
from streamops.control.workers.worker_client import S, SharedTelemetry, TelemetryReader
from streamops.control.workers.worker_credentials import WorkerCredentials, read_worker_credential
from streamops.kube.client import KubeApi
from streamops.kube.threads import LATER, ApiThreads

if TYPE_CHECKING:
    from streamops.control.runtime.indexes import ChildIndexes

ObjectKey = tuple[str, str, str]  # kind, namespace, name
# Reconciles in flight; each thread keeps one API connection. In a burst the operator's requests
# wait on the API server beside the clients creating objects: 16 + 4 threads (against 8 + 2)
# brought Ready p99 of 500 + 500 from 20.1 to 17.4 s and the writes/s from 162 to 182 (one run
# each, bench-operator, 2026-11-23), for ≈3 MB more at the peak.
API_THREADS = 16
STATUS_THREADS = 4
# A full range is learnt from the cluster again at most this often (every reconcile short of ports
# asks): each seed lists the metadata of every managed Service and Pod in the cluster, and a
# reconcile per object asking for its own once took the operator to 1.7 GB and a whole core
# (docs/design/operator-scale.md, "The port seed storm"). Short, because a deleted ingest Service
# gives its ports back only through a seed: a reconcile short of them waits this at most, plus
# its backoff.
RESEED_SECONDS = 10.0
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class OperatorState:
    api: KubeApi
    settings: OperatorSettings
    allocator: PortAllocator | None = None
    client: aiohttp.ClientSession | None = None
    executor: ApiThreads = field(default_factory=lambda: ApiThreads(API_THREADS, "streamops-api"))
    # Status patches have threads of their own: behind a burst of reconciles (hundreds of objects
    # created at once) they would wait for all of them, and an object whose Pod exists would show
    # no status for many seconds.
    status_executor: ApiThreads = field(default_factory=lambda: ApiThreads(STATUS_THREADS, "streamops-status"))
    edge_viewers: EdgeViewers | None = None  # set by the handlers' startup (needs the HTTP client)
    _credentials: WorkerCredentials | None = None
    _wakers: dict[ObjectKey, asyncio.Event] = field(default_factory=dict)
    # Loops per key: an object deleted and created again under its name has a new loop while the
    # old one is being cancelled (no finalizer holds the old object back): the key's waker, lock
    # and followers go with the last of them.
    _holders: dict[ObjectKey, int] = field(default_factory=dict)
    _reconcile_requested: set[ObjectKey] = field(default_factory=set)
    # When a loop was first woken since it last looked (monotonic): its queue latency's start.
    _woken_at: dict[ObjectKey, float] = field(default_factory=dict)
    # shared_telemetry(): weakly held, so the reader goes with the last loop that follows its Pod.
    _shared_telemetry: weakref.WeakValueDictionary[tuple[str, str], SharedTelemetry[Any]] = field(
        default_factory=weakref.WeakValueDictionary
    )
    # (namespace, stream) → the keys of its Recordings and Restreams
    _followers: dict[tuple[str, str], set[ObjectKey]] = field(default_factory=dict)
    _locks: dict[ObjectKey, threading.Lock] = field(default_factory=dict)
    _generations: dict[ObjectKey, int] = field(default_factory=dict)  # spec_changed()
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _seeding: threading.Lock = field(default_factory=threading.Lock)  # one seed at a time
    _seeded_at: float | None = None

    async def edge_sessions(self, namespace: str, stream: str) -> dict[str, set[str]]:
        """The stream's viewer sessions at its namespace's edge (edge_viewers.py)."""
        if self.edge_viewers is None:

            async def ready(ns: str) -> list[tuple[str, str]]:
                return ready_edge_pods(await self.call(self.api.list_in, "Pod", ns, EDGE_POD_SELECTOR))

            self.edge_viewers = EdgeViewers(self.client, ready)
        return await self.edge_viewers.sessions(namespace, stream)

    async def worker_headers(self, namespace: str, stream: str) -> dict[str, str]:
        """The header that presents the stream's worker credential to its workers."""
        if self._credentials is None:

            async def read(ns: str, name: str) -> bytes | None:
                return await self.call(read_worker_credential, self.api, ns, name)

            self._credentials = WorkerCredentials(read)
        return await self._credentials.headers(namespace, stream)

    async def read_worker(
        self,
        reader: TelemetryReader[S] | SharedTelemetry[S],
        pod: PodObservation | None,
        namespace: str,
        stream: str,
        not_before: float | None = None,
    ) -> S | None:
        """`reader`'s read of the Pod's /status, presenting the stream's worker credential; a shared
        reader's read made before `not_before` is not handed out again (SharedTelemetry.read)."""
        if self.client is None:
            return None
        headers = await self.worker_headers(namespace, stream) if pod is not None else {}
        if isinstance(reader, SharedTelemetry):
            data = await reader.read(self.client, pod, headers, not_before)
        else:
            data = await reader.read(self.client, pod, headers)
        if reader.refused:
            self.worker_refused(namespace, stream)
        return data

    def shared_telemetry(self, key: tuple[str, str], make: Callable[[], SharedTelemetry[S]]) -> SharedTelemetry[S]:
        """The one reader of a Pod several loops follow (a stream's shared pusher: key (namespace,
        stream)); kept while a loop holds it."""
        found = self._shared_telemetry.get(key)
        if found is None:
            found = make()
            self._shared_telemetry[key] = found
        return found  # (one kind of Pod per key)

    def worker_refused(self, namespace: str, stream: str) -> None:
        """A worker of the stream refused the credential held (401): it is read again."""
        if self._credentials is not None:
            self._credentials.refused(namespace, stream)

    def lock(self, key: ObjectKey) -> threading.Lock:
        """Per-object: reconciles of one object never overlap (no double create). Its loop runs them
        one after the other, but a loop kopf restarts after a failure, or the loop of an object
        re-created under the same name, can start while the previous reconcile's thread still runs."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    async def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking API call (a reconcile) in the operator's API threads."""
        return await self.call_at(LATER, function, *args, **kwargs)

    async def call_at(self, priority: int, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`call`, ahead of (api_threads.FIRST) or among (LATER) the calls waiting for a thread."""
        return await asyncio.wrap_future(self.executor.submit(priority, lambda: function(*args, **kwargs)))

    async def write_status(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.write_status_at(LATER, function, *args, **kwargs)

    async def write_status_at(self, priority: int, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.wrap_future(self.status_executor.submit(priority, lambda: function(*args, **kwargs)))

    def watch(self, indexes: ChildIndexes) -> None:
        """Let the reconcilers read worker Pods, ingest Services and LiveStreams from kopf's
        indexes (handed to every handler) instead of the API server."""
        self.api.watched.update(
            Pod=indexes.pods,
            Service=indexes.services,
            LiveStream=indexes.streams,
            QualitySet=indexes.quality_sets,
            ClusterQualitySet=indexes.cluster_quality_sets,
            PlaybackPolicy=indexes.playback_policies,
        )
        if indexes.nodes is not None:
            self.api.watched["Node"] = indexes.nodes
        if indexes.budgets is not None:
            self.api.watched["PodDisruptionBudget"] = indexes.budgets
        if indexes.restreams is not None:
            self.api.watched_by_stream[RESTREAM.kind] = indexes.restreams

    # --- waking status loops (from the event loop's thread only) -----------------------------
    def waker(self, key: ObjectKey) -> asyncio.Event:
        """The key's waker, for the loop that starts now (its close() calls forget())."""
        self._holders[key] = self._holders.get(key, 0) + 1
        return self._wakers.setdefault(key, asyncio.Event())

    def wake(self, key: ObjectKey, reconcile: bool = False) -> None:
        """Something about the object changed: its loop looks now instead of at its next tick;
        `reconcile` makes it reconcile too (e.g. one of its Pods went away)."""
        if reconcile:
            self._reconcile_requested.add(key)
        event = self._wakers.get(key)
        if event is not None:
            self._woken_at.setdefault(key, time.monotonic())
            event.set()

    def follow(self, key: ObjectKey, namespace: str, stream: str) -> None:
        """A Recording or Restream is woken when its stream (or the stream's ingest Service) changes."""
        self._followers.setdefault((namespace, stream), set()).add(key)

    def wake_followers(self, namespace: str, stream: str, reconcile: bool = False, kind: str | None = None) -> None:
        """`kind`: only the followers of that kind (a stream's Restreams)."""
        for key in self._followers.get((namespace, stream), ()):
            if kind is None or key[0] == kind:
                self.wake(key, reconcile)

    def spec_changed(self, key: ObjectKey, generation: int | None, gone: bool = False) -> bool:
        """Whether `generation` is new for the object since it was last asked (its first sight, or
        gone, counts): a quality set's status writes wake no stream, its spec changes do."""
        if gone:
            self._generations.pop(key, None)
            return True
        if generation is not None and self._generations.get(key) == generation:
            return False
        if generation is not None:
            self._generations[key] = generation
        return True

    def take_woken_at(self, key: ObjectKey) -> float | None:
        """When the key's loop was first woken since this was last asked (monotonic), if it was."""
        return self._woken_at.pop(key, None)

    def take_reconcile_request(self, key: ObjectKey) -> bool:
        if key in self._reconcile_requested:
            self._reconcile_requested.discard(key)
            return True
        return False

    def forget(self, key: ObjectKey) -> None:
        held = self._holders.get(key, 0) - 1
        if held > 0:
            self._holders[key] = held
            return
        self._holders.pop(key, None)
        with self._guard:
            self._locks.pop(key, None)
        self._wakers.pop(key, None)
        self._woken_at.pop(key, None)
        self._reconcile_requested.discard(key)
        for stream, keys in list(self._followers.items()):
            keys.discard(key)
            if not keys:
                del self._followers[stream]

    def seed_ports(self, selector: str) -> None:
        """Learn every allocation from the objects the operator manages (at start, and whenever the
        range looks exhausted: objects deleted meanwhile gave theirs back). One seed at a time, and
        not again within RESEED_SECONDS of the last: the reconciles that ask meanwhile (a full
        range: every one that needs a port) wait for the one in flight and use what it learnt."""
        if self.allocator is None:
            return
        with self._seeding:
            if self._seeded_at is not None and time.monotonic() - self._seeded_at < RESEED_SECONDS:
                return
            used: list[int] = []
            for kind in ("Service", "Pod"):
                for obj in self.api.list_metadata(kind, selector):
                    used.extend(ports_of(obj).values())
            self.allocator.reset(used)
            self._seeded_at = time.monotonic()
