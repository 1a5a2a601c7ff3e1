"""bench-operator's second peer: the operator's writes for a burst, replayed with no operator.

The ConfigMap peer (bench/operator.py, `api_write_capacity`) says what the API server takes of its
cheapest write. A burst is not that: Pods go through admission and defaulting, a Service makes the
API server and the controller-manager write an IPAddress, Endpoints and an EndpointSlice of their
own. This peer takes what the operator wrote in a round (its namespace afterwards: the key Secrets,
the ingest Services and Pods, the pusher Pods, the Restreams' owner references, both kinds'
status) and writes exactly that again into a fresh namespace, with nothing deciding anything:
4 client threads create the LiveStreams and Restreams as the round's client does, and 16 threads
(the operator's API threads) write each object's children and status as soon as it is created,
in the operator's order (a stream's writes before any Restream's that wait).
What this takes is what the API server and its controller-manager take of this write mix on this
machine: an operator that cost nothing would do as well, none can do better.

"Ready" here is when the status patch returned (the round's is when a watch shows it: the peer is
a little ahead there).
"""

from __future__ import annotations

import copy
import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.kubectl import Kubectl
from streamops.api import GROUP, LIVESTREAM, RESTREAM, VERSION
from streamops.kube.threads import FIRST, LATER

OPERATOR_THREADS = 16  # streamops' API threads (bench/operator.py's report says the same)
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink")


@dataclass
class Pair:
    """What the operator wrote for one LiveStream and its Restream, as the round left them."""

    stream: dict[str, Any]
    restream: dict[str, Any]
    stream_children: list[tuple[str, dict[str, Any]]]  # (kind, body): Secret, Service, ingest Pod
    pusher: dict[str, Any]


@dataclass
class Replay:
    n: int
    seconds: float = 0.0  # first create → the last write
    apply_seconds: float = 0.0  # the client's creates alone
    ready: list[float] = field(default_factory=list)  # LiveStream create sent → its status written
    writes: float = 0.0  # all clients' writes (API server metrics) during the replay
    load_before: str = ""
    load_after: str = ""


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """A body to create again: no server-set metadata, no status, no allocated cluster IPs."""
    body = copy.deepcopy(obj)
    meta = body.setdefault("metadata", {})
    for key in (*SERVER_SET, "namespace", "ownerReferences"):
        meta.pop(key, None)
    body.pop("status", None)
    for key in ("clusterIP", "clusterIPs"):  # a Service's: listed items carry no kind to test
        body.get("spec", {}).pop(key, None)
    return body


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def capture(api: kubernetes.client.ApiClient, namespace: str) -> list[Pair]:
    """The pairs of a finished round, with every object the operator made for them."""
    core, custom = kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api)

    def items(call: Callable[..., Any], *args: Any) -> list[dict[str, Any]]:
        return list(api.sanitize_for_serialization(call(*args))["items"])

    streams = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, LIVESTREAM.plural)["items"]
    restreams = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, RESTREAM.plural)["items"]
    children = [
        (kind, obj)
        for kind, call in (
            ("Secret", core.list_namespaced_secret),
            ("Service", core.list_namespaced_service),
            ("Pod", core.list_namespaced_pod),
        )
        for obj in items(call, namespace)
    ]
    by_stream = {r["spec"]["streamRef"]["name"]: r for r in restreams}
    pairs = []
    for stream in streams:
        restream = by_stream[stream["metadata"]["name"]]
        mine = [(k, o) for k, o in children if _owned_by(o, stream["metadata"]["uid"])]
        [pusher] = [o for k, o in children if k == "Pod" and _owned_by(o, restream["metadata"]["uid"])]
        pairs.append(Pair(stream, restream, mine, pusher))
    return pairs


def replay(  # noqa: C901 (listed in ruff.toml: split it when next changed)
    pairs: list[Pair],
    plane: ControlPlane,
    kubectl: Kubectl,
    namespace: str,
    client_threads: int,
    counts: Callable[[], dict[str, float]],
    load: Callable[[], str],
) -> Replay:
    kubectl.kubectl("create", "namespace", namespace)
    result = Replay(len(pairs), load_before=load())
    local = threading.local()
    # The operator's order (kube/threads.py): a stream's writes before any Restream's.
    work: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
    order = itertools.count()
    sent: dict[str, float] = {}
    written: dict[str, float] = {}
    last_write = [0.0]
    lock = threading.Lock()

    def apis() -> tuple[Any, Any]:
        if not hasattr(local, "core"):
            client = kubernetes.config.new_client_from_config(config_file=str(plane.kubeconfig))
            local.core, local.custom = kubernetes.client.CoreV1Api(client), kubernetes.client.CustomObjectsApi(client)
        return local.core, local.custom

    def done() -> None:
        with lock:
            last_write[0] = max(last_write[0], time.monotonic())

    def owner(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def stream_children(pair: Pair, created: dict[str, Any]) -> None:
        core, custom = apis()
        for kind, obj in pair.stream_children:
            body = _clean(obj)
            body["metadata"]["ownerReferences"] = [owner("LiveStream", created)]
            create = {
                "Secret": core.create_namespaced_secret,
                "Service": core.create_namespaced_service,
                "Pod": core.create_namespaced_pod,
            }[kind]
            create(namespace, body)
        name = created["metadata"]["name"]
        status = dict(pair.stream.get("status") or {}, observedGeneration=created["metadata"]["generation"])
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, LIVESTREAM.plural, name, {"status": status}
        )
        written[name] = time.monotonic()
        done()

    def restream_children(pair: Pair, created: dict[str, Any], stream: dict[str, Any]) -> None:
        core, custom = apis()
        body = _clean(pair.pusher)
        body["metadata"]["ownerReferences"] = [owner("Restream", created)]
        core.create_namespaced_pod(namespace, body)
        name = created["metadata"]["name"]
        stream_ref = dict(owner("LiveStream", stream), controller=False)
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, RESTREAM.plural, name, {"metadata": {"ownerReferences": [stream_ref]}}
        )
        status = dict(pair.restream.get("status") or {}, observedGeneration=created["metadata"]["generation"])
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, RESTREAM.plural, name, {"status": status}
        )
        done()

    def create(pair: Pair) -> None:
        _, custom = apis()
        name = pair.stream["metadata"]["name"]
        sent[name] = time.monotonic()
        stream = custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, LIVESTREAM.plural, _clean(pair.stream)
        )
        work.put((FIRST, next(order), lambda: stream_children(pair, stream)))
        restream = custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, RESTREAM.plural, _clean(pair.restream)
        )
        work.put((LATER, next(order), lambda: restream_children(pair, restream, stream)))

    errors: list[BaseException] = []

    def operator_thread() -> None:
        while (job := work.get()[2]) is not None:
            try:
                job()
            except Exception as e:  # counted: a peer that failed writes is no peer
                errors.append(e)

    workers = [threading.Thread(target=operator_thread, daemon=True) for _ in range(OPERATOR_THREADS)]
    for w in workers:
        w.start()
    before = counts()
    began = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=client_threads) as pool:
            list(pool.map(create, pairs))
        result.apply_seconds = time.monotonic() - began
    finally:
        for _ in workers:
            work.put((LATER + 1, next(order), None))
        for w in workers:
            w.join()
    if errors:
        first = errors[0]
        why = f"{first.status} {first.body}" if isinstance(first, kubernetes.client.ApiException) else repr(first)
        raise RuntimeError(f"the replay failed {len(errors)} write(s), first: {why[:600]}")
    result.seconds = last_write[0] - began
    result.writes = counts()["writes"] - before["writes"]
    result.ready = [written[name] - sent[name] for name in sent]
    result.load_after = load()
    return result
