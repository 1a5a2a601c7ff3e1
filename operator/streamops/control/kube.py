"""A thin adapter over the Kubernetes API: plain dicts in and out, 404/409 turned into values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes.client import ApiException

from streamops.api.common import GROUP, VERSION
from streamops.api.kinds import Kind

# Always said explicitly: the client would otherwise pick json-patch for a dict body.
MERGE_PATCH = "application/merge-patch+json"


class NamespaceTerminating(Exception):
    """Nothing can be created in a namespace being deleted: its objects are going away too."""


def _data(response: Any) -> dict[str, Any]:
    return json.loads(response.data)


@dataclass
class KubeApi:
    core: kubernetes.client.CoreV1Api
    custom: kubernetes.client.CustomObjectsApi

    @classmethod
    def from_environment(cls) -> KubeApi:
        """In-cluster config inside a Pod, else $KUBECONFIG / ~/.kube/config."""
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        client = kubernetes.client.ApiClient()
        return cls(core=kubernetes.client.CoreV1Api(client), custom=kubernetes.client.CustomObjectsApi(client))

    # --- core objects (Pod, Service, Secret) -----------------------------------------------------
    def _core_call(self, verb: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        snake = {"Pod": "pod", "Service": "service", "Secret": "secret"}[kind]
        return getattr(self.core, f"{verb}_namespaced_{snake}")(*args, **kwargs)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _data(self._core_call("read", kind, name, namespace, _preload_content=False))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create; None when it already exists (another reconcile got there first)."""
        meta = manifest["metadata"]
        try:
            return _data(
                self._core_call("create", manifest["kind"], meta["namespace"], manifest, _preload_content=False)
            )
        except ApiException as e:
            if e.status == 409:
                return None
            if e.status == 403 and "NamespaceTerminating" in (e.body or ""):
                raise NamespaceTerminating(meta["namespace"]) from None
            raise

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._core_call("patch", kind, name, namespace, patch, _content_type=MERGE_PATCH)

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        """Delete (only the object with this uid, when given); gone already is fine."""
        body = kubernetes.client.V1DeleteOptions(preconditions={"uid": uid} if uid else None)
        try:
            self._core_call("delete", kind, name, namespace, body=body)
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    # --- custom resources ------------------------------------------------------------------------
    def get_custom(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, kind.plural, name)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def patch_status(self, kind: Kind, namespace: str, name: str, status_patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, kind.plural, name, {"status": status_patch}, _content_type=MERGE_PATCH
        )
