"""What the operator observes of one worker Pod: a small frozen summary (the pod index keeps
one per worker Pod, so this is what memory holds instead of whole Pod bodies)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from streamops.contract.worker import STATUS_PATH
from streamops.control.shared.conditions import READY, Observed
from streamops.control.shared.manifests import Body


@dataclass(frozen=True)
class PodObservation:
    name: str
    exists: bool = False
    uid: str = ""
    phase: str | None = None
    ready: bool = False
    deleting: bool = False
    detail: str = ""
    ip: str | None = None
    http_port: int | None = None

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
            for port in container.get("ports") or []:
                if port.get("name") == "http":
                    http_port = int(port["containerPort"])
            probe_host = probe_host or ((container.get("readinessProbe") or {}).get("httpGet") or {}).get("host")
        # A hostNetwork worker bound to one address (worker_pod() points its probes there) is
        # reached at that address, not at the Pod IP (which is the node's).
        ip = probe_host if spec.get("hostNetwork") and probe_host else status.get("podIP")
        return cls(
            name=name,
            exists=True,
            uid=meta.get("uid") or "",
            phase=status.get("phase") or "Pending",
            ready=ready,
            deleting=bool(meta.get("deletionTimestamp")),
            detail=detail,
            ip=ip,
            http_port=http_port,
        )

    @property
    def running(self) -> bool:
        return self.exists and not self.deleting and self.phase == "Running"

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


def worker_pod_condition(pod: PodObservation, worker: str, reasons: PodReasons, running: tuple[str, str]) -> Observed:
    """Ready=False while a recorder's or pusher's Pod is on its way; `running` is the (reason,
    message) once it runs but has not done its job yet."""
    if not pod.exists or pod.deleting:
        return Observed(READY, "False", reasons.starting, f"creating {worker} Pod {pod.name}")
    if pod.phase == "Pending":
        detail = f": {pod.detail}" if pod.detail else ""
        return Observed(READY, "False", reasons.pending, f"{worker} Pod {pod.name} is Pending{detail}")
    if pod.phase == "Running":
        return Observed(READY, "False", *running)
    return Observed(READY, "False", reasons.failed, f"{worker} Pod {pod.name} is {pod.phase}: {pod.detail}")
