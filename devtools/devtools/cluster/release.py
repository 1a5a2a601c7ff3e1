"""streamops installed the way users install it: `helm install oci://…` of the chart the local cluster
(devtools.cluster.local_cluster) pushed to its LAN registry, with the images built here and pushed
there (their content-hash tags, pullPolicy IfNotPresent: the nodes pull them), and the release
namespace under PodSecurity `restricted`.

    from devtools.cluster.release import Release
    release = Release(cluster).install()   # + local_values(cluster): NodePorts, external host
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from devtools.address_plan import API_IP, API_PORT, CLUSTER_CIDR, OUTSIDE_IP, SERVICE_CIDR
from devtools.cluster.addons import COREDNS_PORT
from devtools.cluster.images import Image
from devtools.cluster.local_cluster import LocalCluster
from devtools.versions import REPO, helm_bin

RELEASE = "streamops"
NAMESPACE = "streamops-system"
CHART = REPO / "charts" / "streamops"


# Node loss (docs/design/node-loss.md): worker Pods tolerate an unreachable node 5 s (the chart's
# default is 30 s); of an evicted Pod's grace period 2 s count (default 15 s: nothing on a dead node
# runs it), and one still there 3 s past that is deleted for good (default 10 s: the margin for a
# slow kubelet), so that the node-loss test and demo do not wait a minute more than they must.
LOCAL_NODE_LOSS = {"tolerationSeconds": 5, "evictedGraceSeconds": 2, "forceDeleteAfterSeconds": 3}
# Viewer sessions count 10 s after their last request (default 30 s) and live metrics, viewer counts
# among them, are written every 2 s (default 10 s, as the cluster and e2e tiers run the operator):
# status.viewers follows viewers who leave within ≈15 s, not ≈45 s.
LOCAL_VIEWER_WINDOW_SECONDS = 10
LOCAL_METRICS_WRITE_SECONDS = 2


class ReleaseError(RuntimeError):
    pass


# The Prometheus of the monitoring test runs in this namespace (devtools.cluster.prometheus_operator).
MONITORING_NAMESPACE = "monitoring"


def network_policy_values() -> dict[str, Any]:
    """The chart's NetworkPolicies as this cluster needs them (kube-network-policies enforces them
    on every node): the API server's address, the cluster's ranges, and the LAN's one host (the S3
    server's relay, webhook receivers, overlay pages, pull origins and restream targets all listen
    on OUTSIDE_IP) allowed as a private destination. `metricsFrom` keeps the chart's default (no
    scraper): the monitoring test adds it as the README's Monitoring recipe does."""
    return {
        "networkPolicy": {
            "apiServerCIDRs": [f"{API_IP}/32"],
            "apiServerPorts": [API_PORT],
            "clusterCIDRs": [str(CLUSTER_CIDR), str(SERVICE_CIDR)],
            "egressAllowCIDRs": [f"{OUTSIDE_IP}/32"],
            # The local CoreDNS listens on 1053 (unprivileged); policies see the Pod's port.
            "dnsPorts": [COREDNS_PORT],
        }
    }


LOCAL_GEOIP = {"volume": {"configMap": {"name": "streamops-geoip", "optional": True}}, "file": "country.mmdb"}


def local_values(cluster: LocalCluster) -> dict[str, Any]:
    """The values a user of this cluster would set: ingest Services on NodePorts, with the first
    node's address as the external host status URLs are built with (any node's works: the
    Services' externalTrafficPolicy is Cluster), and each node as a regional ingest point (a zone of
    one node); NetworkPolicies for this cluster's addresses; Traefik's Pods as the proxies whose
    X-Forwarded-For names the viewer."""
    regions = [{"name": node.name, "externalHost": node.ip} for node in cluster.network.nodes]
    playback: dict[str, Any] = {"viewerWindowSeconds": LOCAL_VIEWER_WINDOW_SECONDS, "geoip": LOCAL_GEOIP}
    if cluster.ingress_controller:
        # Behind an ingress controller, as docs/design/playback-rules.md tells an admin: the edge (and
        # an ingest Traefik routes to) judge the LAN viewer's address, not Traefik's Pod.
        playback["trustedProxyCIDRs"] = cluster.ingress_controller_cidrs()
    return {
        "ingest": {"service": {"type": "NodePort"}, "externalHost": cluster.network.nodes[0].ip, "regions": regions},
        "worker": {"nodeLoss": LOCAL_NODE_LOSS, "telemetry": {"metricsWriteSeconds": LOCAL_METRICS_WRITE_SECONDS}},
        # A GeoIP database as an admin may give one (playback.geoip): a ConfigMap of each namespace that
        # wants countries (optional: the others mount nothing); tests/multinode/test_playback_rules_lan.py.
        "playback": playback,
        # Its NodePorts are plain HTTP (no TLS route on the LAN): WHIP and the publish page there.
        "publish": {"allowPlainHttp": True},
        **network_policy_values(),
    }


def image_values(cluster: LocalCluster, image: Image) -> dict[str, str]:
    """The image in the cluster's registry, by its content-hash tag: a kept cluster whose nodes hold
    an older build never mistakes it for this one (the appVersion tag names every build alike)."""
    repository, _, tag = cluster.image_ref(image).rpartition(":")
    return {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def merged(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


class Release:
    def __init__(self, cluster: LocalCluster, values: Mapping[str, Any] | None = None) -> None:
        self.cluster = cluster
        images: dict[str, Any] = {
            "image": image_values(cluster, cluster.operator_image),
            "worker": {"image": image_values(cluster, cluster.worker_image)},
            "operator": {"verbose": True},
        }
        if (overlay := cluster.overlay_image) is not None:
            images["worker"]["overlayImage"] = image_values(cluster, overlay)
        if cluster.edge_image is not None:
            images["edge"] = {"image": image_values(cluster, cluster.edge_image)}
        self.values = merged(merged(images, local_values(cluster)), values or {})
        self.install_seconds = 0.0
        self.installed = False
        # Set by restore_later(): the install is put back by the next helm command (a test's own upgrade
        # replaces every value, so the put-back is skipped) or by restore_if_due(); the callables run
        # after it (what may go only once the chart no longer renders it).
        self._restore_due: list[Callable[[], None]] | None = None

    def helm(self, *args: str, timeout: float = 300) -> str:
        argv = [str(helm_bin()), "--kubeconfig", str(self.cluster.kubeconfig), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise ReleaseError(f"helm {args[0]} failed: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    def install(self) -> Release:
        """`helm upgrade --install` (the release namespace first, under PodSecurity `restricted`) and wait
        for the operator Deployment to be available."""
        began = time.monotonic()
        self._install_with_values()
        self.install_seconds = time.monotonic() - began
        return self

    def restore_later(self, then: Callable[[], None] | None = None) -> None:
        """The install (chart and values) back, not now: before the next test that needs it
        (restore_if_due(): tests/conftest.py's pytest_runtest_setup), or never when the next helm
        command is a test's own upgrade, which sets every value anew. `then` runs once the chart
        rendered with the test's values is gone (its CRDs' removal, say)."""
        self._restore_due = [*(self._restore_due or []), *([then] if then else [])]

    def restore_if_due(self) -> None:
        """The install put back if a test left it changed (restore_later())."""
        if self._restore_due is not None:
            self._install_with_values()

    def chart_args(self, chart: Path | None = None) -> list[str]:
        """`chart` (a directory: another version of the chart), else the chart in the cluster's
        registry: oci://…/streamops --version <Chart.yaml's> --plain-http (the registry's portal on
        this machine's loopback speaks plain HTTP)."""
        if chart is not None:
            return [str(chart)]
        return [self.cluster.chart_ref, "--version", self.cluster.chart_version, "--plain-http"]

    def _install_with_values(self, values: Mapping[str, Any] | None = None, chart: Path | None = None) -> None:
        if not self.installed:
            namespace = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            }
            self.cluster.apply_objects([namespace])
        argv = [
            str(helm_bin()), "--kubeconfig", str(self.cluster.kubeconfig),
            "upgrade", "--install", RELEASE, *self.chart_args(chart), "--namespace", NAMESPACE,
            "--values", "-", "--wait", "--timeout", "240s",
        ]  # fmt: skip
        values = self.values if values is None else values
        began = time.monotonic()
        proc = subprocess.run(argv, input=json.dumps(values), capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise ReleaseError(f"helm install failed: {(proc.stderr or proc.stdout).strip()}\n{self.diagnose()}")
        self.installed = True
        self._after_the_restore()
        self._wait_for_a_current_leader()
        print(f"# helm upgrade --install and a new leader: {time.monotonic() - began:.1f}s", file=sys.stderr)

    def _after_the_restore(self) -> None:
        """What restore_later() left to do once the changed release is replaced (by the install's
        values or by a test's own)."""
        due, self._restore_due = self._restore_due or [], None
        for then in due:
            then()

    def _wait_for_a_current_leader(self, timeout: float = 60) -> None:
        """Until the leader is a Pod of the Deployment's newest ReplicaSet and not going away. `--wait`
        returns once the new Pods are ready, while the old leader may still reconcile with the old
        settings until it has stopped and a new Pod took the Lease: what a test reads then is the
        old operator's doing (an edge autoscaler created with the old maxReplicas, in one CI run)."""
        deadline = time.monotonic() + timeout
        while True:
            leader, newest = self.leader_pod(), self._newest_template_hash()
            if (
                leader is not None
                and not leader["metadata"].get("deletionTimestamp")
                and leader["metadata"].get("labels", {}).get("pod-template-hash") == newest
            ):
                return
            if time.monotonic() > deadline:
                raise ReleaseError(f"no operator of the new rollout leads after {timeout:.0f}s\n{self.diagnose()}")
            time.sleep(0.2)  # API reads: a poll costs milliseconds, and every helm command of a test waits here

    def _newest_template_hash(self) -> str:
        sets = self.cluster.list("replicasets.apps", NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")
        revision = "deployment.kubernetes.io/revision"
        newest = max(sets, key=lambda rs: int(rs["metadata"].get("annotations", {}).get(revision, "0")), default=None)
        return str(((newest or {}).get("metadata", {}).get("labels") or {}).get("pod-template-hash", ""))

    def upgrade(self, values: Mapping[str, Any] | None = None, chart: Path | None = None) -> None:
        """`helm upgrade` (waiting for the rollout) with `values` over the install's, as a user edits
        their values file; `chart`: another version of the chart. `upgrade()` puts the install back."""
        self._install_with_values(merged(self.values, values or {}), chart)

    def trust_the_ingress_controller(self) -> None:
        """Upgrade when Traefik's Pod addresses are no longer the ones the release trusts (a node lost
        and back gives its Pod a new one: tests/multinode/test_operator_ha.py); nothing otherwise.
        Edges and ingests created after it get the new list."""
        self.cluster.wait_ingress_controller()
        cidrs = self.cluster.ingress_controller_cidrs()
        if self.values["playback"].get("trustedProxyCIDRs") != cidrs:
            self.values = merged(self.values, {"playback": {"trustedProxyCIDRs": cidrs}})
            self._install_with_values()

    def operator_pods(self) -> list[dict[str, Any]]:
        return self.cluster.list("pods", NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")

    def leader(self) -> str:
        """The operator Pod holding the leader election Lease (named after the release): the one that
        reconciles; "" while none does."""
        lease = self.cluster.get("leases", NAMESPACE, RELEASE) or {}
        return str((lease.get("spec") or {}).get("holderIdentity") or "")

    def leader_pod(self) -> dict[str, Any] | None:
        name = self.leader()
        return next((p for p in self.operator_pods() if p["metadata"]["name"] == name), None)

    def reconciled_by_the_leader(self, *objects: tuple[str, str, str]) -> bool:
        """Whether the operator holding the Lease has reconciled each (kind, namespace, name) since it
        began to lead: it logs every object's first look at INFO ("LiveStream ns/cam: reconciled
        (generation 1)"), a standby nothing. What a test watching an operator's replacement waits
        for instead of a fixed window."""
        leader = self.leader()
        if not leader:
            return False
        log = self.cluster.kubectl("logs", "-n", NAMESPACE, f"pod/{leader}", "--tail=5000", check=False).stdout
        return all(f"{kind} {namespace}/{name}: reconciled" in log for kind, namespace, name in objects)

    def operator_logs(self, tail: int = 40) -> str:
        """The leader's log (the standbys only wait), else every operator Pod's."""
        leader = self.leader()
        which = [f"pod/{leader}"] if leader else ["-l", f"app.kubernetes.io/instance={RELEASE}"]
        return self.cluster.kubectl("logs", "-n", NAMESPACE, *which, f"--tail={tail}", check=False).stdout

    def diagnose(self) -> str:
        pods = self.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout
        events = self.cluster.kubectl("get", "events", "-n", NAMESPACE, check=False).stdout
        return f"{pods}\n{events}\n--- operator log tail:\n{self.operator_logs()}"

    def uninstall(self) -> None:
        self.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait")
        self.installed = False
        self._after_the_restore()
