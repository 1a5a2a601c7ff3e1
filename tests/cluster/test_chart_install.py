"""The chart installed for real on a private control plane (etcd + kube-apiserver with an audit
log of the operator's ServiceAccount + kube-controller-manager), so nothing of the cluster suite's
shared control plane is touched:

- `kubectl apply -f crds/ -f deploy/` (the README's plain path) works and the ReplicaSet controller
  gets the operator Pod admitted in the namespace deploy/ labels PodSecurity `restricted`;
- the chart's RBAC is exactly what the operator uses: `streamops operator --leader-election` runs
  with a token minted for the chart's ServiceAccount (`kubectl create token`), a LiveStream is walked
  through every path of its reconciler, the audit log shows no refused request and every verb the
  chart grants on the resources exercised (the Lease's too) is used; a verb removed from the
  ClusterRole breaks the operator;
- kstatus (sigs.k8s.io/cli-utils rules) and the Argo CD Lua health checks classify the real
  objects: Failed/Degraded, InProgress/Progressing, Current/Healthy, Suspended, Terminating;
- worker Pods the operator creates are admitted under PodSecurity `restricted` (without
  hostNetwork; with it they are refused, as `restricted` demands);
- `helm install`, an upgrade that changes a CRD, `helm uninstall` keeping the CRDs and the streams.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtools.catalog import livestream, recording, restream
from devtools.chart import CHART, RELEASE_NAMESPACE, argo_health, find, helm, kstatus, objects, render
from devtools.cluster import suite as cluster_harness
from devtools.cluster.controlplane import ControlPlane
from devtools.cluster.operator_process import OperatorProcess
from devtools.cluster.suite import Cluster, Operator
from devtools.versions import REPO
from devtools.waits import eventually

GROUP = "streaming.streamops.dev"
SA = "streamops"
SA_USER = f"system:serviceaccount:{RELEASE_NAMESPACE}:{SA}"
# Resources the scenario below drives through every verb the reconciler has for them. A verb the
# chart grants on one of these that the audit log never shows is a verb too many.
COVERED = {
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    (GROUP, "livestreams"),
    (GROUP, "livestreams/status"),
    ("", "pods"),
    ("", "services"),
    ("discovery.k8s.io", "endpointslices"),  # the ingest Services' (Ready waits for them): list, watch
    ("", "secrets"),
    ("", "events"),
    ("events.k8s.io", "events"),
    ("coordination.k8s.io", "leases"),  # the operator runs with leader election, as the chart runs it
    ("apps", "deployments"),  # the edge tier (playback.edge)
    ("autoscaling", "horizontalpodautoscalers"),
    ("", "configmaps"),
}
# Verbs on covered resources that only another scenario uses: Events are patched only to update a
# Restream's aggregated RestreamBackoff Warning (tests/cluster/test_restream_events.py needs it,
# under rbac.py's rules).
ELSEWHERE = {("", "events", "patch")}
# Not covered: Recording/Restream/Clip paths (their own suites run the operator under rbac.py's rules),
# PersistentVolumeClaims (recordings), and <kind>/finalizers `update`, which only the
# OwnerReferencesPermissionEnforcement admission plugin checks (an authorizer call, not a request
# the audit log could show).


class AuditedControlPlane(ControlPlane):
    """The test control plane, plus an audit log of every request the operator's SA makes."""

    def __init__(self, dir: Path, **kwargs: Any) -> None:
        super().__init__(dir, **kwargs)
        self.audit_log = self.dir / "audit.jsonl"
        self.audit_policy = self.dir / "audit-policy.yaml"

    def _spawn(self, name: str, argv: list[str]) -> Any:
        if name == "kube-apiserver":
            self.dir.mkdir(parents=True, exist_ok=True)
            policy = {
                "apiVersion": "audit.k8s.io/v1",
                "kind": "Policy",
                "omitStages": ["RequestReceived"],
                "rules": [{"level": "Metadata", "users": [SA_USER]}, {"level": "None"}],
            }
            self.audit_policy.write_text(yaml.safe_dump(policy))
            argv = [
                *argv,
                f"--audit-policy-file={self.audit_policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ]
        return super()._spawn(name, argv)


def audit_requests(log: Path, since: float = 0.0) -> list[dict[str, Any]]:
    """(group, resource[/subresource], verb, code) of the SA's resource requests after `since`."""
    out = []
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef")
        if event.get("user", {}).get("username") != SA_USER or not ref or "resource" not in ref:
            continue
        stamp = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
        if stamp < since:
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        out.append(
            {
                "group": ref.get("apiGroup", ""),
                "resource": resource,
                "verb": event["verb"],
                "code": event.get("responseStatus", {}).get("code", 0),
                "name": ref.get("name", ""),
            }
        )
    return out


def granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


class Rbac:
    """The chart's RBAC objects on the private control plane, and a kubeconfig with the SA's token."""

    def __init__(self, plane: AuditedControlPlane, admin: Cluster, work: Path) -> None:
        self.plane, self.admin, self.work = plane, admin, work
        kinds = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
        self.objects = [o for o in objects(render()) if o["kind"] in kinds]
        (self.cluster_role,) = find(self.objects, "ClusterRole")
        self.rules: list[dict[str, Any]] = copy.deepcopy(self.cluster_role["rules"])
        (self.leader_election_role,) = find(self.objects, "Role")  # the Lease, in the release namespace

    def install(self) -> None:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RELEASE_NAMESPACE}}
        self.admin.apply("", ns, *self.objects)

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        role = copy.deepcopy(self.cluster_role)
        role["rules"] = rules
        self.admin.apply("", role)

    def kubeconfig(self) -> Path:
        return self.plane.service_account_kubeconfig(self.work / "sa.kubeconfig", RELEASE_NAMESPACE, SA, duration="2h")


@pytest.fixture(scope="module")
def rbac(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rbac]:
    # With a controller-manager: the ReplicaSet controller creates the operator Pod of deploy/.
    plane = AuditedControlPlane(tmp_path_factory.mktemp("rbac-plane"))
    plane.start()
    try:
        admin = Cluster(plane)
        admin.apply_crds()
        r = Rbac(plane, admin, tmp_path_factory.mktemp("rbac"))
        r.install()
        yield r
    finally:
        plane.stop()


def sa_operator(rbac: Rbac, name: str) -> Operator:
    """`streamops operator` whose only credentials are the SA token (no admin kubeconfig)."""
    return Operator(rbac.admin, rbac.work / f"{name}.log", kubeconfig=rbac.kubeconfig())


def elected_sa_operator(rbac: Rbac, name: str) -> OperatorProcess:
    """The same, with leader election in the release namespace as the chart runs it."""
    args = ("--verbose", "--leader-election", f"--lease-namespace={RELEASE_NAMESPACE}")
    return OperatorProcess(rbac.kubeconfig(), rbac.work / f"{name}.log", cluster_harness.OPERATOR_ENV, args=args)


def new_namespace(admin: Cluster, labels: dict[str, str] | None = None) -> str:
    ns = f"rb-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels or {}}}
    admin.apply("", body)
    # The controller-manager gives every namespace its `default` ServiceAccount; Pods need it.
    eventually(lambda: admin.get("serviceaccounts", ns, "default"), what=f"ServiceAccount default in {ns}")
    return ns


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return c
    return None


def run_pod(admin: Cluster, ns: str, pod: dict[str, Any]) -> None:
    """What a kubelet would report for a running, ready ingest Pod."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
        ],
    }
    admin.core.patch_namespaced_pod_status(
        pod["metadata"]["name"], ns, {"status": status}, _content_type="application/merge-patch+json"
    )


def kids(admin: Cluster, ns: str, plural: str) -> list[dict[str, Any]]:
    return admin.list(plural, ns, f"{GROUP}/stream=cam")


def exercise_livestream(admin: Cluster, ns: str) -> None:
    """Every path of the LiveStream reconciler, as the operator's SA."""
    push = {"protocols": ["rtmp", "srt"], "backup": True}
    admin.apply(ns, livestream("cam", source={"push": push}))
    # Created: key Secret, a Service and a Pod per ingest (primary, backup), a Ready condition.
    eventually(lambda: len(kids(admin, ns, "pods")) == 2, timeout=60, what="primary and backup Pods")
    # Each role's Service and its internal one (docs/design/surfaces.md).
    eventually(lambda: len(kids(admin, ns, "services")) == 4, what="primary and backup Services, internal ones")
    # The stream key and the workers' credential (docs/design/surfaces.md).
    assert len(kids(admin, ns, "secrets")) == 2
    # Pods running (as a kubelet would say): Ready True, posted as an Event.
    for pod in kids(admin, ns, "pods"):
        run_pod(admin, ns, pod)
    eventually(
        lambda: (condition(admin.get("livestreams", ns, "cam"), "Ready") or {}).get("status") == "True",
        timeout=60,
        what="Ready=True once the Pods run",
    )
    eventually(
        lambda: [e for e in admin.list("events", ns) if e["involvedObject"].get("kind") == "LiveStream"],
        what="an Event on the LiveStream",
    )
    # A spec change the workers see: Services patched (SRT port gone), Pods rolled.
    old = {p["metadata"]["uid"] for p in kids(admin, ns, "pods")}
    admin.apply(ns, livestream("cam", source={"push": {**push, "protocols": ["rtmp"]}}))
    eventually(
        lambda: all("srt" not in {p["name"] for p in s["spec"]["ports"]} for s in kids(admin, ns, "services")),
        timeout=60,
        what="Services patched without the SRT port",
    )
    eventually(
        lambda: (p := kids(admin, ns, "pods")) and len(p) == 2 and not old & {x["metadata"]["uid"] for x in p},
        timeout=60,
        what="both Pods rolled",
    )
    # Backup removed: its Service and Pod are deleted.
    admin.apply(ns, livestream("cam", source={"push": {**push, "protocols": ["rtmp"], "backup": False}}))
    eventually(lambda: len(kids(admin, ns, "services")) == 2, timeout=60, what="backup Services deleted")
    eventually(lambda: len(kids(admin, ns, "pods")) == 1, timeout=60, what="backup Pod deleted")
    # A key Secret the user references is looked up (get), never generated or listed.
    admin.apply(ns, livestream("byo", source={"push": {"streamKeySecretRef": {"name": "byo-key"}}}))
    eventually(
        lambda: (
            (condition(admin.get("livestreams", ns, "byo"), "Ready") or {}).get("reason") == "StreamKeySecretNotFound"
        ),
        timeout=60,
        what="the missing referenced key said in Ready",
    )
    # Two streams naming a PlaybackPolicy: the namespace's rules ConfigMap made, then patched per stream.
    rules = {"deniedCIDRs": ["192.0.2.0/24"]}
    admin.apply(ns, {"apiVersion": f"{GROUP}/v1alpha1", "kind": "PlaybackPolicy", "metadata": {"name": "sites"},
                     "spec": rules})  # fmt: skip
    for name in ("ruled-a", "ruled-b"):
        admin.apply(ns, livestream(name, playback={"policyRef": {"name": "sites"}}))
    eventually(
        lambda: (
            {"ruled-a.json", "ruled-b.json"}
            <= set((admin.get("configmaps", ns, "streamops-playback-rules") or {}).get("data") or {})
        ),
        timeout=60,
        what="both streams' rules in the namespace's ConfigMap",
    )
    # A warm recorder (recording.standby) handed over to a Recording: a patch of the Pod.
    admin.apply(ns, livestream("warm", recording={"standby": True}))
    standby = eventually(lambda: admin.get("pods", ns, "warm-recorder-1"), timeout=60, what="standby recorder")
    run_pod(admin, ns, standby)
    admin.apply(ns, recording("take", streamRef={"name": "warm"}))
    eventually(
        lambda: (
            ((admin.get("pods", ns, "warm-recorder-1") or {})["metadata"].get("annotations") or {}).get(
                f"{GROUP}/adopted-by"
            )
            == "take"
        ),
        timeout=60,
        what="the standby adopted by the Recording",
    )
    exercise_edge(admin, ns)
    exercise_webhooks(admin, ns)
    # A stream from a version whose loops were kopf daemons carries kopf's finalizer: the operator
    # removes it (the one patch of a LiveStream itself; status goes through livestreams/status).
    upgraded = livestream("old")
    upgraded["metadata"]["finalizers"] = [f"{GROUP}/finalizer"]
    admin.apply(ns, upgraded)
    eventually(
        lambda: (
            not (admin.get("livestreams", ns, "old") or {"metadata": {"finalizers": ["?"]}})["metadata"].get(
                "finalizers"
            )
        ),
        timeout=60,
        what="the earlier version's finalizer removed",
    )


def exercise_edge(admin: Cluster, ns: str) -> None:
    """The namespace's edge tier (docs/design/playback.md) shared by two streams, one with its own path
    (the routes ConfigMap), both leaving it; a signed stream's playback keys Secret."""
    routed = {"ingress": {"host": "tv.example"}, "edge": {"enabled": True}}

    def owners() -> list[str]:
        deployment = admin.get("deployments", ns, "streamops-edge") or {"metadata": {}}
        return sorted(o["name"] for o in deployment["metadata"].get("ownerReferences") or [])

    admin.apply(ns, livestream("e1", playback=routed))
    # The edge made for e1 alone first: e2 then changes what exists (update of the Deployment and
    # the routes). Applied together, one look may see both streams and only create.
    eventually(lambda: owners() == ["e1"], timeout=60, what="the edge owned by e1")
    eventually(lambda: admin.get("configmaps", ns, "streamops-edge"), timeout=60, what="the edge's routes for e1")
    admin.apply(
        ns, livestream("e2", playback={**routed, "ingress": {"host": "tv.example", "path": f"/streams/{ns}/e2-custom"}})
    )
    eventually(lambda: owners() == ["e1", "e2"], timeout=60, what="the edge owned by both streams")
    eventually(lambda: admin.get("horizontalpodautoscalers", ns, "streamops-edge"), what="the edge's autoscaler")
    eventually(
        lambda: (
            f"/streams/{ns}/e2-custom e2"
            in ((admin.get("configmaps", ns, "streamops-edge") or {}).get("data") or {}).get("routes", "")
        ),
        timeout=60,
        what="e2's own path in the edge's routes",
    )
    for name in ("e2", "e1"):
        admin.apply(ns, livestream(name, playback={**routed, "edge": {"enabled": False}}))
    eventually(lambda: admin.get("deployments", ns, "streamops-edge") is None, timeout=60, what="the edge deleted")
    admin.apply(ns, livestream("sig", playback={"access": "signed"}))
    eventually(lambda: admin.get("secrets", ns, "streamops-playback-keys"), timeout=60, what="the playback keys")


def exercise_webhooks(admin: Cluster, ns: str) -> None:
    """A StreamWebhook (docs/design/webhooks.md): the namespace's outboxes listed, one created per
    selected stream, its status written; deleted, the drained outboxes go."""
    admin.create_secret(ns, "hook", {"secret": "s3cret-value"})
    admin.allow_reference(ns, "hook")
    hook = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "StreamWebhook",
        "metadata": {"name": "hook"},
        "spec": {"url": "http://127.0.0.1:9/hook", "secretRef": {"name": "hook"}},
    }
    admin.apply(ns, hook)
    eventually(lambda: admin.get("configmaps", ns, "streamops-events-cam"), timeout=60, what="cam's outbox")
    eventually(lambda: (admin.get("streamwebhooks", ns, "hook") or {}).get("status"), what="the webhook's status")
    admin.delete("streamwebhook", ns, "hook", wait=True)
    eventually(
        lambda: admin.get("configmaps", ns, "streamops-events-cam") is None, timeout=60, what="the outbox deleted"
    )


def test_kubectl_apply_crds_and_deploy(rbac: Rbac) -> None:
    """The plain path from the README, for real: `kubectl apply -f crds/ -f deploy/`. The
    ReplicaSet controller then creates the operator Pod in streamops-system, which deploy/ labels
    PodSecurity `restricted` (no kubelet here, so the Pod stays Pending)."""
    result = rbac.admin.kubectl("apply", "-f", str(REPO / "crds"), "-f", str(REPO / "deploy"))
    assert "deployment.apps/streamops created" in result.stdout, result.stdout
    ns = rbac.admin.get("namespaces", "", RELEASE_NAMESPACE)
    assert ns is not None and ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = eventually(
        lambda: rbac.admin.list("pods", RELEASE_NAMESPACE, "app.kubernetes.io/name=streamops"),
        timeout=60,
        what="the operator Pod, created by the ReplicaSet under PodSecurity restricted",
    )
    assert pods[0]["spec"]["serviceAccountName"] == SA
    assert pods[0]["spec"]["containers"][0]["image"] == "ghcr.io/streamops/streamops-operator:0.1.0"
    can = rbac.admin.kubectl(
        "auth", "can-i", "patch", f"livestreams.{GROUP}", "--subresource=status", f"--as={SA_USER}", "-n", "default",
        check=False,
    )  # fmt: skip
    assert can.stdout.strip() == "yes", can.stdout + can.stderr


def test_chart_rbac_is_enough_and_nothing_more(rbac: Rbac) -> None:
    ns = new_namespace(rbac.admin)
    op = elected_sa_operator(rbac, "operator-full-rbac")
    since = time.time() - 1
    op.start()
    try:
        exercise_livestream(rbac.admin, ns)
        time.sleep(1)  # the last Events and status writes of the scenario reach the audit log
    finally:
        op.stop()  # (the Lease is released: an update)
    requests = audit_requests(rbac.plane.audit_log, since)
    refused = sorted({(r["group"], r["resource"], r["verb"], r["name"]) for r in requests if r["code"] == 403})
    assert not refused, f"requests the chart's RBAC refused: {refused}\n{op.logs()[-3000:]}"
    used = {(r["group"], r["resource"], r["verb"]) for r in requests}
    allowed = granted(rbac.rules) | granted(rbac.leader_election_role["rules"])
    assert used <= allowed  # (no 403 means the same; said twice so the message is clear)
    unused = sorted((g, r, v) for g, r, v in allowed - used - ELSEWHERE if (g, r) in COVERED)
    assert not unused, (
        f"verbs the chart grants (from streamops.control.runtime.rbac) that the operator never used: {unused}; "
        "drop them from cluster_role_rules(), or extend exercise_livestream() with the path that uses them"
    )
    assert "Forbidden" not in op.logs() and "forbidden" not in op.logs(), op.logs()[-3000:]


RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
# What Argo CD may say about an object in each kstatus state (the two must never disagree).
AGREE = {
    "Failed": {"Degraded"},
    "InProgress": {"Progressing"},
    "Current": {"Healthy", "Suspended", "Progressing"},  # Progressing: waiting on something outside
    "Terminating": {"Progressing", "Healthy", "Degraded", "Suspended"},
}


def test_kstatus_and_argo_health_of_real_objects(rbac: Rbac) -> None:
    admin = rbac.admin
    ns = new_namespace(admin)
    op = sa_operator(rbac, "operator-kstatus")

    def health(plural: str, kind: str, name: str) -> tuple[str, str, dict[str, Any]]:
        obj = admin.get(plural, ns, name)
        assert obj is not None
        return kstatus(obj)[0], argo_health(kind, obj)[0], obj

    def reaches(name: str, want: tuple[str, str]) -> None:
        eventually(lambda: health("livestreams", "LiveStream", name)[:2] == want, timeout=60, what=f"{name}: {want}")

    op.start()
    try:
        # Failed / Degraded: the referenced key Secret does not exist (Stalled).
        push = {"protocols": ["rtmp"], "streamKeySecretRef": {"name": "absent"}}
        admin.apply(ns, livestream("nokey", source={"push": push}))
        reaches("nokey", ("Failed", "Degraded"))
        # InProgress / Progressing: the ingest Pod does not run yet (Reconciling).
        admin.apply(ns, livestream("cam"))
        reaches("cam", ("InProgress", "Progressing"))
        # Current / Healthy: the Pod runs and is ready.
        eventually(lambda: kids(admin, ns, "pods"), timeout=60, what="the ingest Pod")
        for pod in kids(admin, ns, "pods"):
            run_pod(admin, ns, pod)
        reaches("cam", ("Current", "Healthy"))
        # Current / Suspended: switched off.
        admin.apply(ns, livestream("cam", active=False))
        reaches("cam", ("Current", "Suspended"))
        # Recording and Restream of the stream: whatever their state, kstatus and Argo CD agree.
        admin.apply(ns, recording("rec"), restream("out"))
        for plural, kind, name in (("recordings", "Recording", "rec"), ("restreams", "Restream", "out")):
            eventually(
                lambda p=plural, n=name: (admin.get(p, ns, n) or {}).get("status", {}).get("observedGeneration"),
                timeout=60,
                what=f"{kind} status",
            )
            k, a, obj = health(plural, kind, name)
            assert a in AGREE[k], (kind, k, a, obj.get("status"))
    finally:
        op.stop()
    # InProgress / Progressing: a generation the operator has not observed (it is stopped).
    admin.apply(ns, livestream("cam", active=True))
    k, a, obj = health("livestreams", "LiveStream", "cam")
    assert obj["metadata"]["generation"] > obj["status"]["observedGeneration"]
    assert (k, a) == ("InProgress", "Progressing")
    # Terminating: deleted while a finalizer (the test's own) holds it.
    hold = {"metadata": {"finalizers": ["test.streamops.dev/hold"]}}
    admin.patch("livestream", ns, "cam", hold)
    admin.delete("livestream", ns, "cam")
    held = admin.get("livestreams", ns, "cam") or {}
    assert kstatus(held)[0] == "Terminating", held.get("metadata")
    admin.kubectl(
        "patch", "livestream", "cam", "-n", ns, "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]'
    )
    eventually(lambda: admin.get("livestreams", ns, "cam") is None, what="deleted once released")


def test_worker_pods_are_restricted(rbac: Rbac, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without hostNetwork the ingest Pod is admitted where PodSecurity enforces `restricted`; with
    hostNetwork (chart value worker.hostNetwork) it is refused, so the namespace must allow it."""
    for host_network, name in (("false", "operator-restricted"), ("true", "operator-hostnet")):
        monkeypatch.setitem(cluster_harness.OPERATOR_ENV, "STREAMOPS_HOST_NETWORK", host_network)
        ns = new_namespace(rbac.admin, RESTRICTED)
        op = sa_operator(rbac, name)
        op.start()
        try:
            rbac.admin.apply(ns, livestream("cam"))
            if host_network == "false":
                pods = eventually(lambda ns=ns: kids(rbac.admin, ns, "pods"), timeout=60, what="an admitted ingest Pod")
                assert not pods[0]["spec"].get("hostNetwork")
                assert "violates PodSecurity" not in op.logs()
            else:
                eventually(lambda op=op: "violates PodSecurity" in op.logs(), timeout=60, what="hostNetwork refused")
                assert kids(rbac.admin, ns, "pods") == []
        finally:
            op.stop()


def test_a_removed_verb_breaks_the_operator(rbac: Rbac) -> None:
    without = copy.deepcopy(rbac.rules)
    (pods,) = [r for r in without if r["apiGroups"] == [""] and r["resources"] == ["pods"]]
    pods["verbs"].remove("create")
    rbac.set_rules(without)
    ns = new_namespace(rbac.admin)
    op = sa_operator(rbac, "operator-no-pod-create")
    since = time.time() - 1
    op.start()
    try:
        rbac.admin.apply(ns, livestream("cam"))
        refusal = re.compile(r'cannot create resource \\?"pods\\?"')  # quotes may be JSON-escaped in the log
        eventually(lambda: refusal.search(op.logs()), timeout=60, what="the refused Pod creation logged")
        refused = [
            r for r in audit_requests(rbac.plane.audit_log, since) if r["code"] == 403 and r["resource"] == "pods"
        ]
        assert {r["verb"] for r in refused} == {"create"}
        assert kids(rbac.admin, ns, "pods") == []
        stream = rbac.admin.get("livestreams", ns, "cam")
        assert (condition(stream, "Ready") or {}).get("status") != "True"
    finally:
        op.stop()
        rbac.set_rules(rbac.rules)


def test_helm_install_upgrade_uninstall_keeps_crds(rbac: Rbac, tmp_path: Path) -> None:
    """A real `helm install` (taking over the CRDs applied from crds/), an upgrade that changes a
    CRD (it is a template, so the upgrade applies it), and an uninstall that removes the operator
    but keeps the CRDs (crds.keep) and with them the user's LiveStreams."""
    admin = rbac.admin
    kubeconfig = str(rbac.plane.kubeconfig)
    ns = new_namespace(admin)
    admin.apply(ns, livestream("survivor"))
    release = ["--kubeconfig", kubeconfig, "--namespace", "helm-e2e", "--create-namespace"]
    helm("install", "trial", str(CHART), "--take-ownership", *release)
    crd = admin.get("customresourcedefinitions", "", f"livestreams.{GROUP}")
    assert crd is not None and crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["meta.helm.sh/release-name"] == "trial"
    assert admin.get("deployments", "helm-e2e", "trial-streamops") is not None

    # A new version of the chart whose LiveStream CRD has one more printer column.
    chart = tmp_path / "streamops"
    shutil.copytree(CHART, chart)
    template = chart / "templates" / "crds" / f"livestreams.{GROUP}.yaml"
    text = template.read_text()
    column = "    additionalPrinterColumns:\n"
    assert column in text
    extra = "    - name: Upgraded\n      type: string\n      jsonPath: .spec.title\n"
    template.write_text(text.replace(column, column + extra, 1))
    helm("upgrade", "trial", str(chart), *release)
    crd = admin.get("customresourcedefinitions", "", f"livestreams.{GROUP}") or {}
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert "Upgraded" in columns

    result = helm("uninstall", "trial", *release[:4])
    assert "kept due to the resource policy" in result.stdout + result.stderr
    eventually(lambda: admin.get("deployments", "helm-e2e", "trial-streamops") is None, what="operator removed")
    assert admin.get("customresourcedefinitions", "", f"livestreams.{GROUP}") is not None
    assert admin.get("livestreams", ns, "survivor") is not None


@pytest.mark.parametrize("host_network", ["false", "true"])
def test_namespaced_install_watches_only_its_namespace(rbac: Rbac, host_network: str) -> None:
    """watchNamespaces: the chart's Role in the watched namespace (and the small ClusterRole) are
    enough for `streamops operator --namespace`; a stream elsewhere is left alone."""
    admin = rbac.admin
    watched, other = new_namespace(admin), new_namespace(admin)
    home = f"ops-{uuid.uuid4().hex[:6]}"
    values = (f"watchNamespaces[0]={watched}", f"fullnameOverride={home}", f"worker.hostNetwork={host_network}")
    objs = objects(render(namespace=home, sets=(*values, "namespace.create=true", "crds.enabled=false")))
    rbac_objs = [o for o in objs if o["kind"] not in ("Deployment",)]
    kubeconfig = rbac.plane.service_account_kubeconfig(rbac.work / f"{home}.kubeconfig", home, home, rbac_objs, "1h")
    log = rbac.work / f"{home}.log"
    env = {**cluster_harness.OPERATOR_ENV, "STREAMOPS_HOST_NETWORK": host_network}
    op = OperatorProcess(kubeconfig, log, env, args=("--verbose", f"--namespace={watched}")).start()
    try:
        admin.apply(watched, livestream("cam"))
        admin.apply(other, livestream("cam"))
        eventually(
            lambda: condition(admin.get("livestreams", watched, "cam"), "Ready") and kids(admin, watched, "pods"),
            timeout=60,
            what="the watched namespace's stream reconciled",
        )
        assert op.running(), log.read_text()[-3000:]
        assert "forbidden" not in log.read_text().lower(), log.read_text()[-3000:]
        assert (admin.get("livestreams", other, "cam") or {}).get("status") is None
        assert kids(admin, other, "pods") == []
    finally:
        op.stop()
