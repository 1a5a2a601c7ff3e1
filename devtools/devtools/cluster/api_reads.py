"""Reads of one cluster's objects straight from its API server, for the harness's `get` and `list`.

Why not kubectl: the tests wait by polling (`wait_status` every 0.1 s, `eventually` every second), and
each `kubectl get` is a Go process that loads its kubeconfig and discovery cache: ≈75 ms of CPU. In
one warm `make test` (2026-11-28) 4000 of them took 5.0 CPU-minutes, 13 % of all the CPU the run's
processes used on 2 cores, more than every FFmpeg together. A GET on a kept-alive connection is a few
milliseconds. The kubeconfig is read by the official client (kubernetes.config: certificates, tokens,
exec plugins alike), the requests go through its connection pool; resource names (plural, singular,
short name, `plural.group`) resolve through the server's discovery, read once, as kubectl resolves them
(the core group first, then the groups in the server's order)."""

from __future__ import annotations

import builtins  # `list` is also a method here
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as `kubectl get -o json` prints it (managedFields left out since kubectl 1.21)."""
    obj.get("metadata", {}).pop("managedFields", None)
    return dict(obj)


class ApiReadError(AssertionError):
    """A read the server refused (anything but NotFound), with its status and message."""


class ApiRefused(AssertionError):
    """A write the server refused: its HTTP status and its Status message, the text kubectl prints
    after "error:" (`LiveStream.streaming.streamops.dev "cam" is invalid: spec.source: Required value`)."""

    def __init__(self, what: str, status: int, message: str) -> None:
        super().__init__(f"{what}: {status}: {message}")
        self.status, self.message = status, message


def status_message(body: bytes | str | None) -> str:
    """The message of the Status an API server answers a refused request with (the body when it is not one)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else (body or "")
    try:
        return str(json.loads(text).get("message") or text)
    except (ValueError, AttributeError):
        return text


@dataclass(frozen=True)
class Resource:
    group_version: str  # "v1", "apps/v1"
    plural: str
    kind: str
    namespaced: bool

    def path(self, namespace: str, name: str = "") -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        where = f"/namespaces/{namespace or 'default'}" if self.namespaced else ""
        return f"{base}{where}/{self.plural}" + (f"/{name}" if name else "")


class ApiReads:
    """get and list against the cluster of `kubeconfig` (its current context)."""

    def __init__(self, kubeconfig: Path, timeout: float) -> None:
        self.kubeconfig, self.timeout = kubeconfig, timeout
        self._client: ApiClient | None = None
        self._names: dict[str, Resource] | None = None
        self._lock = threading.Lock()

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, None when NotFound."""
        found = self.known(resource)
        try:
            return without_managed_fields(self._read(found.path(namespace, name)))
        except ApiException as e:
            if e.status == 404:
                return None
            raise ApiReadError(f"GET {resource} {namespace}/{name}: {e.status} {e.reason}: {e.body!r}") from None
        except HTTPError as e:  # the server not answering (stopped, restarting)
            raise ApiReadError(f"GET {resource} {namespace}/{name}: {e}") from None

    def list(self, resource: str, namespace: str, selector: str = "") -> builtins.list[dict[str, Any]]:
        """The objects, each with apiVersion and kind as `kubectl get -o json` gives them."""
        found = self.known(resource)
        query = [("labelSelector", selector)] if selector else []
        try:
            items = self._read(found.path(namespace), query)["items"]
        except ApiException as e:
            raise ApiReadError(f"LIST {resource} in {namespace}: {e.status} {e.reason}: {e.body!r}") from None
        except HTTPError as e:
            raise ApiReadError(f"LIST {resource} in {namespace}: {e}") from None
        for item in items:
            item.setdefault("apiVersion", found.group_version)
            item.setdefault("kind", found.kind)
        return [without_managed_fields(item) for item in items]

    def send(
        self, method: str, path: str, body: Any, content_type: str = "application/json",
        query: builtins.list[tuple[str, str]] | None = None, what: str = "",
    ) -> Any:  # fmt: skip
        """A write (POST, PATCH, PUT, DELETE) as kubectl's create/apply/patch/label/delete make it, on
        the same kept-alive connection as the reads (a kubectl process costs ≈0.14 s of CPU and a new
        TLS connection and discovery in the API server); the answer's object, ApiRefused when refused."""
        try:
            return self._call(path, method, query, body, content_type)
        except ApiException as e:
            raise ApiRefused(what or f"{method} {path}", e.status, status_message(e.body)) from None
        except HTTPError as e:
            raise ApiRefused(what or f"{method} {path}", 0, str(e)) from None

    def resource_of(self, api_version: str, kind: str) -> Resource:
        """The resource serving objects of `kind` in `api_version` (how an applied manifest is routed)."""
        group = api_version.rpartition("/")[0]
        singular = kind.lower() + (f".{group}" if group else "")
        found = self.resolve(singular)
        if found is not None and found.group_version == api_version and found.kind == kind:
            return found
        try:  # a version other than the preferred one: its own discovery document
            listed = self._read("/api/v1" if api_version == "v1" else f"/apis/{api_version}")["resources"]
        except ApiException:
            listed = []
        for r in listed:
            if r["kind"] == kind and "/" not in r["name"]:
                return Resource(api_version, r["name"], kind, r["namespaced"])
        raise ApiReadError(f'error: no matches for kind "{kind}" in version "{api_version}"')

    def resolve(self, resource: str) -> Resource | None:
        """`pods`, `pod`, `po`, `lst`, `deployments.apps`: the resource, None when the server has none
        of that name. Discovery is read again once for a name it did not know (a CRD installed since)."""
        key = resource.lower()
        if (names := self._names) is not None and key in names:
            return names[key]
        names = self._discover()
        self._names = names
        return names.get(key)

    def known(self, resource: str) -> Resource:
        found = self.resolve(resource)
        if found is None:  # as kubectl says it (a CRD not installed yet)
            raise ApiReadError(f"error: the server doesn't have a resource type {resource!r}")
        return found

    def _api(self) -> ApiClient:
        with self._lock:
            if self._client is None:
                self._client = config.new_client_from_config(config_file=str(self.kubeconfig), persist_config=False)
            return self._client

    def _read(self, path: str, query: builtins.list[tuple[str, str]] | None = None) -> Any:
        return self._call(path, "GET", query)

    def _call(
        self, path: str, method: str, query: builtins.list[tuple[str, str]] | None = None, body: Any = None,
        content_type: str = "application/json",
    ) -> Any:  # fmt: skip
        api = self._api()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        # The loader keeps a token (or an exec plugin's, refreshed by this call) under "authorization",
        # which the 36 client's auth_settings() never looks up (it knows "BearerToken" only).
        if token := api.configuration.get_api_key_with_prefix("authorization"):
            headers["authorization"] = token
        response = api.call_api(
            path, method, query_params=query or [], header_params=headers, body=body, _preload_content=False,
            _return_http_data_only=True, _request_timeout=self.timeout,
        )  # fmt: skip
        return json.loads(response.data) if response.data else None

    def _discover(self) -> dict[str, Resource]:
        versions = ["v1"]
        for group in self._read("/apis")["groups"]:
            versions.append(group["preferredVersion"]["groupVersion"])
        names: dict[str, Resource] = {}
        for group_version in versions:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            try:
                listed = self._read(path)["resources"]
            except ApiException:  # an aggregated API not serving (metrics-server starting): skip it
                continue
            group = group_version.rpartition("/")[0]
            for r in listed:
                if "/" in r["name"]:  # a subresource (pods/log)
                    continue
                resource = Resource(group_version, r["name"], r["kind"], r["namespaced"])
                aliases = [r["name"], r.get("singularName") or r["kind"].lower(), *r.get("shortNames", [])]
                for alias in aliases:
                    names.setdefault(alias.lower(), resource)  # the first group to name it wins
                    if group:
                        names.setdefault(f"{alias}.{group}".lower(), resource)
        return names
