"""An in-memory stand-in for the operator's own API adapter (`streamops.kube.client.KubeApi`),
for unit tests of the reconcilers: no API server, no HTTP, no mocks of Kubernetes.

`FakeKubeApi` is a `KubeApi` (every method the reconcilers call, same signatures), so it goes
wherever the operator passes its adapter, with the server's semantics as the adapter exposes them:
bookkeeping (uid, resourceVersion, generation), the adapter's 404/409/403 conversions, merge
patches with resourceVersion preconditions, finalizers, label selectors, live indexes that can lag,
injected failures (`fail()`), and a log of every call (`calls`, `writes`). Changes by someone else
(a user, the kubelet) go through `add()`, `modify()`, `set_phase()`, `remove_finalizers()`, not
logged. The semantics one by one: docs/design/test-harness.md, "The operator's API adapter in memory".
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import kopf
from streamops.api.kinds import Kind
from streamops.kube.client import ApiError, KubeApi, NamespaceTerminating, watched_object

Manifest = dict[str, Any]  # as streamops.kube.client names it: an object or merge patch as sent
ObjectKey = tuple[str, str, str]  # kind, namespace, name
IndexEntry = Callable[[Mapping[str, Any]], Mapping[Any, Any]]  # a kopf index function: key -> value (keys: any tuple)

READS = frozenset({"get", "list"})
WRITES = frozenset({"create", "replace", "patch", "delete", "patch_status"})


@dataclass(frozen=True)
class Call:
    """One call of the adapter. `source` of a read: "index" (the operator's watch) or "server" (a
    GET). `result`: "ok", "not-found", "conflict", "terminating", or "error <status>"."""

    verb: str
    kind: str
    namespace: str
    name: str
    body: Any = None
    source: str = "server"
    result: str = "ok"


@dataclass
class _Failure:
    verb: str
    kind: str
    name: str | None
    error: ApiError
    times: int


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes a key, anything else (lists too) replaces.
    Returns a new value; neither argument is changed."""
    return _merge(copy.deepcopy(target), copy.deepcopy(patch))


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    out = target if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def matches_selector(labels: Mapping[str, str], selector: str) -> bool:
    """Kubernetes label selector syntax: `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x)`."""
    for term in _selector_terms(selector):
        term = term.strip()
        if not term:
            continue
        if " notin " in term or " in " in term:
            negate = " notin " in term
            key, _, values = term.partition(" notin " if negate else " in ")
            wanted = {v.strip() for v in values.strip().strip("()").split(",")}
            inside = labels.get(key.strip()) in wanted
            if inside == negate:
                return False
        elif "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.replace("==", "=").partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _selector_terms(selector: str) -> Iterator[str]:
    """Split at commas outside parentheses."""
    depth, start = 0, 0
    for i, char in enumerate(selector):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            yield selector[start:i]
            start = i + 1
    yield selector[start:]


class LiveIndex(Mapping[tuple[str, str], list[Any]]):
    """A kopf index as the operator's handlers fill it, computed from the fake's objects of one kind
    with the operator's own index function; frozen while the fake is `lagging()`."""

    def __init__(self, api: FakeKubeApi, kind: str, entry: IndexEntry) -> None:
        self.api, self.kind, self.entry = api, kind, entry
        self.frozen: dict[tuple[str, str], list[Any]] | None = None

    def snapshot(self) -> dict[tuple[str, str], list[Any]]:
        out: dict[tuple[str, str], list[Any]] = {}
        for obj in self.api.objects(self.kind):
            for key, value in self.entry(obj).items():
                out.setdefault(key, []).append(value)
        return out

    def _current(self) -> dict[tuple[str, str], list[Any]]:
        return self.frozen if self.frozen is not None else self.snapshot()

    def __getitem__(self, key: tuple[str, str]) -> list[Any]:
        return copy.deepcopy(self._current()[key])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubeApi(KubeApi):
    """See the module's docstring and docs/design/test-harness.md. Thread-safe (the operator calls its
    adapter from a thread pool)."""

    def __init__(self) -> None:
        # The real adapter's fields, so that everything written for a KubeApi finds them.
        self.info = kopf.ConnectionInfo(server="fake://in-memory")
        self.watched = {}
        self._local = threading.local()
        self._context = None
        self.store: dict[ObjectKey, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.terminating: set[str] = set()
        self._failures: list[_Failure] = []
        self._versions = itertools.count(1)
        self._uids = itertools.count(1)
        self._node_ports = itertools.count(30100)
        self._lock = threading.RLock()
        self._indexes: dict[tuple[str, IndexEntry], LiveIndex] = {}

    # --- what tests set up and look at (not calls of the adapter) ------------------------------
    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Put an object on the server as someone else would (not logged). A given uid,
        generation or resourceVersion is kept, missing ones are filled in. Returns the stored copy."""
        with self._lock:
            stored = self._fill(copy.deepcopy(dict(obj)), keep_identity=True)
            self.store[self._key_of(stored)] = stored
            return copy.deepcopy(stored)

    def add_in(self, namespace: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """add() in `namespace` (the tests' objects are made without one)."""
        return self.add({**obj, "metadata": {**obj["metadata"], "namespace": namespace}})

    def modify(self, kind: str, namespace: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        """A merge patch by someone else (a user's `kubectl patch`, the kubelet; not logged),
        status included. KeyError when there is no such object."""
        with self._lock:
            key = (kind, namespace, name)
            updated = self._merged(self.store[key], patch, subresources=False)
            self.store[key] = updated
            return copy.deepcopy(updated)

    def set_phase(self, namespace: str, name: str, phase: str, pod_ip: str | None = "10.0.0.1") -> None:
        """The kubelet's part: a Pod's phase (and its IP once Running)."""
        status: dict[str, Any] = {"phase": phase}
        if phase == "Running" and pod_ip:
            status["podIP"] = pod_ip
        self.modify("Pod", namespace, name, {"status": status})

    def remove_finalizers(self, kind: str, namespace: str, name: str) -> None:
        """What the finalizer's owner does at last: an object being deleted goes away."""
        with self._lock:
            key = (kind, namespace, name)
            obj = self.store[key]
            if obj["metadata"].get("deletionTimestamp"):
                del self.store[key]
            else:
                self.store[key] = self._merged(obj, {"metadata": {"finalizers": None}}, subresources=False)

    def terminate_namespace(self, namespace: str) -> None:
        """Creates in it are refused (403 NamespaceTerminating); what exists stays readable."""
        self.terminating.add(namespace)

    def fail(
        self, verb: str, kind: str, name: str | None = None, status: int = 500, body: str = "", times: int = 1
    ) -> None:
        """The next `times` calls `verb` ("get", "list", "create", "replace", "patch", "delete", "patch_status")
        on `kind` (and `name`, when given) answer with this HTTP error instead of doing anything;
        the adapter's own conversions apply (a 404 read is None, a create's 409 is None...)."""
        error = ApiError(status, body or f"injected {status} for {verb} {kind}")
        self._failures.append(_Failure(verb, kind, name, error, times))

    def index(self, kind: str, entry: IndexEntry) -> LiveIndex:
        """A live index of `kind` built with the operator's index function `entry` (one per kind and
        function: create it before `lagging()` for it to lag too), as kopf hands them to handlers."""
        key = (kind, entry)
        if key not in self._indexes:
            self._indexes[key] = LiveIndex(self, kind, entry)
        return self._indexes[key]

    def watch(self, kind: str, entry: IndexEntry) -> LiveIndex:
        """Answer `get()`/`get_custom()` of `kind` from a live index built with `entry`, as the
        operator does for Pods, Services and LiveStreams (`OperatorState.watch()`)."""
        index = self.index(kind, entry)
        self.watched[kind] = index
        return index

    @contextlib.contextmanager
    def lagging(self) -> Iterator[None]:
        """The indexes keep answering what they held on entry (a watch behind the server)."""
        indexes = list(self._indexes.values())
        for index in indexes:
            index.frozen = index.snapshot()
        try:
            yield
        finally:
            for index in indexes:
                index.frozen = None

    def object(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            obj = self.store.get((kind, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (k, ns, _), obj in sorted(self.store.items())
                if k == kind and (namespace is None or ns == namespace)
            ]

    def names(self, kind: str, namespace: str | None = None) -> list[str]:
        return [o["metadata"]["name"] for o in self.objects(kind, namespace)]

    @property
    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.verb in WRITES]

    @property
    def server_reads(self) -> list[Call]:
        """Reads the API server answered (GETs, LISTs), not the indexes."""
        return [c for c in self.calls if c.verb in READS and c.source == "server"]

    def clear_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # --- the adapter: core objects -----------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Manifest | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Manifest | None:
        raise AssertionError(f"FakeKubeApi has no transport: {method} {path} (a method the fake lacks?)")

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return self._get(kind, namespace, name)

    def list_in(self, kind: str, namespace: str, query: str) -> list[Manifest]:
        """`query`: labelSelector=... (url-encoded), as KubeApi.list_in takes it."""
        selector = parse_qs(query).get("labelSelector", [""])[0]
        with self._lock:
            error = self._injected("list", kind, "")
            if error is not None:
                self._log("list", kind, namespace, "", selector, result=f"error {error.status}")
                raise error
            self._log("list", kind, namespace, "", selector)
            return [
                o
                for o in self.objects(kind)
                if o["metadata"].get("namespace") == namespace
                and matches_selector(o["metadata"].get("labels") or {}, selector)
            ]

    def list_metadata(self, kind: str, label_selector: str) -> list[Manifest]:
        """As KubeApi's: each matching object's metadata alone."""
        with self._lock:
            error = self._injected("list", kind, "")
            if error is not None:
                self._log("list", kind, "", "", label_selector, result=f"error {error.status}")
                raise error
            self._log("list", kind, "", "", label_selector)
            return [
                {"metadata": o["metadata"]}
                for o in self.objects(kind)
                if matches_selector(o["metadata"].get("labels") or {}, label_selector)
            ]

    def nodes(self) -> builtins.list[Manifest] | None:
        """From the live index `watch("Node", node_entry)` made (None without one), as the operator's."""
        index = self.watched.get("Node")
        if index is None:
            return None
        self._log("list", "Node", "", "", source="index")
        return [node for key in index for node in index[key]]

    def create(self, manifest: Manifest) -> Manifest | None:
        return self._create(manifest["kind"], manifest)

    def replace(self, manifest: Manifest) -> Manifest | None:
        """PUT: refused with a conflict (None) unless the body's resourceVersion is the stored one;
        None also when the object is gone (KubeApi.request's 404)."""
        kind, meta = manifest["kind"], manifest["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        key = (kind, namespace, name)
        with self._lock:
            error = self._injected("replace", kind, name)
            if error is None and key not in self.store:
                error = ApiError(404, "not found")
            if error is None and meta.get("resourceVersion") != self.store[key]["metadata"].get("resourceVersion"):
                message = f"Operation cannot be fulfilled on {kind} {name}: the object has been modified"
                error = ApiError(409, f'{{"reason":"Conflict","message":"{message}"}}')
            if error is not None:
                if error.status in (404, 409):
                    result = "not-found" if error.status == 404 else "conflict"
                    self._log("replace", kind, namespace, name, manifest, result=result)
                    return None
                self._log("replace", kind, namespace, name, manifest, result=f"error {error.status}")
                raise error
            stored = self.store[key]
            replaced = copy.deepcopy(manifest)
            for server_field in ("uid", "generation", "creationTimestamp"):
                if server_field in stored["metadata"]:
                    replaced["metadata"][server_field] = stored["metadata"][server_field]
            self.store[key] = self._bumped(replaced, spec_before=stored.get("spec"))
            self._log("replace", kind, namespace, name, manifest)
            return copy.deepcopy(self.store[key])

    def patch(self, kind: str, namespace: str, name: str, patch: Manifest) -> bool:
        return self._patch(kind, namespace, name, patch)

    def delete(
        self, kind: str, namespace: str, name: str, uid: str | None = None, grace_seconds: int | None = None
    ) -> None:
        self._remove(kind, namespace, name, uid, grace_seconds)

    # --- the adapter: custom resources ---------------------------------------------------------
    def get_custom(self, kind: Kind, namespace: str, name: str) -> Manifest | None:
        return self._get(kind.kind, namespace, name)

    def custom_uids(self, kind: Kind, namespace: str) -> set[str]:
        self._log("list", kind.kind, namespace, "", "")
        return {o["metadata"]["uid"] for o in self.objects(kind.kind, namespace)}

    def stream_children(self, kind: Kind, namespace: str, stream: str) -> builtins.list[Manifest]:
        self._log("list", kind.kind, namespace, "", "")
        objects = self.objects(kind.kind, namespace)
        return [o for o in objects if ((o.get("spec") or {}).get("streamRef") or {}).get("name") == stream]

    def create_custom(self, kind: Kind, manifest: Manifest) -> Manifest | None:
        return self._create(kind.kind, manifest)

    def patch_custom(self, kind: Kind, namespace: str, name: str, patch: Manifest) -> None:
        self._patch(kind.kind, namespace, name, patch, subresources=True)

    def delete_custom(self, kind: Kind, namespace: str, name: str, uid: str | None = None) -> None:
        self._remove(kind.kind, namespace, name, uid)

    def patch_status(self, kind: Kind, namespace: str, name: str, status_patch: Manifest) -> bool:
        with self._lock:
            key = (kind.kind, namespace, name)
            error = self._injected("patch_status", kind.kind, name)
            if error is not None and error.status != 404:
                self._log("patch_status", kind.kind, namespace, name, status_patch, result=f"error {error.status}")
                raise error
            if error is not None or key not in self.store:
                self._log("patch_status", kind.kind, namespace, name, status_patch, result="not-found")
                return False
            obj = self.store[key]
            updated = self._bumped(merge_patch(obj, {"status": status_patch}), spec_before=obj.get("spec"))
            self.store[key] = updated
            self._log("patch_status", kind.kind, namespace, name, status_patch)
            return True

    # --- the semantics ---------------------------------------------------------------------------
    def _get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        index = self.watched.get(kind)
        if index is not None:
            found = watched_object(index, (namespace, name))
            self._log("get", kind, namespace, name, source="index", result="ok" if found else "not-found")
            return found
        with self._lock:
            error = self._injected("get", kind, name)
            if error is not None and error.status != 404:
                self._log("get", kind, namespace, name, result=f"error {error.status}")
                raise error
            obj = None if error is not None else self.store.get((kind, namespace, name))
            self._log("get", kind, namespace, name, result="ok" if obj else "not-found")
            return copy.deepcopy(obj) if obj is not None else None

    def _create(self, kind: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        meta = manifest["metadata"]
        if "name" not in meta and meta.get("generateName"):  # as the API server does (kopf's Events, ours)
            manifest = copy.deepcopy(manifest)
            meta = manifest["metadata"]
            meta["name"] = f"{meta['generateName']}{next(self._uids):05d}"
        namespace, name = meta.get("namespace") or "", meta["name"]  # (a cluster-scoped object has none)
        with self._lock:
            error = self._injected("create", kind, name)
            if error is None and namespace in self.terminating:
                error = ApiError(
                    403,
                    f'{{"reason":"Forbidden","message":"{kind} {name} is forbidden: unable to create new content '
                    f'in namespace {namespace} because it is being terminated",'
                    '"details":{"causes":[{"reason":"NamespaceTerminating"}]}}',
                )
            if error is None and (kind, namespace, name) in self.store:
                error = ApiError(409, f'{{"reason":"AlreadyExists","message":"{kind} {name} already exists"}}')
            if error is not None:
                # KubeApi._create: 409 is None (done already), 403 NamespaceTerminating is raised as such.
                if error.status == 409:
                    self._log("create", kind, namespace, name, manifest, result="conflict")
                    return None
                if error.status == 403 and "NamespaceTerminating" in error.body:
                    self._log("create", kind, namespace, name, manifest, result="terminating")
                    raise NamespaceTerminating(namespace)
                self._log("create", kind, namespace, name, manifest, result=f"error {error.status}")
                raise error
            stored = self._fill(copy.deepcopy(manifest), keep_identity=False)
            if kind == "Service" and stored.get("spec", {}).get("type") in ("NodePort", "LoadBalancer"):
                # As the API server does: every port without a fixed nodePort gets one.
                for port in stored["spec"].get("ports") or []:
                    port.setdefault("nodePort", next(self._node_ports))
            self.store[(kind, namespace, name)] = stored
            self._log("create", kind, namespace, name, manifest)
            return copy.deepcopy(stored)

    def _patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any], subresources: bool = False) -> bool:
        key = (kind, namespace, name)
        with self._lock:
            error = self._injected("patch", kind, name)
            if error is None and key not in self.store:
                error = ApiError(404, "not found")
            if error is None:
                wanted = (patch.get("metadata") or {}).get("resourceVersion")
                have = self.store[key]["metadata"].get("resourceVersion")
                if wanted is not None and wanted != have:
                    error = ApiError(
                        409,
                        f'{{"reason":"Conflict","message":"Operation cannot be fulfilled on {kind} {name}: '
                        'the object has been modified; please apply your changes to the latest version"}',
                    )
            if error is not None:
                if error.status == 404:  # KubeApi.request answers 404 with None: the patch is void (False)
                    self._log("patch", kind, namespace, name, patch, result="not-found")
                    return False
                result = "conflict" if error.status == 409 else f"error {error.status}"
                self._log("patch", kind, namespace, name, patch, result=result)
                raise error
            self.store[key] = self._merged(self.store[key], patch, subresources)
            self._log("patch", kind, namespace, name, patch)
            return True

    def _remove(self, kind: str, namespace: str, name: str, uid: str | None, grace_seconds: int | None = None) -> None:
        key = (kind, namespace, name)
        body: dict[str, Any] | None = {"preconditions": {"uid": uid}} if uid else None
        if grace_seconds is not None:
            body = {**(body or {}), "gracePeriodSeconds": grace_seconds}
        with self._lock:
            error = self._injected("delete", kind, name)
            obj = self.store.get(key)
            if error is None and obj is None:
                error = ApiError(404, "not found")
            if error is None and obj is not None and uid and obj["metadata"].get("uid") != uid:
                error = ApiError(409, "Precondition failed: UID in precondition does not match the object's")
            if error is not None:
                # KubeApi._delete: gone already (404) and another object of that name (409) are fine.
                if error.status in (404, 409):
                    result = "not-found" if error.status == 404 else "conflict"
                    self._log("delete", kind, namespace, name, body, result=result)
                    return
                self._log("delete", kind, namespace, name, body, result=f"error {error.status}")
                raise error
            assert obj is not None
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    self.store[key] = self._bumped(
                        merge_patch(obj, {"metadata": {"deletionTimestamp": _now()}}), spec_before=obj.get("spec")
                    )
            else:
                del self.store[key]
            self._log("delete", kind, namespace, name, body)

    # --- bookkeeping -------------------------------------------------------------------------------
    @staticmethod
    def _key_of(obj: Mapping[str, Any]) -> ObjectKey:
        meta = obj["metadata"]
        return (obj["kind"], meta.get("namespace") or "", meta["name"])

    def _fill(self, obj: dict[str, Any], keep_identity: bool) -> dict[str, Any]:
        """What the server adds on create (a uid, resourceVersion, generation 1, a timestamp; a new Pod is Pending)."""
        meta = obj.setdefault("metadata", {})
        if not keep_identity:
            for server_field in ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"):
                meta.pop(server_field, None)
        meta.setdefault("uid", f"uid-{next(self._uids):04d}")
        meta.setdefault("resourceVersion", str(next(self._versions)))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", _now())
        if obj.get("kind") == "Pod" and not keep_identity:
            obj["status"] = {"phase": "Pending"}
        return obj

    def _merged(self, obj: dict[str, Any], patch: Mapping[str, Any], subresources: bool) -> dict[str, Any]:
        """A merge patch applied as the server does: the precondition and the server's own fields
        are not the client's to set; with a status subresource, `status` is not either."""
        applied: dict[str, Any] = copy.deepcopy(dict(patch))
        meta_patch = applied.get("metadata")
        if isinstance(meta_patch, dict):
            for server_field in ("resourceVersion", "uid", "generation", "creationTimestamp", "name", "namespace"):
                meta_patch.pop(server_field, None)
        if subresources:
            applied.pop("status", None)
        return self._bumped(merge_patch(obj, applied), spec_before=obj.get("spec"))

    def _bumped(self, obj: dict[str, Any], spec_before: Any) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        if obj.get("spec") != spec_before:
            obj["metadata"]["generation"] = int(obj["metadata"].get("generation") or 0) + 1
        return obj

    def _injected(self, verb: str, kind: str, name: str) -> ApiError | None:
        for failure in self._failures:
            if failure.verb == verb and failure.kind == kind and failure.name in (None, name):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure.error
        return None

    def _log(
        self,
        verb: str,
        kind: str,
        namespace: str,
        name: str,
        body: Any = None,
        source: str = "server",
        result: str = "ok",
    ) -> None:
        with self._lock:
            self.calls.append(Call(verb, kind, namespace, name, copy.deepcopy(body), source, result))


def operator_view() -> FakeKubeApi:
    """A fake API that reads what the operator reads from memory: Pods, Services, LiveStreams and
    quality sets from its watches (OperatorState.watch()), and what the status loops tell the
    reconcilers from kopf's other indexes (handlers.py)."""
    from streamops.control.runtime.indexes import child_entry, recording_entry, stream_object_entry, worker_pod_entry

    api = FakeKubeApi()
    api.watch("Pod", child_entry)
    api.watch("Service", child_entry)
    api.watch("LiveStream", stream_object_entry)
    api.watch("QualitySet", stream_object_entry)
    api.watch("ClusterQualitySet", stream_object_entry)
    api.watch("PlaybackPolicy", stream_object_entry)
    api.watch("PodDisruptionBudget", child_entry)
    api.index("Pod", worker_pod_entry)
    api.index("Recording", recording_entry)
    return api
