"""The edge tier's replicas over time, as its HorizontalPodAutoscaler moves them: a thread reading the
edge Deployment (replicas wanted, ready) and the HPA (the CPU utilization it acts on) every `interval`
seconds, each sample with the seconds since the log started and the phase the caller is in (a
benchmark's step). Used by tests/multinode/test_edge_autoscaling.py and bench-playback's cluster row.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Self

from streamops.contract.edge import EDGE_NAME

from devtools.cluster.kubectl import Kubectl


class ReplicaLog:
    """Samples {"t", "phase", "replicas", "ready", "cpu_percent", "desired", "why"} of the edge in
    `namespace`: `desired` and `why` are the HPA's own (its last recommendation, and the reasons of its
    AbleToScale/ScalingActive/ScalingLimited conditions): what explains a scale that did not happen."""

    def __init__(self, cluster: Kubectl, namespace: str, interval: float = 2.0) -> None:
        self.cluster, self.namespace, self.interval = cluster, namespace, interval
        self.samples: list[dict[str, Any]] = []
        self.phase = ""  # set by the caller: recorded with each sample
        self._stop = threading.Event()
        self._began = time.monotonic()
        self.began_unix = time.time()  # a sample's `t` is seconds after this (a request log's clock)
        self._thread = threading.Thread(target=self._run, name="edge-replicas", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def sample(self) -> dict[str, Any]:
        deployment = self.cluster.get("deployments", self.namespace, EDGE_NAME) or {}
        hpa = self.cluster.get("horizontalpodautoscalers", self.namespace, EDGE_NAME) or {}
        status = hpa.get("status") or {}
        metrics = status.get("currentMetrics") or [{}]
        return {
            "t": round(time.monotonic() - self._began, 1),
            "phase": self.phase,
            "replicas": (deployment.get("spec") or {}).get("replicas"),
            "ready": (deployment.get("status") or {}).get("readyReplicas", 0),
            "cpu_percent": metrics[0].get("resource", {}).get("current", {}).get("averageUtilization"),
            "desired": status.get("desiredReplicas"),
            "why": [f"{c.get('type')}={c.get('reason')}" for c in status.get("conditions") or []],
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self._stop.wait(self.interval)

    @property
    def most(self) -> int:
        return max((s["replicas"] or 0 for s in self.samples), default=0)

    @property
    def last(self) -> int:
        return int(self.samples[-1]["replicas"] or 0) if self.samples else 0

    def changes(self) -> list[dict[str, Any]]:
        """The first sample, each one whose replicas or ready count differs from the one before, and
        the last: the timeline without its flat stretches."""
        out: list[dict[str, Any]] = []
        for s in self.samples:
            if not out or (s["replicas"], s["ready"]) != (out[-1]["replicas"], out[-1]["ready"]):
                out.append(s)
        if self.samples and out[-1] is not self.samples[-1]:
            out.append(self.samples[-1])
        return out

    def in_phase(self, phase: str) -> list[dict[str, Any]]:
        return [s for s in self.samples if s["phase"] == phase]
