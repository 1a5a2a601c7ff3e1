"""cert-manager on the local multi-node cluster (devtools.cluster.local_cluster): controller, webhook and
cainjector built from the core module (hack/build-cert-manager.sh), installed with `helm install` of the
module's own chart (what upstream's release manifest is rendered from), plus the issuers the tests use.
What it needs from the cluster and why: docs/design/local-cluster.md, "Add-ons".

    cm = CertManager(cluster)
    cm.install()                      # images into the nodes, helm install, issuers; waits until it answers
    cm.apply_namespace_ca(namespace)  # a self-signed Issuer -> a CA Certificate -> the CA Issuer `ca`
    cm.renew(namespace, "cam")        # as `cmctl renew`: the Certificate is issued again now
    cm.wait_issued(namespace, "cam", revision=2)
    cm.remove()

    python -m devtools.cluster.cert_manager install --dir .cluster   # onto `make cluster-up NODES=2`

The ClusterIssuers installed: `streamops-selfsigned` (self-signed) and `streamops-ca`, a CA issuer whose
CA is a Certificate of the self-signed one (Secret `streamops-local-ca` in the cert-manager namespace).
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.cluster.images import Image
from devtools.cluster.local_cluster import LocalCluster
from devtools.versions import REPO, cert_manager_dir, helm_bin
from devtools.waits import eventually

Obj = dict[str, Any]

NAMESPACE = "cert-manager"
RELEASE = "cert-manager"
DEPLOYMENTS = ("cert-manager", "cert-manager-webhook", "cert-manager-cainjector")
CRDS = tuple(
    f"{plural}.{group}"
    for group, plurals in (
        ("cert-manager.io", ("certificates", "certificaterequests", "issuers", "clusterissuers")),
        ("acme.cert-manager.io", ("orders", "challenges")),
    )
    for plural in plurals
)
SELF_SIGNED = "streamops-selfsigned"
CLUSTER_CA = "streamops-ca"
CA_SECRET = "streamops-local-ca"
LABELS = {"app.kubernetes.io/part-of": "streamops-local-cluster"}


def chart_dir() -> Path:
    """The module's chart as hack/build-cert-manager.sh versioned it (built with the binaries)."""
    chart = cert_manager_dir() / "chart"
    if not (chart / "Chart.yaml").exists():
        proc = subprocess.run(["bash", str(REPO / "hack/build-cert-manager.sh")], check=False)
        if proc.returncode != 0 or not (chart / "Chart.yaml").exists():
            raise RuntimeError(f"hack/build-cert-manager.sh did not produce {chart}")
    return chart


def image_value(image: Image) -> Obj:
    return {"repository": image.repository, "tag": image.version, "pullPolicy": "Never"}


def chart_values(controller: Image, webhook: Image, cainjector: Image) -> Obj:
    """The chart's values for this cluster: the images built here (imported, never pulled), the CRDs
    with the release (and removed with it: a test cluster keeps nothing), leases in cert-manager's own
    namespace, no startupapicheck Job (cmctl is not built; install() checks the API itself)."""
    return {
        "crds": {"enabled": True, "keep": False},
        "startupapicheck": {"enabled": False},
        "global": {"leaderElection": {"namespace": NAMESPACE}},
        "image": image_value(controller),
        "webhook": {"image": image_value(webhook)},
        "cainjector": {"image": image_value(cainjector)},
    }


def self_signed_cluster_issuer() -> Obj:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": SELF_SIGNED, "labels": LABELS},
        "spec": {"selfSigned": {}},
    }


def ca_certificate(name: str, namespace: str, secret: str, issuer: Mapping[str, str], common_name: str) -> Obj:
    """A CA certificate (isCA) issued by `issuer` ({"kind": ..., "name": ...}) into `secret`."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
        "spec": {
            "isCA": True,
            "commonName": common_name,
            "secretName": secret,
            "duration": "720h",
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"group": "cert-manager.io", **issuer},
        },
    }


def ca_issuer(kind: str, name: str, secret: str, namespace: str | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": LABELS}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "cert-manager.io/v1", "kind": kind, "metadata": meta, "spec": {"ca": {"secretName": secret}}}


def cluster_issuers() -> list[Obj]:
    """The self-signed ClusterIssuer, the CA it issues (in cert-manager's namespace: a ClusterIssuer
    reads its Secret from the cluster resource namespace) and the CA ClusterIssuer on it."""
    return [
        self_signed_cluster_issuer(),
        ca_certificate(
            CA_SECRET,
            NAMESPACE,
            CA_SECRET,
            {"kind": "ClusterIssuer", "name": SELF_SIGNED},
            "streamops local CA (cert-manager)",
        ),
        ca_issuer("ClusterIssuer", CLUSTER_CA, CA_SECRET),
    ]


def namespace_ca(namespace: str, issuer: str = "ca") -> list[Obj]:
    """A namespace's own CA, as a tenant sets one up: a self-signed Issuer, a CA Certificate from it
    (Secret `<issuer>-root`), and the CA Issuer `issuer` that signs with it."""
    self_signed: Obj = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": f"{issuer}-selfsigned", "namespace": namespace, "labels": LABELS},
        "spec": {"selfSigned": {}},
    }
    root = f"{issuer}-root"
    return [
        self_signed,
        ca_certificate(
            root, namespace, root, {"kind": "Issuer", "name": f"{issuer}-selfsigned"}, f"{namespace} CA (cert-manager)"
        ),
        ca_issuer("Issuer", issuer, root, namespace),
    ]


def issuing_condition(now: datetime) -> Obj:
    """The condition `cmctl renew` adds to a Certificate's status: cert-manager issues it again."""
    return {
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    return any(c["type"] == type_ and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions", []))


# -- on the cluster ------------------------------------------------------------------------------


class CertManager:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.install_seconds = 0.0

    @property
    def images(self) -> tuple[Image, Image, Image]:
        b = self.cluster.builder
        return b.cert_manager_controller(), b.cert_manager_webhook(), b.cert_manager_cainjector()

    def helm(self, *args: str, values: Mapping[str, Any] | None = None, timeout: float = 300) -> str:
        argv = [str(helm_bin()), "--kubeconfig", str(self.cluster.kubeconfig), *args]
        input_ = json.dumps(dict(values)) if values is not None else None
        proc = subprocess.run(argv, input=input_, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"helm {args[0]} failed: {(proc.stderr or proc.stdout).strip()}\n{self.diagnose()}")
        return proc.stdout

    def install(self, timeout: float = 240) -> None:
        """Import the images, `helm upgrade --install` the module's chart into a namespace under
        PodSecurity `restricted`, wait until the webhook answers, then the ClusterIssuers Ready."""
        began = time.monotonic()
        images = self.images
        self.cluster.import_images(list(images))
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": {**LABELS, "pod-security.kubernetes.io/enforce": "restricted"}},
        }
        self.cluster.wait_not_terminating("namespace", NAMESPACE)
        self.cluster.apply_objects([namespace])
        self.helm(
            "upgrade", "--install", RELEASE, str(chart_dir()), "--namespace", NAMESPACE, "--values", "-",
            "--wait", "--timeout", f"{timeout:.0f}s",
            values=chart_values(*images), timeout=timeout + 30,
        )  # fmt: skip
        self.wait_api(timeout)
        self.cluster.apply_objects(cluster_issuers())
        for name in (SELF_SIGNED, CLUSTER_CA):
            self.wait_ready("clusterissuers", "", name, timeout)
        self.install_seconds = time.monotonic() - began

    def wait_api(self, timeout: float = 120) -> None:
        """What upstream's startupapicheck (`cmctl check api`) checks: a cert-manager object passes the
        API server's admission, webhook included (dry run). That needs the webhook serving, its CA
        injected by the cainjector, and the API server reaching the webhook's Pod."""
        self.cluster.rollout(NAMESPACE, *DEPLOYMENTS, timeout=timeout)
        probe = self_signed_cluster_issuer() | {"metadata": {"name": "streamops-api-check"}}
        refusals: list[str] = []

        def admitted() -> bool:
            # `kubectl create --dry-run=server` through the API client (a kubectl process a second, 0.14 s of CPU each)
            try:
                self.cluster.create("", probe, dry_run=True)
            except AssertionError as refused:  # ApiRefused, or the API not answering
                refusals.append(str(refused))
                return False
            return True

        eventually(
            admitted,
            timeout=timeout,
            interval=1,
            what="cert-manager's webhook admitting a ClusterIssuer",
            explain=lambda: f"last refusal: {refusals[-1:]}\n{self.diagnose()}",
        )

    def _get(self, plural: str, namespace: str, name: str) -> Obj:
        """The object, {} while it is absent or its type is not served yet (the CRDs being applied)."""
        try:
            return self.cluster.get(plural, namespace, name) or {}
        except AssertionError:
            return {}

    def wait_ready(self, plural: str, namespace: str, name: str, timeout: float = 120) -> Obj:
        """A cert-manager object (issuer, Certificate) once its Ready condition is True."""

        def ready() -> Obj | None:
            obj = self._get(plural, namespace, name)
            return obj if condition_true(obj, "Ready") else None

        return eventually(
            ready, timeout=timeout, interval=1, what=f"{plural} {namespace}/{name} Ready",
            explain=lambda: self.diagnose(namespace),
        )  # fmt: skip

    def apply_namespace_ca(self, namespace: str, issuer: str = "ca", timeout: float = 120) -> None:
        self.cluster.apply_objects(namespace_ca(namespace, issuer))
        self.wait_ready("issuers", namespace, issuer, timeout)

    def renew(self, namespace: str, name: str) -> None:
        """Issue a Certificate again now, as `cmctl renew` does (the Issuing condition on its status)."""
        patch = [{"op": "add", "path": "/status/conditions/-", "value": issuing_condition(datetime.now(UTC))}]
        self.cluster.patch("certificate", namespace, name, patch, "json", subresource="status")

    def wait_issued(self, namespace: str, name: str, revision: int = 1, timeout: float = 120) -> Obj:
        """The Certificate once issued at least `revision` times (1: first issued, 2: renewed once),
        Ready and no longer Issuing."""

        def issued() -> Obj | None:
            cert = self._get("certificates", namespace, name)
            done = condition_true(cert, "Ready") and not condition_true(cert, "Issuing")
            return cert if done and (cert.get("status") or {}).get("revision", 0) >= revision else None

        return eventually(
            issued, timeout=timeout, interval=1, what=f"certificate {namespace}/{name} revision {revision}",
            explain=lambda: self.diagnose(namespace),
        )  # fmt: skip

    def secret_pem(self, namespace: str, secret: str, key: str = "tls.crt") -> str:
        obj = self.cluster.get("secrets", namespace, secret)
        assert obj is not None, f"no Secret {namespace}/{secret}"
        return base64.b64decode(obj["data"][key]).decode()

    def diagnose(self, namespace: str = "") -> str:
        k = self.cluster.kubectl
        out = [k("get", "pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout]
        if namespace:
            out.append(k("get", "certificates,certificaterequests,issuers", "-n", namespace, "-o", "wide",
                         check=False).stdout)  # fmt: skip
            out.append(k("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout[-2000:])
        for deployment in DEPLOYMENTS:
            out.append(f"--- {deployment}:")
            out.append(k("logs", "-n", NAMESPACE, f"deployment/{deployment}", "--tail=20", check=False).stdout)
        return "\n".join(out)

    def remove(self) -> None:
        """The issuers, the release (CRDs included: crds.keep is false) and the namespace."""
        k = self.cluster.kubectl
        k("delete", "clusterissuers", SELF_SIGNED, CLUSTER_CA, "--ignore-not-found", check=False)
        argv = [str(helm_bin()), "--kubeconfig", str(self.cluster.kubeconfig), "uninstall", RELEASE,
                "--namespace", NAMESPACE, "--wait", "--ignore-not-found"]  # fmt: skip
        subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        k("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("cmd", choices=("install", "remove"))
    parser.add_argument(
        "--dir", type=Path, required=True, help="the cluster's state directory (make cluster-up NODES=2)"
    )
    args = parser.parse_args(argv)
    cm = CertManager(LocalCluster(args.dir))
    if args.cmd == "install":
        cm.install()
        print(f"# cert-manager ready in {cm.install_seconds:.1f}s (ClusterIssuers {SELF_SIGNED}, {CLUSTER_CA})",
              file=sys.stderr)  # fmt: skip
    else:
        cm.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
