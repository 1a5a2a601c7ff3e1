"""kubectl against one cluster, for the harness (tests, the stack, the control plane, benchmarks): run it, apply,
create, patch and delete objects, get and list them as JSON, wait for a status. All but `kubectl()` itself go
through the API client (devtools.cluster.api_reads: no kubectl process each, docs/design/test-harness.md). Errors
raise AssertionError with kubectl's message (ApiRefused: the server's, which kubectl prints)."""

from __future__ import annotations

import argparse
import base64
import builtins  # `list` is also a method here
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devtools.cluster.api_reads import ApiReads, ApiRefused
from devtools.waits import eventually

FIELD_MANAGER = "streamops-harness"
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    """The condition `type_` in an object's status.conditions, None when absent."""
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return None


class Kubectl:
    def __init__(self, binary: Path | str, kubeconfig: Path | str, timeout: float = 120) -> None:
        self.binary, self.kubeconfig, self.timeout = str(binary), Path(kubeconfig), timeout
        self._reads: tuple[float, ApiReads] | None = None

    def reads(self) -> ApiReads:
        """get and list straight from the API server (devtools.cluster.api_reads: a kubectl process per
        poll cost more CPU than all the FFmpegs of a run), for the kubeconfig as it is now (rewritten
        when a control plane starts again)."""
        written = self.kubeconfig.stat().st_mtime
        if self._reads is None or self._reads[0] != written:
            self._reads = (written, ApiReads(self.kubeconfig, timeout=self.timeout))
        return self._reads[1]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            input=input, capture_output=True, text=True, timeout=self.timeout,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result

    def apply(self, namespace: str, *manifests: dict[str, Any], manager: str = FIELD_MANAGER) -> None:
        """Apply the manifests in order, each into `namespace` unless it names its own (or is cluster-scoped):
        server-side apply through the API client, forcing conflicts, which like `kubectl apply` makes the
        object what the manifest says (fields it set before and no longer sets are removed) whoever
        changed them since. Not a kubectl process: 0.14 s of CPU each, plus the API server's TLS handshake
        and discovery for it, 1,012 of them in a `make test` (docs/design/test-harness.md)."""
        reads = self.reads()
        for manifest in manifests:
            found = reads.resource_of(manifest["apiVersion"], manifest["kind"])
            meta = manifest["metadata"]
            where = (meta.get("namespace") or namespace or "default") if found.namespaced else ""
            body = {**manifest, "metadata": {**meta, "namespace": where}} if found.namespaced else manifest
            reads.send(
                "PATCH", found.path(where, meta["name"]), body, "application/apply-patch+yaml",
                [("fieldManager", manager), ("force", "true"), ("fieldValidation", "Strict")],
                what=f"apply {manifest['kind']} {where}/{meta['name']}".replace(" /", " "),
            )  # fmt: skip

    def create(self, namespace: str, manifest: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Create the object as `kubectl create` does (strict field validation); the object the server
        stored (or would store, `dry_run`); ApiRefused with the server's message when refused."""
        found = self.reads().resource_of(manifest["apiVersion"], manifest["kind"])
        where = (manifest["metadata"].get("namespace") or namespace) if found.namespaced else ""
        query = [("fieldManager", "kubectl-create"), ("fieldValidation", "Strict")]
        created = self.reads().send(
            "POST", found.path(where), manifest, query=query + ([("dryRun", "All")] if dry_run else []),
            what=f"create {manifest['kind']} {manifest['metadata'].get('name', '')}",
        )  # fmt: skip
        return dict(created)

    def patch(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any] | builtins.list[Any],
        type_: str = "merge", subresource: str = "",
    ) -> dict[str, Any]:  # fmt: skip
        """`kubectl patch PLURAL NAME --type=TYPE -p PATCH [--subresource=status]` through the API client:
        the patched object; ApiRefused with the server's message when refused."""
        path = self.reads().known(plural).path(namespace, name) + (f"/{subresource}" if subresource else "")
        patched = self.reads().send(
            "PATCH", path, patch, PATCH_TYPES[type_], [("fieldManager", "kubectl-patch")], what=f"patch {plural} {name}"
        )
        return dict(patched)

    def label(self, plural: str, namespace: str, name: str, labels: dict[str, str | None]) -> dict[str, Any]:
        """`kubectl label --overwrite` (None removes a label, as `KEY-` does)."""
        return self.patch(plural, namespace, name, {"metadata": {"labels": labels}})

    def annotate(self, plural: str, namespace: str, name: str, annotations: dict[str, str | None]) -> dict[str, Any]:
        """`kubectl annotate --overwrite` (None removes an annotation, as `KEY-` does)."""
        return self.patch(plural, namespace, name, {"metadata": {"annotations": annotations}})

    def cordon(self, node: str, unschedulable: bool = True) -> None:
        """`kubectl cordon NODE` (`uncordon`: unschedulable=False)."""
        self.patch("nodes", "", node, {"spec": {"unschedulable": unschedulable or None}})

    def create_secret(
        self, namespace: str, name: str, data: dict[str, str], type_: str = "Opaque"
    ) -> dict[str, Any]:  # fmt: skip
        """`kubectl create secret generic NAME --from-literal=KEY=VALUE...` (tls: type_ kubernetes.io/tls)."""
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type_, "data": encoded}
        return self.create(namespace, manifest)

    def delete(
        self, plural: str, namespace: str, *names: str, wait: bool = False, missing_ok: bool = False,
        timeout: float | None = None,
    ) -> None:  # fmt: skip
        """`kubectl delete PLURAL NAMES [--wait=false] [--ignore-not-found]`: background propagation, as
        kubectl's; with `wait` until each deleted object is gone (its finalizers done), as kubectl waits
        by default: by its UID, so an object a controller has already put back under the same name
        counts as gone (the operator's watch can recreate it before any read sees the name free)."""
        found = self.reads().known(plural)
        deleted: dict[str, str | None] = {}
        for name in names:
            try:
                answer = self.reads().send(
                    "DELETE", found.path(namespace, name), {"propagationPolicy": "Background"},
                    what=f"delete {plural} {name}",
                )  # fmt: skip
            except ApiRefused as e:
                if not (missing_ok and e.status == 404):
                    raise
                continue
            deleted[name] = _uid_of(answer)
        if wait:
            for name, uid in deleted.items():
                eventually(
                    lambda n=name, u=uid: _gone(self.get(plural, namespace, n), u),  # type: ignore[misc]
                    timeout=timeout or self.timeout, interval=0.1, what=f"{plural} {namespace}/{name} deleted",
                )  # fmt: skip

    def allow_reference(self, namespace: str, secret: str) -> None:
        """Label a Secret for use by the namespace's specs, as its owner would (docs/design/tenancy.md)."""
        self.label("secrets", namespace, secret, {"streaming.streamops.dev/allow-reference": "true"})

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object (`plural` as kubectl takes it: pods, lst, deployments.apps), None when NotFound."""
        return self.reads().get(plural, namespace, name)

    def list(self, plural: str, namespace: str, selector: str = "") -> builtins.list[dict[str, Any]]:
        return self.reads().list(plural, namespace, selector)

    def events(
        self, namespace: str, kind: str | None = None, name: str | None = None, reason: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The namespace's Events: those of one object (kind and/or name) and of one reason when given."""
        return [
            e
            for e in self.list("events", namespace)
            if kind in (None, e["involvedObject"].get("kind"))
            and name in (None, e["involvedObject"].get("name"))
            and reason in (None, e.get("reason"))
        ]

    def event_reasons(self, namespace: str, kind: str | None = None, name: str | None = None) -> builtins.list[str]:
        return [e["reason"] for e in self.events(namespace, kind, name)]

    def wait_status(
        self, plural: str, ns: str, name: str, probe: Callable[[dict[str, Any]], Any], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        """The object once probe(object) holds (a KeyError/TypeError from a status not there yet is a no);
        on time-out the AssertionError carries diagnose(ns)."""

        def check() -> dict[str, Any] | None:
            obj = self.get(plural, ns, name)  # a probe's KeyError (no status yet): eventually's NOT_YET
            return obj if obj is not None and probe(obj) else None

        return eventually(check, timeout=timeout, interval=0.1, what=what, explain=lambda: self.diagnose(ns))

    def rolled_out(self, plural: str, namespace: str, name: str) -> bool:
        """Whether a Deployment or DaemonSet has rolled out, by the rules of `kubectl rollout status`
        (its generation observed, every replica updated and available, no old one left), read from the API."""
        obj = self.get(plural, namespace, name)
        if obj is None:
            return False
        status, spec = obj.get("status") or {}, obj.get("spec") or {}
        if status.get("observedGeneration", 0) < obj["metadata"].get("generation", 0):
            return False
        if obj["kind"] == "DaemonSet":
            desired = status.get("desiredNumberScheduled", 0)
            return bool(status.get("updatedNumberScheduled", 0) >= desired <= status.get("numberAvailable", 0))
        progressing = condition(obj, "Progressing") or {}
        assert progressing.get("reason") != "ProgressDeadlineExceeded", f"{plural} {namespace}/{name}: {progressing}"
        updated = status.get("updatedReplicas", 0)
        return bool(
            updated >= spec.get("replicas", 1)
            and status.get("replicas", 0) <= updated
            and status.get("availableReplicas", 0) >= updated
        )

    def wait_rollout(self, plural: str, namespace: str, name: str, timeout: float = 180) -> None:
        """`kubectl rollout status` read from the API (a kubectl process per round cost 0.14 s of CPU)."""
        eventually(lambda: self.rolled_out(plural, namespace, name), timeout=timeout, interval=0.5,
                   what=f"{plural} {namespace}/{name} rolled out")  # fmt: skip

    def wait_established(self, *names: str, selector: str = "", timeout: float = 60) -> None:
        """The CRDs `names` (or those `selector` matches, at least one) Established, read from the API:
        `kubectl wait --for=condition=Established` fails at once on a CRD created a moment ago, which
        has no conditions yet (".status.conditions accessor error", the cold run cold1)."""
        assert names or selector, "which CRDs?"

        def established(crd: dict[str, Any] | None) -> bool:
            return (condition(crd, "Established") or {}).get("status") == "True"

        def all_established() -> bool:
            if names:
                return all(established(self.get("customresourcedefinitions", "", n)) for n in names)
            crds = self.list("customresourcedefinitions", "", selector)
            return bool(crds) and all(established(c) for c in crds)

        eventually(all_established, timeout=timeout, interval=0.1, what=f"CRDs {names or selector} Established")

    def stop_recording(self, ns: str, name: str, timeout: float = 90) -> dict[str, Any]:
        """Stop a Recording (`spec.stopped`, as `kubectl streamops` does) and return it once Succeeded
        (its videos finalised and stored)."""
        self.patch("rec", ns, name, {"spec": {"stopped": True}})
        return self.wait_status(
            "rec", ns, name, lambda o: (c := condition(o, "Succeeded")) and c["status"] == "True", "finished", timeout
        )

    def diagnose(self, ns: str) -> str:
        """What a failing wait prints (subclasses add logs)."""
        return self.kubectl("get", "pods,lst,rec,rst", "-n", ns, "-o", "wide", check=False).stdout

    def pod_running(self, ns: str, name: str) -> dict[str, Any] | None:
        pod = self.get("pods", ns, name)
        if pod and pod.get("status", {}).get("phase") == "Running":
            statuses = pod["status"].get("containerStatuses") or []
            if statuses and all("running" in s.get("state", {}) for s in statuses):
                return pod
        return None

    def stream_key(self, ns: str, stream: str) -> str:
        """The stream key from the LiveStream's Secret (generated, or the one its spec names)."""
        obj = self.get("livestreams", ns, stream)
        ref = ((obj or {}).get("status") or {}).get("ingest", {}).get("streamKeySecret") or f"{stream}-stream-key"
        secret = self.get("secrets", ns, ref)
        assert secret, f"no key Secret for {stream}"
        return base64.b64decode(secret["data"]["streamKey"]).decode()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m devtools.cluster.kubectl established -l SELECTOR` (make cluster-up, after applying crds/)."""
    parser = argparse.ArgumentParser(prog="devtools.cluster.kubectl")
    sub = parser.add_subparsers(dest="command", required=True)
    wait = sub.add_parser("established", help="wait for CRDs Established, read from the API")
    wait.add_argument("--kubeconfig", required=True)
    wait.add_argument("-l", "--selector", default="")
    wait.add_argument("--timeout", type=float, default=60)
    wait.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    Kubectl("kubectl", args.kubeconfig).wait_established(*args.names, selector=args.selector, timeout=args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _uid_of(answer: Any) -> str | None:
    """The deleted object's UID from a DELETE's answer: the object itself, or (some kinds) a Status
    whose details carry it; None when the answer names none."""
    if not isinstance(answer, dict):
        return None
    uid = (answer.get("metadata") or {}).get("uid") or (answer.get("details") or {}).get("uid")
    return uid if isinstance(uid, str) else None


def _gone(current: dict[str, Any] | None, uid: str | None) -> bool:
    """No object under the name, or another one than the deleted (its UID known)."""
    return current is None or (uid is not None and current["metadata"].get("uid") != uid)
