"""The local cluster's OCI registry: CNCF Distribution on the cluster's LAN, where the nodes'
containerd pulls streamops' images from, as a real cluster pulls from its registry.

    registry = LanRegistry(dir, network).start()   # 10.241.0.1:5000 on the LAN, a loopback portal here
    registry.lan_address                           # "10.241.0.1:5000": what the nodes pull from
    registry.portal_address                        # "127.0.0.1:<port>": what crane and helm here push to
    registry.image_ref(image)                      # "10.241.0.1:5000/streamops/streamops-worker:<hash>"

`registry serve` runs in the LAN's network namespace (plain HTTP: the island is private and the
nodes' containerd is told so for this one host, devtools.cluster.node), storage under DIR/registry.
The host reaches it through a portal (devtools.cluster.portal) on a free loopback port, as it
reaches the API server; a registry on 127.0.0.0/8 is plain HTTP by devtools.publish's own rule, so
`make push-images REGISTRY=127.0.0.1:<port>/streamops` works as written. Both processes are recorded
in DIR/registry/pids.json and stopped by PID. Why: docs/design/local-cluster.md, "Images".
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Self

from devtools import netns
from devtools.address_plan import REGISTRY_IP, REGISTRY_PORT
from devtools.cluster.network import ClusterNetwork
from devtools.http_client import http_get
from devtools.ports import LOOPBACK, free_port
from devtools.processes import ProcessRegistry, StartError, Supervisor, stop_procs
from devtools.registry import Registry

PREFIX = "streamops"  # the path our images and chart live under: R/streamops/streamops-worker


class LanRegistry(Supervisor):
    """Distribution on REGISTRY_IP:REGISTRY_PORT in the LAN namespace of `network`, plus its portal."""

    def __init__(self, dir: Path, network: ClusterNetwork) -> None:
        self.dir = Path(dir).resolve()
        self.network = network
        self.root = self.dir / "registry"
        self.server = _AccessLoggedRegistry(self.root, host=REGISTRY_IP, port=REGISTRY_PORT, netns=network.outside)
        self.procs = ProcessRegistry(self.root / "pids.json", self.dir / "logs", self.stop)

    @property
    def lan_address(self) -> str:
        """host:port as the nodes (and anything on the LAN) reach it."""
        return self.server.address

    @property
    def portal_address(self) -> str:
        """host:port on this machine's loopback (crane, helm, `make push-images`); "" when down."""
        if "portal_port" not in self.procs.meta:
            self.procs.read()  # started by another process (make cluster-up): its pid file says
        port = self.procs.meta.get("portal_port", "")
        return f"{LOOPBACK}:{port}" if port else ""

    @property
    def push_registry(self) -> str:
        """REGISTRY=… for devtools.publish and the make targets."""
        return f"{self.portal_address}/{PREFIX}"

    def repository(self, name: str) -> str:
        """An image repository as the nodes pull it: 10.241.0.1:5000/streamops/<name>."""
        return f"{self.lan_address}/{PREFIX}/{name}"

    @property
    def access_log(self) -> Path:
        return self.dir / "logs" / "registry.log"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Self:
        """Start (or adopt) the registry and its portal; wait until /v2/ answers through both."""
        if self.procs.adopt({"registry", "portal"}):
            return self
        self.stop()
        try:
            self._start(time.monotonic() + timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def _start(self, deadline: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.server.config_path.write_text(json.dumps(self.server.config(), indent=1))  # JSON is YAML
        self.procs.spawn("registry", netns.nsenter(self.network.outside, self.server.command()), cwd=self.root)
        port = free_port()
        self.procs.meta["portal_port"] = str(port)
        self.procs.spawn("portal", [
            sys.executable, "-m", "devtools.cluster.portal",
            f"{LOOPBACK}:{port}={self.network.outside}/{self.lan_address}",
        ], cwd=self.root)  # fmt: skip
        try:
            self.procs.wait(self._answers, deadline, f"the LAN registry at {self.lan_address}", "registry")
        except StartError as e:
            raise RegistryError(str(e)) from None

    def _answers(self) -> bool:
        return http_get(f"http://{self.portal_address}/v2/", timeout=2)[0] == 200

    def stop(self) -> None:
        stop_procs(self.procs.recorded())
        self.procs.forget()
        self.procs.meta.pop("portal_port", None)

    def leftovers(self) -> list[str]:
        return [f"process {p.name} {p.pid}" for p in self.procs.read() if p.alive]


class RegistryError(RuntimeError):
    pass


class _AccessLoggedRegistry(Registry):
    """devtools.registry's configuration with the access log on: which node pulled what, and when,
    is what the multinode tier checks and a person debugging a pull reads (DIR/logs/registry.log)."""

    def config(self) -> dict[str, Any]:
        config = super().config()
        # The access log is its own switch; the level stays at warn (info adds a line per request).
        config["log"] = {**config["log"], "accesslog": {"disabled": False}}
        return config
