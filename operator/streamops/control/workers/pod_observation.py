"""What the operator observes of one worker Pod: a small frozen summary (the pod index keeps
one per worker Pod, so this is what memory holds instead of whole Pod bodies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from streamops.api.common import Condition
from streamops.contract.worker import STATUS_PATH
from streamops.control.shared.conditions import READY, Observed, Transition
from streamops.control.workers import handover_marks as marks
from streamops.kube.manifests import Body, timestamp

# The taint eviction controller marks a Pod it deletes for a NoExecute taint (node unreachable or
# not ready past the Pod's toleration) with this DisruptionTarget reason.
TAINT_EVICTION = "DeletionByTaintManager"
# A scheduled Pod whose sandbox has not started after this long is stuck on its volumes: the kubelet
# attaches and mounts them before it creates the sandbox (a Multi-Attach or FailedMount holds it
# there, and says so only in Events).
STORAGE_WAIT_SECONDS = 60.0


def _waiting_reason(container_status: Body) -> str:
    return str(((container_status.get("state") or {}).get("waiting") or {}).get("reason") or "")


@dataclass(frozen=True, slots=True)  # (one per worker Pod in the pod index: no __dict__ each)
class PodObservation:
    name: str
    exists: bool = False
    uid: str = ""
    phase: str | None = None
    ready: bool = False
    deleting: bool = False
    detail: str = ""
    ip: str | None = None  # where the operator reaches its worker (a hostNetwork worker: its bind address)
    pod_ips: tuple[str, ...] = ()  # status.podIPs: what its Services' EndpointSlices list it by
    http_port: int | None = None  # its status and control face: the ingest's internal port
    node: str = ""  # spec.nodeName
    host_ip: str = ""  # status.hostIP: the node's address (hostNetwork ingests are reached there)
    deletion_deadline: datetime | None = None  # metadata.deletionTimestamp: asked time + grace period
    deletion_grace_seconds: int | None = None  # metadata.deletionGracePeriodSeconds
    disruption: str = ""  # reason of the DisruptionTarget condition (TAINT_EVICTION: its node is lost)
    unschedulable: str = ""  # the scheduler's message while PodScheduled is False for Unschedulable
    mounting_since: datetime | None = None  # scheduled, sandbox not started yet (volumes first)
    waiting: str = ""  # "reason: message" of a container that waits (ContainerCreating, ImagePullBackOff...)
    restarts: int = 0  # restartCount of its containers, summed (streamops_worker_restarts)
    created_at: datetime | None = None  # metadata.creationTimestamp (a handover's bounds count from it)
    # An ingest's part in a handover (handover_marks.py): it serves its role's Services; whose
    # successor it is (a uid) and for what difference; since when it no longer serves; its last
    # successor's failure (the annotation as it is).
    serving: bool = False
    successor_of: str = ""
    handover_for: str = ""
    handed_over_at: datetime | None = None
    handover_failed: str = ""

    @classmethod
    def of(cls, name: str, pod: Body | None) -> PodObservation:
        if pod is None:
            return cls(name=name)
        status = pod.get("status") or {}
        meta = pod.get("metadata") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        ready = conditions.get("Ready", {}).get("status") == "True"
        scheduled = conditions.get("PodScheduled", {})
        detail = status.get("message") or scheduled.get("message") or ""
        spec = pod.get("spec") or {}
        if not detail and not spec.get("nodeName"):
            detail = "waiting for a node to run it"
        http_port = None
        probe_host = None
        for container in spec.get("containers") or []:
            ports = {port.get("name"): port for port in container.get("ports") or []}
            # The ingest's status and control are on its internal port; other workers have one port.
            if (port := ports.get("internal") or ports.get("http")) is not None:
                http_port = int(port["containerPort"])
            probe_host = probe_host or ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("host")
        # A hostNetwork worker bound to one address (worker_pod() points its probes there) is
        # reached at that address, not at the Pod IP (which is the node's).
        ip = probe_host if spec.get("hostNetwork") and probe_host else status.get("podIP")
        pod_ips = tuple(str(a["ip"]) for a in status.get("podIPs") or [] if isinstance(a, Mapping) and a.get("ip"))
        if not pod_ips and status.get("podIP"):
            pod_ips = (str(status["podIP"]),)
        disruption = conditions.get("DisruptionTarget", {})
        statuses = status.get("containerStatuses") or []
        mounting_since = None
        if scheduled.get("status") == "True" and spec.get("nodeName") and status.get("phase", "Pending") == "Pending":
            sandbox = conditions.get("PodReadyToStartContainers")
            # (Kubelets without that condition: a container still being created says the same.)
            creating = all(_waiting_reason(c) in ("", "ContainerCreating") for c in statuses)
            if (sandbox.get("status") != "True") if sandbox is not None else creating:
                mounting_since = timestamp(scheduled.get("lastTransitionTime"))
        waiting = ""
        for container in statuses:
            if _waiting_reason(container) not in ("", "ContainerCreating"):
                state = container["state"]["waiting"]
                waiting = f"{state['reason']}: {state.get('message') or ''}".rstrip(": ")
                break
        unschedulable = ""
        if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
            unschedulable = scheduled.get("message") or "no node fits it"
        return cls(
            name=name,
            exists=True,
            uid=meta.get("uid") or "",
            phase=status.get("phase") or "Pending",
            ready=ready,
            deleting=bool(meta.get("deletionTimestamp")),
            detail=detail,
            ip=ip,
            pod_ips=pod_ips,
            http_port=http_port,
            node=spec.get("nodeName") or "",
            host_ip=status.get("hostIP") or "",
            deletion_deadline=timestamp(meta.get("deletionTimestamp")),
            deletion_grace_seconds=meta.get("deletionGracePeriodSeconds"),
            disruption=(disruption.get("reason") or "") if disruption.get("status") == "True" else "",
            unschedulable=unschedulable,
            mounting_since=mounting_since,
            waiting=waiting,
            restarts=sum(int(c.get("restartCount") or 0) for c in statuses),
            created_at=timestamp(meta.get("creationTimestamp")),
            serving=marks.is_serving(pod),
            successor_of=marks.successor_of(pod),
            handover_for=marks.handover_for(pod),
            handed_over_at=marks.handed_over_at(pod),
            handover_failed=str((meta.get("annotations") or {}).get(marks.HANDOVER_FAILED_ANNOTATION) or ""),
        )

    @property
    def running(self) -> bool:
        return self.exists and not self.deleting and self.phase == "Running"

    @property
    def evicted_from_lost_node(self) -> bool:
        """Deleted by the taint eviction controller: its node is unreachable or not ready."""
        return self.deleting and self.disruption == TAINT_EVICTION

    def storage_stuck(self, now: datetime) -> bool:
        """Scheduled for longer than STORAGE_WAIT_SECONDS without its volumes mounted."""
        return self.mounting_since is not None and now - self.mounting_since > timedelta(seconds=STORAGE_WAIT_SECONDS)

    def cannot_start(self, now: datetime | None = None) -> bool:
        """Pending where it cannot run without someone's help: no node fits it, or (given `now`) its
        volumes have not been mounted for STORAGE_WAIT_SECONDS."""
        if not self.exists or self.deleting or self.phase != "Pending":
            return False
        return bool(self.unschedulable) or (now is not None and self.storage_stuck(now))

    @property
    def status_url(self) -> str | None:
        """The worker's /status, when it can be asked (running, with an address)."""
        return self.worker_url(STATUS_PATH)

    def worker_url(self, path: str) -> str | None:
        """A path on the worker's HTTP face, when it can be reached (running, with an address)."""
        if not self.running or not self.ip or not self.http_port:
            return None
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{self.http_port}{path}"


class PodReasons(NamedTuple):
    """The Ready reasons of a worker Pod on its way (each kind's reasons.py names its own)."""

    starting: str
    pending: str
    failed: str
    unschedulable: str  # no node fits it (the scheduler's message follows)
    storage_unavailable: str  # scheduled, but its volumes are not mounted (Multi-Attach, FailedMount)
    node_lost: str  # evicted from a node that is unreachable or not ready


def pod_problem_events(previous: list[Condition], current: list[Condition], reasons: PodReasons) -> list[Transition]:
    """A Warning Event when Ready turns to a reason that needs someone (no node fits the Pod, its
    storage cannot be mounted, its node is lost) while it stays False: the condition transition
    Event comes only when the status changes."""
    before = next((c for c in previous if c.type == READY), None)
    now = next((c for c in current if c.type == READY), None)
    problems = (reasons.unschedulable, reasons.storage_unavailable, reasons.node_lost)
    if now is None or now.status != "False" or now.reason not in problems:
        return []
    if before is None or before.status != "False" or before.reason == now.reason:
        return []  # (Ready True -> False is posted by condition_transitions already)
    return [Transition("Warning", now.reason, now.message or now.reason)]


def node_lost_message(pod: PodObservation, worker: str) -> str:
    node = pod.node or "its node"
    return (
        f"{worker} Pod {pod.name} was evicted from node {node} (unreachable or not ready): "
        "a new one is created once the old one is gone"
    )


def worker_pod_condition(
    pod: PodObservation, worker: str, reasons: PodReasons, running: tuple[str, str], now: datetime | None = None
) -> Observed:
    """Ready=False while a recorder's or pusher's Pod is on its way; `running` is the (reason,
    message) once it runs but has not done its job yet; `now` lets a Pod stuck on its volumes
    say so."""
    if pod.exists and pod.evicted_from_lost_node:
        return Observed(READY, "False", reasons.node_lost, node_lost_message(pod, worker))
    if not pod.exists or pod.deleting:
        return Observed(READY, "False", reasons.starting, f"creating {worker} Pod {pod.name}")
    if pod.phase == "Pending":
        if pod.unschedulable:
            message = f"{worker} Pod {pod.name} cannot be scheduled: {pod.unschedulable}"
            return Observed(READY, "False", reasons.unschedulable, message)
        if now is not None and pod.storage_stuck(now) and pod.mounting_since is not None:
            waited = int((now - pod.mounting_since).total_seconds())
            message = (
                f"{worker} Pod {pod.name} has waited {waited} s on node {pod.node} for its volumes to be attached "
                "and mounted (a ReadWriteOnce volume attached to another node: Multi-Attach, or a FailedMount; "
                f"its Events say which)"
            )
            return Observed(READY, "False", reasons.storage_unavailable, message)
        detail = f": {pod.waiting or pod.detail}" if pod.waiting or pod.detail else ""
        return Observed(READY, "False", reasons.pending, f"{worker} Pod {pod.name} is Pending{detail}")
    if pod.phase == "Running":
        return Observed(READY, "False", *running)
    return Observed(READY, "False", reasons.failed, f"{worker} Pod {pod.name} is {pod.phase}: {pod.detail}")
