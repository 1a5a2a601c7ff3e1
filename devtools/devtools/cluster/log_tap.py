"""A test's Pods' logs and watches, kept in its tmp_path while it runs, for the figures' evidence.

    with LogTap(cluster, tmp_path / "logs") as tap:
        tap.pods(ns, "app.kubernetes.io/instance=cam")      # every such Pod's log, from its start
        tap.pods("streamops-system", "app.kubernetes.io/instance=streamops", since=time.time())
        tap.watch("endpointslices", ns, "kubernetes.io/service-name=cam-ingest", ENDPOINTS)
        ...

Why: a handover deletes its predecessor Pod, and with it the only copy of its log (the kubelet's
files go with the Pod); a test that passes leaves nothing either. What a figure needs — which Pod
refused an encoder's reconnect and when, when an EndpointSlice lost the predecessor — is in those
logs. Each Pod that appears (polled every 0.5 s through the API client: no process a poll) gets one
`kubectl logs -f --timestamps` writing to `<name>-<uid 8>.log`, which ends by itself with the Pod;
a watch is one `kubectl get -w` whose lines are prefixed with the Unix time they arrived. Nothing is
left running after the `with`.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from devtools.cluster.kubectl import Kubectl
from devtools.processes import stop_tree

POLL_SECONDS = 0.5


class LogTap:
    def __init__(self, cluster: Kubectl, directory: Path) -> None:
        self.cluster, self.directory = cluster, directory
        self._pods: list[tuple[str, str, float | None]] = []  # (namespace, selector, since)
        self._followed: set[str] = set()  # Pod uids
        self._procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="log-tap", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def pods(self, namespace: str, selector: str, since: float | None = None) -> None:
        """Follow the log of every Pod matching `selector`, now and later (`since`: Unix time, for
        Pods whose earlier lines do not matter)."""
        with self._lock:
            self._pods.append((namespace, selector, since))
        self._poll()

    def watch(self, plural: str, namespace: str, selector: str, jsonpath: str, name: str) -> None:
        """`kubectl get -w` of those objects, one `-o jsonpath` line per change, to `<name>.log`."""
        kubectl_args = ["get", plural, "-n", namespace, "-l", selector, "-w", "-o", f"jsonpath={jsonpath}"]
        out = (self.directory / f"{name}.log").open("wb")
        proc = self._kubectl(kubectl_args, subprocess.PIPE)
        with self._lock:
            self._procs.append((proc, out))
        threading.Thread(target=_stamp, args=(proc, out), name=f"log-tap-{name}", daemon=True).start()

    def _kubectl(self, kubectl_args: list[str], stdout: int | IO[bytes]) -> subprocess.Popen[bytes]:
        command = [self.cluster.binary, "--kubeconfig", str(self.cluster.kubeconfig), *kubectl_args]
        return subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            with contextlib.suppress(Exception):  # the API server busy: the next poll sees the Pod
                self._poll()

    def _poll(self) -> None:
        with self._lock:
            wanted = list(self._pods)
        for namespace, selector, since in wanted:
            for pod in self.cluster.list("pods", namespace, selector):
                meta = pod["metadata"]
                started = any(c.get("state", {}).get("running") or c.get("state", {}).get("terminated")
                              for c in pod.get("status", {}).get("containerStatuses", []))  # fmt: skip
                if not started:
                    continue
                kubectl_args = ["logs", "-f", "--timestamps", "--all-containers", "--prefix", "-n", namespace,
                        f"pod/{meta['name']}"]  # fmt: skip
                if since is not None:
                    kubectl_args.append(f"--since-time={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(since))}")
                with self._lock:  # (the thread and pods() both poll: one follower a Pod)
                    if self._stop.is_set() or meta["uid"] in self._followed:
                        continue
                    self._followed.add(meta["uid"])
                    out = (self.directory / f"{meta['name']}-{meta['uid'][:8]}.log").open("wb")
                    self._procs.append((self._kubectl(kubectl_args, out), out))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            procs, self._procs = self._procs, []
        for proc, out in procs:
            stop_tree(proc, timeout=5, group=False)  # by its own handle: only what this tap started
            out.close()


def _stamp(proc: subprocess.Popen[bytes], out: IO[bytes]) -> None:
    """Each line of a watch, prefixed with the Unix time it arrived."""
    assert proc.stdout is not None
    with contextlib.suppress(ValueError, OSError):  # the file closed by stop()
        for line in proc.stdout:
            out.write(f"{time.time():.3f} ".encode() + line)
            out.flush()
