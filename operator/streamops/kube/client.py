"""A thin client of the Kubernetes API for the reconcilers: plain dicts in and out, 404/409 turned
into values, one keep-alive HTTPS connection per thread, standard library only.

Credentials come from kopf's own login functions (service account in a Pod, else $KUBECONFIG),
so the operator does not load the `kubernetes` client library (≈33 MB of RSS on its own).
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import http.client
import json
import os
import ssl
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import kopf

from streamops.api.common import GROUP, VERSION
from streamops.api.kinds import Kind
from streamops.kube.manifests import Manifest, ObjectIndex
from streamops.kube.trimmed_reads import TrimmedResponse, uid_only

MERGE_PATCH = "application/merge-patch+json"
# A list of objects' metadata only (what `kubectl get` uses for tables): no spec, no status.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
CORE_PLURALS = {
    "Pod": "pods",
    "Service": "services",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Event": "events",  # aggregated Events the operator writes itself (restream/backoff_event.py)
    "ConfigMap": "configmaps",  # the edge's routes (control/edge/)
}
# Built-in kinds of other API groups the operator creates (a stream's playback route; its leader
# election Lease), by the same get/create/patch/delete as the core ones. A 404 on a list path means
# the API is not served (the Gateway API CRDs are not installed).
GROUP_KINDS = {
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes"),
    "Lease": ("/apis/coordination.k8s.io/v1", "leases"),
    "Deployment": ("/apis/apps/v1", "deployments"),  # a namespace's edge tier (control/edge/)
    "HorizontalPodAutoscaler": ("/apis/autoscaling/v2", "horizontalpodautoscalers"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),  # worker_network_policies.py
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),  # an ingest's (specs/disruption_budget.py)
}
TIMEOUT_SECONDS = 30


class NamespaceTerminating(Exception):
    """Nothing can be created in a namespace being deleted: its objects are going away too."""


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status, self.body = status, body


def _pem(data: str | bytes) -> bytes:
    """kubeconfig *-data fields are base64 of PEM."""
    raw = data.encode() if isinstance(data, str) else data
    return raw if raw.lstrip().startswith(b"-----") else base64.b64decode(raw)


def ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext:
    """Trusting the cluster's CA alone when it is given, as kopf's own session does: the system's
    CA store is loaded only without one (≈1–2 MB of RSS per context that loads it)."""
    if info.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif info.ca_path:
        context = ssl.create_default_context(cafile=os.fspath(info.ca_path))
    elif info.ca_data:
        context = ssl.create_default_context(cadata=_pem(info.ca_data).decode())
    else:
        context = ssl.create_default_context()
    cert = info.certificate_path or info.certificate_data
    if cert:
        with tempfile.TemporaryDirectory(prefix="streamops-") as tmp:  # load_cert_chain wants files
            paths = []
            for name, path, data in (
                ("cert.pem", info.certificate_path, info.certificate_data),
                ("key.pem", info.private_key_path, info.private_key_data),
            ):
                if path:
                    paths.append(os.fspath(path))
                elif data:
                    target = os.path.join(tmp, name)
                    with open(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                        f.write(_pem(data))
                    paths.append(target)
            context.load_cert_chain(str(paths[0]), str(paths[1]) if len(paths) > 1 else None)
    return context


# LiveStreams, Recordings, Restreams, StreamWebhooks, QualitySets, Pods, Services, Ingresses, HTTPRoutes (where
# served), PodDisruptionBudgets: one long-lived watch each per namespace.
WATCHED_KINDS = 10
# kopf's CRD and Namespace observers, and the cluster-scoped kinds (ClusterQualitySets, Nodes: one watch each
# whatever the namespaces).
DISCOVERY_WATCHES = 4
REQUEST_CONNECTIONS = 12  # kopf's own requests (finalizers, Events) in flight at once


def api_connection_limit(namespaces: Sequence[str]) -> int:
    """How many connections kopf may hold to the API server: its watches plus a few for requests.
    kopf's default is no limit: a burst of 1000 new objects left ≈60 TLS connections open, each
    with a 256 KiB read buffer and its own TLS state (≈30 MB of the operator's RSS). 0 (no limit)
    when a namespace pattern can match any number of namespaces."""
    if any(set(n) & set("*?[!") for n in namespaces):
        return 0
    return WATCHED_KINDS * max(1, len(namespaces)) + DISCOVERY_WATCHES + REQUEST_CONNECTIONS


def kopf_session(info: kopf.ConnectionInfo, limit: int) -> kopf.AiohttpSession:
    """kopf's session as kopf builds it, but with a bounded connection pool, and the children it
    watches decoded trimmed (kube/trimmed_reads.py)."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        response_class=TrimmedResponse,
        headers=info.as_http_headers(),
        proxy=info.proxy_url,
        trust_env=bool(info.trust_env),
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )


def login() -> kopf.ConnectionInfo:
    """In-cluster service account inside a Pod, else $KUBECONFIG / ~/.kube/config (kopf's logins)."""
    settings = kopf.OperatorSettings()
    info = kopf.login_with_service_account(settings=settings)
    if info is not None:
        return dataclasses.replace(info, server=in_cluster_server(os.environ) or info.server)
    info = kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.LoginError("no credentials: neither a service account nor a kubeconfig")
    return info


def in_cluster_server(env: Mapping[str, str]) -> str | None:
    """The API server at the address the kubelet puts into every Pod's environment, as client-go's
    in-cluster config uses it. kopf's service-account login names https://kubernetes.default.svc,
    which needs cluster DNS: with CoreDNS on a lost node the operator could not post an Event or
    patch a status for minutes (seen on the 2-node cluster: "Temporary failure in name resolution")."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def watched_object(index: ObjectIndex, key: tuple[str, str]) -> Manifest | None:
    """The object under `key` in a kopf index (read from an API thread while the event loop may
    be updating it: a lookup that races with an update is simply done again)."""
    for _ in range(3):
        try:
            found = list(index[key]) if key in index else []
        except (KeyError, RuntimeError):
            continue
        return found[0] if found else None
    return None


@dataclass
class KubeApi:
    """`watched` maps a kind to the operator's index of those objects (kopf keeps it from its
    watch): `get()` of such a kind answers from memory instead of asking the API server. The
    index may lag a moment behind the server; the reconcilers are written for that (a create
    that conflicts is done already, a delete has a uid precondition)."""

    info: kopf.ConnectionInfo
    watched: dict[str, ObjectIndex] = field(default_factory=dict)
    # A kind's index keyed by (namespace, the stream its spec.streamRef names): stream_children().
    watched_by_stream: dict[str, ObjectIndex] = field(default_factory=dict)
    # Seconds a request may take (connect, send, each read). Leader election uses a shorter one than
    # the reconcilers, so that a silent API server is noticed within its renew deadline.
    timeout: float = TIMEOUT_SECONDS
    _local: threading.local = field(default_factory=threading.local)
    _context: ssl.SSLContext | None = None

    @classmethod
    def from_environment(cls) -> KubeApi:
        return cls(login())

    # --- transport ---------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "streamops-operator"}
        if self.info.token:
            headers["Authorization"] = f"{self.info.scheme or 'Bearer'} {self.info.token}"
        elif self.info.username and self.info.password:
            pair = base64.b64encode(f"{self.info.username}:{self.info.password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        return headers

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            url = urlsplit(self.info.server)
            if url.scheme == "https":
                if self._context is None:
                    self._context = ssl_context(self.info)
                conn = http.client.HTTPSConnection(
                    url.hostname or "", url.port or 443, context=self._context, timeout=self.timeout
                )
            else:
                conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        body: Manifest | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        object_hook: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Manifest | None:
        """The decoded answer (`object_hook`: json's, each dict as it is decoded); None for 404.
        Raises ApiError for other failures."""
        payload = json.dumps(body).encode() if body is not None else None
        headers = {**self._headers(), "Accept": accept}
        if payload is not None:
            headers["Content-Type"] = content_type
        prefix = urlsplit(self.info.server).path.rstrip("/")
        for attempt in range(3):
            conn = self._connection()
            try:
                conn.request(method, prefix + path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()  # a kept-alive connection the server closed meanwhile: open a new one
                self._local.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status == 401 and attempt == 0:
                self.info = login()  # rotated service-account token
                headers = {**headers, **self._headers(), "Accept": accept}
                continue
            if response.status == 404:
                return None
            if response.status >= 400:
                raise ApiError(response.status, data.decode(errors="replace"))
            return json.loads(data, object_hook=object_hook) if data else {}
        raise AssertionError("unreachable")

    # --- core objects (Pod, Service, Secret, PersistentVolumeClaim) and Ingress, HTTPRoute ------------
    @staticmethod
    def _core(kind: str, namespace: str, name: str = "") -> str:
        prefix, plural = GROUP_KINDS.get(kind) or ("/api/v1", CORE_PLURALS[kind])
        path = f"{prefix}/namespaces/{quote(namespace)}/{plural}"
        return f"{path}/{quote(name)}" if name else path

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        index = self.watched.get(kind)
        if index is not None:
            return watched_object(index, (namespace, name))
        return self.request("GET", self._core(kind, namespace, name))

    def list_in(self, kind: str, namespace: str, query: str) -> list[Manifest]:
        """Objects of a kind in one namespace; `query` an encoded query string (labelSelector=...)."""
        answer = self.request("GET", f"{self._core(kind, namespace)}?{query}")
        return (answer or {}).get("items") or []

    def list_metadata(self, kind: str, label_selector: str) -> list[Manifest]:
        """The metadata of a kind's objects in all namespaces (the operator's own, by label): a
        PartialObjectMetadataList, each item `{"metadata": ...}` alone. A whole Pod decodes to
        ≈35 KB of Python objects; listing thousands of them whole is what once took the operator
        to 1.7 GB (docs/design/operator-scale.md, "The port seed storm")."""
        path = f"/api/v1/{CORE_PLURALS[kind]}?{urlencode({'labelSelector': label_selector})}"
        answer = self.request("GET", path, accept=METADATA_LIST)
        return (answer or {}).get("items") or []

    def _create(self, path: str, manifest: Manifest) -> Manifest | None:
        """Create; None when it already exists (another reconcile got there first)."""
        try:
            return self.request("POST", path, manifest)
        except ApiError as e:
            if e.status == 409:
                return None
            if e.status == 403 and "NamespaceTerminating" in e.body:
                raise NamespaceTerminating(manifest["metadata"]["namespace"]) from None
            raise

    def create(self, manifest: Manifest) -> Manifest | None:
        return self._create(self._core(manifest["kind"], manifest["metadata"]["namespace"]), manifest)

    def replace(self, manifest: Manifest) -> Manifest | None:
        """Replace (PUT) the object with `manifest`, whose metadata.resourceVersion is the one read:
        the object as written, or None when someone else changed it since (409) or it is gone."""
        meta = manifest["metadata"]
        try:
            return self.request("PUT", self._core(manifest["kind"], meta["namespace"], meta["name"]), manifest)
        except ApiError as e:
            if e.status == 409:
                return None
            raise

    def patch(self, kind: str, namespace: str, name: str, patch: Manifest) -> bool:
        """False when the object is gone."""
        return self.request("PATCH", self._core(kind, namespace, name), patch, MERGE_PATCH) is not None

    def _delete(self, path: str, uid: str | None, grace_seconds: int | None = None) -> None:
        """Delete (only the object with this uid, when given); gone already is fine. `grace_seconds`
        0 removes a Pod at once, without its kubelet's confirmation (node loss)."""
        options: Manifest = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}
        if grace_seconds is not None:
            options["gracePeriodSeconds"] = grace_seconds
        try:
            self.request("DELETE", path, options)
        except ApiError as e:
            if e.status != 409:
                raise

    def delete(
        self, kind: str, namespace: str, name: str, uid: str | None = None, grace_seconds: int | None = None
    ) -> None:
        self._delete(self._core(kind, namespace, name), uid, grace_seconds)

    def nodes(self) -> builtins.list[Manifest] | None:
        """The cluster's nodes as the operator's node index holds them (workers/cluster_nodes.py's
        trimmed form, never a request); None when it does not watch them."""
        index = self.watched.get("Node")
        if index is None:
            return None
        for _ in range(3):  # (read from an API thread while the event loop may update it)
            try:
                return [node for key in builtins.list(index) for node in index[key]]
            except (KeyError, RuntimeError):
                continue
        return None

    # --- custom resources ------------------------------------------------------------------------
    @staticmethod
    def _custom(kind: Kind, namespace: str, name: str = "", subresource: str = "") -> str:
        """A kind's path; a cluster-scoped kind's (a ClusterQualitySet) has no namespace."""
        scope = f"namespaces/{quote(namespace)}/" if kind.namespaced else ""
        path = f"/apis/{GROUP}/{VERSION}/{scope}{kind.plural}"
        if name:
            path += f"/{quote(name)}"
        return f"{path}/{subresource}" if subresource else path

    def get_custom(self, kind: Kind, namespace: str, name: str) -> Manifest | None:
        index = self.watched.get(kind.kind)
        if index is not None:
            return watched_object(index, (namespace, name))
        return self.request("GET", self._custom(kind, namespace, name))

    def custom_uids(self, kind: Kind, namespace: str) -> set[str]:
        """The uids of a kind's objects in a namespace, as the API server has them now."""
        # (Every object of the kind at once, at each resync: decoded to the uids alone.)
        answer = self.request("GET", self._custom(kind, namespace), accept=METADATA_LIST, object_hook=uid_only) or {}
        return {uid for item in answer.get("items") or [] if (uid := (item.get("metadata") or {}).get("uid"))}

    def stream_children(self, kind: Kind, namespace: str, stream: str) -> builtins.list[Manifest]:
        """A kind's objects in a namespace whose spec.streamRef names `stream` (a stream's Restreams):
        from the operator's index of them by stream when it keeps one, else as the API server has them."""
        index = self.watched_by_stream.get(kind.kind)
        if index is not None:
            for _ in range(3):  # (read from an API thread while the event loop may update it)
                try:
                    return builtins.list(index[(namespace, stream)]) if (namespace, stream) in index else []
                except (KeyError, RuntimeError):
                    continue
        answer = self.request("GET", self._custom(kind, namespace)) or {}
        items: builtins.list[Manifest] = answer.get("items") or []
        return [i for i in items if ((i.get("spec") or {}).get("streamRef") or {}).get("name") == stream]

    def create_custom(self, kind: Kind, manifest: Manifest) -> Manifest | None:
        return self._create(self._custom(kind, manifest["metadata"].get("namespace") or ""), manifest)

    def patch_custom(self, kind: Kind, namespace: str, name: str, patch: Manifest) -> None:
        self.request("PATCH", self._custom(kind, namespace, name), patch, MERGE_PATCH)

    def delete_custom(self, kind: Kind, namespace: str, name: str, uid: str | None = None) -> None:
        self._delete(self._custom(kind, namespace, name), uid)

    def patch_status(self, kind: Kind, namespace: str, name: str, status_patch: Manifest) -> bool:
        """False when the object is gone."""
        path = self._custom(kind, namespace, name, "status")
        return self.request("PATCH", path, {"status": status_patch}, MERGE_PATCH) is not None
