"""A kubelet stand-in for worker Pods: runs a Pod's containers as local processes (tests/cluster).

The operator under test runs with STREAMOPS_HOST_NETWORK=true, so its worker Pods are hostNetwork
Pods with ports it allocated (STREAMOPS_PORT_RANGE). `LocalPod.start()` does what a kubelet would:
reads the Pod and the worker's JSON config from its env, and the env its secretKeyRefs name;
materialises its volumes in a local directory (Secret items as files, emptyDir as a directory, a
PVC as a directory shared by the claim's Pods) and rewrites the config's paths under each
mountPath, nothing else (ports, feed URLs and settings stay the operator's); starts `python -m
streamops worker <kind>` and waits for its /healthz; sets the Pod Running and Ready at 127.0.0.1
through pods/status. The operator then reads /status as in a cluster. `stop()` ends the tree by
PID (TERM, then KILL for the worker and its FFmpeg). A one-shot Pod (restartPolicy Never, no port)
runs once by `run_to_completion()`: Running, then Succeeded or Failed by its exit code.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools.http_client import http_get, http_json
from devtools.processes import child_env, stop_tree
from devtools.versions import worker_ffmpeg_env
from devtools.waits import eventually


def pod_config(pod: dict[str, Any], container_index: int = 0) -> tuple[str, str, dict[str, Any]]:
    """(worker kind, env var, config) of a worker Pod's container (the first: the worker itself)."""
    container = pod["spec"]["containers"][container_index]
    kind = container["args"][1]
    env = container["env"][0]
    return kind, env["name"], json.loads(env["value"])


def set_pod_status(cluster: Any, namespace: str, name: str, phase: str, ready: bool, ip: str | None = None) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now},
        ],
    }
    if ip:
        status.update(podIP=ip, hostIP=ip, podIPs=[{"ip": ip}])
    cluster.core.patch_namespaced_pod_status(
        name, namespace, {"status": status}, _content_type="application/merge-patch+json"
    )


def _rewrite(value: Any, mounts: dict[str, Path]) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, mounts) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, mounts) for v in value]
    if isinstance(value, str):
        for mount, local in mounts.items():
            if value == mount or value.startswith(mount + "/"):
                return str(local) + value[len(mount) :]
    return value


class LocalPod:
    def __init__(self, cluster: Any, namespace: str, name: str, root: Path) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.root = root
        self.workdir = root / "pods" / namespace / name
        self.process: subprocess.Popen[bytes] | None = None
        self.pod: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.http_port = self.control_port = 0
        self.sidecars: list[subprocess.Popen[bytes]] = []

    @property
    def log(self) -> Path:
        return self.workdir / "worker.log"

    def claim_dir(self, claim: str) -> Path:
        return self.root / "claims" / self.namespace / claim

    def _volumes(self, container_index: int = 0) -> dict[str, Path]:
        spec = self.pod["spec"]
        container = spec["containers"][container_index]
        local: dict[str, Path] = {}
        for volume in spec.get("volumes") or []:
            name = volume["name"]
            if "persistentVolumeClaim" in volume:
                path = self.claim_dir(volume["persistentVolumeClaim"]["claimName"])
            else:
                path = self.workdir / "volumes" / name
            path.mkdir(parents=True, exist_ok=True)
            if "secret" in volume:
                secret = self.cluster.core.read_namespaced_secret(volume["secret"]["secretName"], self.namespace)
                for item in volume["secret"].get("items") or []:
                    (path / item["path"]).write_bytes(base64.b64decode(secret.data[item["key"]]))
            local[name] = path
        return {m["mountPath"]: local[m["name"]] for m in container.get("volumeMounts") or []}

    def _secret_env(self, index: int) -> dict[str, str]:
        """What a kubelet puts in container `index`'s environment from the Secrets its env's
        secretKeyRefs name (a recorder's storage credentials)."""
        env: dict[str, str] = {}
        for e in self.pod["spec"]["containers"][index].get("env") or []:
            if ref := (e.get("valueFrom") or {}).get("secretKeyRef"):
                secret = self.cluster.core.read_namespaced_secret(ref["name"], self.namespace)
                env[e["name"]] = base64.b64decode(secret.data[ref["key"]]).decode()
        return env

    def start(self, timeout: float = 20) -> LocalPod:
        # The operator makes the Pod after the test's apply: wait for it rather than race it (a CI
        # run under load asked a moment too early and failed "no Pod cam-ingest").
        self.pod = eventually(
            lambda: self.cluster.get("pods", self.namespace, self.name), timeout=30, what=f"Pod {self.name}"
        )
        assert self.pod["spec"].get("hostNetwork") is True, "the operator runs workers on the host network here"
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = self.pod["spec"]["containers"][0]["ports"]
        self.http_port = next(p["containerPort"] for p in ports if p["name"] == "http")
        # Status is on the ingest's internal port (other workers have one port).
        self.control_port = next((p["containerPort"] for p in ports if p["name"] == "internal"), self.http_port)
        env = {**child_env(), **worker_ffmpeg_env()}  # the FFmpeg of the worker image
        self.config, self.process = self._run_container(0, self.workdir / "config.json", self.log, env)
        eventually(self._healthy, timeout=timeout, what=f"worker of {self.name} healthy")
        self._start_sidecars()
        set_pod_status(self.cluster, self.namespace, self.name, "Running", ready=True, ip="127.0.0.1")
        return self

    def run_to_completion(self, timeout: float = 60) -> int:
        """A one-shot Pod (restartPolicy Never, no port: the origin expiry Pod) as a kubelet runs
        it: its container once, Running meanwhile, then Succeeded or Failed by its exit code."""
        self.pod = eventually(
            lambda: self.cluster.get("pods", self.namespace, self.name), timeout=30, what=f"Pod {self.name}"
        )
        assert self.pod["spec"].get("restartPolicy") == "Never", "a Pod that runs once"
        self.workdir.mkdir(parents=True, exist_ok=True)
        set_pod_status(self.cluster, self.namespace, self.name, "Running", ready=False)
        self.config, self.process = self._run_container(0, self.workdir / "config.json", self.log, child_env())
        rc = self.process.wait(timeout)
        set_pod_status(self.cluster, self.namespace, self.name, "Succeeded" if rc == 0 else "Failed", ready=False)
        return rc

    def _run_container(
        self, index: int, config_path: Path, log_path: Path, env: dict[str, str]
    ) -> tuple[dict[str, Any], subprocess.Popen[bytes]]:
        """Container `index` as `streamops worker <kind>`: its config with the mounts rewritten to
        the local volumes (an emptyDir is one directory per Pod, shared by its containers)."""
        kind, _, config = pod_config(self.pod, index)
        config = _rewrite(config, self._volumes(index))
        config_path.write_text(json.dumps(config))
        env = {**env, **self._secret_env(index)}
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "streamops", "worker", kind, "--config", str(config_path), "-v"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        return config, process

    def _start_sidecars(self) -> None:
        """The Pod's other containers (the ingest's overlay renderer: no FFmpeg), logs and configs
        under their names."""
        for index, container in enumerate(self.pod["spec"]["containers"][1:], start=1):
            name = container["name"]
            _, process = self._run_container(
                index, self.workdir / f"{name}.json", self.workdir / f"{name}.log", child_env()
            )
            self.sidecars.append(process)

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"worker of {self.name} exited {self.process.returncode}:\n{self.logs()[-3000:]}")
        return http_get(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1)[0] == 200

    def auth(self) -> dict[str, str]:
        """The header that presents the stream's worker credential, read from the file the Pod's
        Secret volume was materialised into (the config names it), as the operator presents it."""
        path = self.config.get("credentialFile")
        if not path or not Path(path).exists():
            return {}
        return {"Authorization": "Bearer " + Path(path).read_text().strip()}

    def status(self) -> dict[str, Any]:
        return http_json(f"http://127.0.0.1:{self.control_port}/status", headers=self.auth())

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 20) -> None:
        """TERM the worker (it stops its FFmpeg and finalises); KILL whatever is left, by PID."""
        if self.process is not None:
            stop_tree(self.process, signal.SIGTERM, timeout, group=False)
        for sidecar in self.sidecars:
            stop_tree(sidecar, signal.SIGTERM, timeout)


class LocalPods:
    """Every LocalPod a test started; stop_all() runs at teardown, pass or fail."""

    def __init__(self, cluster: Any, root: Path) -> None:
        self.cluster, self.root = cluster, root
        self.pods: list[LocalPod] = []

    def start(self, namespace: str, name: str) -> LocalPod:
        pod = LocalPod(self.cluster, namespace, name, self.root)
        self.pods.append(pod)
        return pod.start()

    def run_to_completion(self, namespace: str, name: str) -> int:
        """A one-shot Pod run once (LocalPod.run_to_completion): its worker's exit code."""
        pod = LocalPod(self.cluster, namespace, name, self.root)
        self.pods.append(pod)
        return pod.run_to_completion()

    def stop_all(self) -> None:
        for pod in reversed(self.pods):
            pod.stop()
