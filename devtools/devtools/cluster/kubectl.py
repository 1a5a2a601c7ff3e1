"""kubectl against one cluster, for the harness (tests, the stack, the control plane, benchmarks): run it, apply
manifests, get and list objects as JSON, wait for a status. Errors raise AssertionError with kubectl's message."""

from __future__ import annotations

import argparse
import base64
import builtins  # `list` is also a method here
import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devtools.cluster.api_reads import ApiReads
from devtools.waits import eventually


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

    def apply(self, namespace: str, *manifests: dict[str, Any]) -> None:
        items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(items))

    def allow_reference(self, namespace: str, secret: str) -> None:
        """Label a Secret for use by the namespace's specs, as its owner would (docs/design/tenancy.md)."""
        self.kubectl("label", "secret", secret, "-n", namespace, "streaming.streamops.dev/allow-reference=true")

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

        try:
            return eventually(check, timeout=timeout, interval=0.1, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnose(ns)}") from None

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
        self.kubectl("patch", "rec", name, "-n", ns, "--type=merge", "-p", '{"spec":{"stopped":true}}')
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
