"""A real OCI registry for the tests and the local cluster: CNCF Distribution (hack/build-registry.sh),
one process stopped by PID like the S3 server (devtools.media.s3_server), plain HTTP, storage on disk.

    with Registry() as registry:               # 127.0.0.1:<free port>, storage in a temp dir
        registry.address                       # "127.0.0.1:10423": what REGISTRY=... names
        registry.tags("streamops/streamops-worker")

    python -m devtools.registry [--port N] [--storage DIR]   # in the foreground, until Ctrl-C

`host` is the address it listens on and `netns` the network namespace it runs in: on the local
cluster's LAN that is e.g. Registry(host=<the LAN's host address>, port=5000, netns=<the LAN's
namespace>), reached by the nodes' containerd (docs/design/publishing.md). Anything else stays
off: no debug listener, no metrics, no tracing exporter, no access log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Self

from devtools.http_client import http_get
from devtools.media.peers import _Peer
from devtools.ports import LOOPBACK, free_port
from devtools.versions import built, registry_bin
from devtools.waits import wait_for


def registry_binary() -> Path:
    """The pinned Distribution registry, built by hack/build-registry.sh on first use (≈2.5 min cold;
    the script locks, so parallel sessions build it once)."""
    return built(registry_bin(), "build-registry.sh")


class Registry(_Peer):
    """Distribution's `registry serve` on `host`:`port` (plain HTTP, no authentication), blobs and
    manifests under `storage` (a temporary directory, removed by stop(), unless one is given)."""

    def __init__(
        self,
        storage: str | os.PathLike[str] | None = None,
        *,
        host: str = LOOPBACK,
        port: int | None = None,
        netns: str | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        # A port of the loopback test range when none is given: only right on 127.0.0.1 itself; in a
        # network namespace the caller names the port (e.g. 5000) along with the address.
        if port is None and (host != LOOPBACK or netns is not None):
            raise ValueError("Registry(host=..., netns=...) needs an explicit port")
        self._own_storage = storage is None
        self.storage = Path(storage) if storage is not None else Path(tempfile.mkdtemp(prefix="streamops-registry-"))
        self.storage.mkdir(parents=True, exist_ok=True)
        super().__init__(self.storage / "registry.log", netns=netns)
        self.host = host
        self.port = port or free_port()
        self.start_timeout = start_timeout
        self.config_path = self.storage / "config.yml"

    @property
    def address(self) -> str:
        """host:port, as image references and REGISTRY=... name it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def config(self) -> dict[str, Any]:
        """Distribution's configuration (docs: distribution.github.io/distribution/about/configuration)."""
        return {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}, "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage / "data")},
                "delete": {"enabled": True},
                # Its hourly purge of stale uploads would only walk an empty directory here.
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.address,
                # Upload state is signed with this; without it every start picks one and warns.
                "secret": secrets.token_hex(16),
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "health": {"storagedriver": {"enabled": False}},
        }

    def command(self) -> list[str]:
        # Its OpenTelemetry exporter would otherwise try OTLP on localhost:4318 (env execs: same PID).
        no_tracing = ["env", "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true"]
        return [*no_tracing, str(registry_binary()), "serve", str(self.config_path)]

    def start(self) -> Self:
        self.config_path.write_text(json.dumps(self.config(), indent=1))  # JSON is YAML
        return super().start()

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()  # a taken port or a bad configuration: fail now, with its own words
            with self._where():
                return http_get(f"{self.url}/v2/", timeout=2)[0] == 200

        wait_for(up, self.start_timeout, 0.05, f"the registry on {self.address}")

    def stop(self, grace: float = 5.0) -> int | None:
        try:
            return super().stop(grace)
        finally:
            self._proc = None  # start() again: same address and storage
            if self._own_storage:
                shutil.rmtree(self.storage, ignore_errors=True)

    # --- what it holds (the registry's own HTTP API: no client tool needed) -----------------------------

    def catalog(self) -> list[str]:
        """The repositories it holds (GET /v2/_catalog)."""
        with self._where():
            status, body = http_get(f"{self.url}/v2/_catalog?n=1000")
        if status != 200:
            raise RuntimeError(f"GET /v2/_catalog on {self.address}: {status}")
        return list(json.loads(body)["repositories"] or [])

    def tags(self, repository: str) -> list[str]:
        """The tags of `repository` (GET /v2/<repository>/tags/list); [] when it does not exist."""
        with self._where():
            status, body = http_get(f"{self.url}/v2/{repository}/tags/list")
        if status == 404:
            return []
        if status != 200:
            raise RuntimeError(f"GET /v2/{repository}/tags/list on {self.address}: {status}")
        return sorted(json.loads(body)["tags"] or [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the Distribution registry on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--storage", type=Path, default=None, help="where blobs go (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Registry(args.storage, port=args.port) as registry:
        print(f"registry on {registry.address} (plain HTTP); REGISTRY={registry.address}/streamops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main())
