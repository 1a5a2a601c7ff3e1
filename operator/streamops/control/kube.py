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
CORE_KINDS = {
    "Pod": "pod",
    "Service": "service",
    "Secret": "secret",
    "PersistentVolumeClaim": "persistent_volume_claim",
}


class NamespaceTerminating(Exception):
    """Nothing can be created in a namespace being deleted: its objects are going away too."""


def _data(response: Any) -> dict[str, Any]:
    return json.loads(response.data)


def _creation_error(e: ApiException, namespace: str) -> None:
    if e.status == 403 and "NamespaceTerminating" in (e.body or ""):
        raise NamespaceTerminating(namespace) from None


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

    # --- core objects (Pod, Service, Secret, PersistentVolumeClaim) -----------------------------
    def _core_call(self, verb: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.core, f"{verb}_namespaced_{CORE_KINDS[kind]}")(*args, **kwargs)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return _data(self._core_call("read", kind, name, namespace, _preload_content=False))
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def list(self, kind: str, label_selector: str) -> list[dict[str, Any]]:
        """Objects of a kind in all namespaces (the operator's own, by label)."""
        snake = CORE_KINDS[kind]
        response = getattr(self.core, f"list_{snake}_for_all_namespaces")(
            label_selector=label_selector, _preload_content=False
        )
        return _data(response).get("items") or []

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
            _creation_error(e, meta["namespace"])
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

    def create_custom(self, kind: Kind, manifest: dict[str, Any]) -> dict[str, Any] | None:
        namespace = manifest["metadata"]["namespace"]
        try:
            return self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, kind.plural, manifest)
        except ApiException as e:
            if e.status == 409:
                return None
            _creation_error(e, namespace)
            raise

    def patch_custom(self, kind: Kind, namespace: str, name: str, patch: dict[str, Any]) -> None:
        try:
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, kind.plural, name, patch, _content_type=MERGE_PATCH
            )
        except ApiException as e:
            if e.status != 404:
                raise

    def delete_custom(self, kind: Kind, namespace: str, name: str, uid: str | None = None) -> None:
        body = kubernetes.client.V1DeleteOptions(preconditions={"uid": uid} if uid else None)
        try:
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, kind.plural, name, body=body)
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    def patch_status(self, kind: Kind, namespace: str, name: str, status_patch: dict[str, Any]) -> bool:
        """False when the object is gone."""
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, kind.plural, name, {"status": status_patch}, _content_type=MERGE_PATCH
            )
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        return True
