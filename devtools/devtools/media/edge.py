"""The edge (streamops/media/edge: nginx + its Lua module) as a host process on 127.0.0.1, for the
media tests, the playback benchmark and the demo: the image's own entrypoint renders the config
from the environment, here with a state directory under the caller's work dir and an origin on
127.0.0.1. Stopped by PID."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from streamops.media import edge as edge_files

from devtools.http_client import http_get, http_json
from devtools.ports import free_port
from devtools.processes import child_env, stop_tree
from devtools.waits import wait_for

NGINX = "/usr/sbin/nginx"
LUA_MODULE = Path("/usr/lib/nginx/modules/ngx_http_lua_module.so")


class EdgeError(RuntimeError):
    pass


def files_check_seconds() -> float:
    """How often a worker of the edge reads its routes, keys and rules files again at most (the Lua
    modules' *CHECK_SECONDS, read from them: one figure for all three)."""
    found = {
        float(value)
        for name in ("edge.lua", "edge_token.lua", "edge_rules.lua")
        for value in re.findall(r"^local \w*CHECK_SECONDS = ([\d.]+)$", (edge_files.FILES_DIR / name).read_text(), re.M)
    }
    if len(found) != 1:
        raise EdgeError(f"the edge's files are read again at more than one period: {sorted(found)}")
    return found.pop()


def missing_packages() -> list[str]:
    """The Debian packages the host edge needs that are not installed (hack/deps.sh installs them)."""
    missing = [] if shutil.which("nginx") or Path(NGINX).exists() else ["nginx-light"]
    return missing + ([] if LUA_MODULE.exists() else ["libnginx-mod-http-lua"])


class Edge:
    """One edge: `http` is the viewers' base URL, `status` the probes' and scrapes'.

    `origin`: the origin template (`{name}`, `{namespace}`, `{domain}`), e.g. the ingest's
    `http://127.0.0.1:<port>` for a single stream; `keys_dir`: the playback keys' directory;
    `routes`: prefix -> stream name (the routes file: the edge serves these streams only); `env`:
    more STREAMOPS_EDGE_* settings (e.g. STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS)."""

    def __init__(
        self,
        workdir: Path,
        namespace: str,
        origin: str,
        *,
        keys_dir: Path | None = None,
        routes: Mapping[str, str] | None = None,
        workers: int = 2,
        name: str = "edge-test",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir, self.namespace = workdir, namespace
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.http_port, self.status_port = free_port(), free_port()
        self.keys_dir = keys_dir or workdir / "keys"
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        self.routes_path = workdir / "routes"
        self.written_at = float("-inf")  # the last write of a file the workers read (files_written)
        self.routes_path.write_text(edge_files.routes_file(routes or {}))
        self.access_log = workdir / "access.log"
        self.log_path = workdir / "edge.log"
        self.state_dir = workdir / "state"
        self.env = {
            edge_files.ENV_NAMESPACE: namespace,
            edge_files.ENV_ORIGIN: origin,
            edge_files.ENV_KEYS_DIR: str(self.keys_dir),
            edge_files.ENV_ROUTES_FILE: str(self.routes_path),
            edge_files.ENV_STATE_DIR: str(self.state_dir),
            edge_files.ENV_HTTP_PORT: str(self.http_port),
            edge_files.ENV_STATUS_PORT: str(self.status_port),
            edge_files.ENV_LISTEN_ADDRESS: "127.0.0.1",
            edge_files.ENV_WORKERS: str(workers),
            edge_files.ENV_NAME: name,
            edge_files.ENV_ACCESS_LOG: str(self.access_log),
            edge_files.ENV_CACHE_SIZE: "256m",
            edge_files.ENV_MEMORY_CACHE_SIZE: "32m",
            # Origins here are addresses: no resolver, whatever the host's resolv.conf says.
            edge_files.ENV_RESOLV_CONF: os.devnull,
            "STREAMOPS_EDGE_NGINX": NGINX,
            # As root, nginx's workers would run as nobody, who cannot read the test's private dirs.
            **({"STREAMOPS_EDGE_USER": "root"} if os.geteuid() == 0 else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def status(self) -> str:
        return f"http://127.0.0.1:{self.status_port}"

    def path(self, stream: str) -> str:
        """The default playback path of a stream of this edge's namespace."""
        return edge_files.default_path_prefix(self.namespace, stream)

    def set_routes(self, routes: Mapping[str, str], public: Collection[str] = ()) -> None:
        """Rewrite the routes file (the edge reads it again within a second)."""
        tmp = self.routes_path.with_suffix(".tmp")
        tmp.write_text(edge_files.routes_file(routes, public))
        tmp.replace(self.routes_path)
        self.files_written()

    def files_written(self) -> None:
        """Note a write of a file the workers read (routes, keys, rules): see every_worker_reads."""
        self.written_at = time.monotonic()

    def every_worker_reads(self) -> None:
        """Return once every worker's next request reads the files as last written. A worker reads them
        again on its first request at least files_check_seconds() after its last read, so past that
        period after the write none can answer from what it read before (a run of requests proves
        nothing: nginx need not spread them over its workers, ci43 met a worker still public)."""
        left = self.written_at + files_check_seconds() + 0.05 - time.monotonic()
        if left > 0:
            time.sleep(left)

    def _command(self, *args: str) -> list[str]:
        return ["sh", str(edge_files.FILES_DIR / edge_files.ENTRYPOINT), *args]

    def render(self) -> str:
        """Render the config only (entrypoint.sh --render) and return it."""
        proc = subprocess.run(
            self._command("--render"), env={**child_env(), **self.env}, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise EdgeError(f"entrypoint.sh --render failed ({proc.returncode}): {proc.stderr.strip()}")
        return (self.state_dir / "nginx.conf").read_text()

    def start(self) -> Edge:
        if missing := missing_packages():
            raise EdgeError(f"the edge needs {', '.join(missing)}: run `make deps`")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**child_env(), **self.env},
            )
        wait_for(self._healthy, timeout=15, what="edge /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise EdgeError(f"the edge exited {self.process.returncode}:\n{self.logs()[-3000:]}")
        return http_get(self.status + edge_files.HEALTH_PATH, timeout=1)[0] == 200

    def stop(self) -> int | None:
        """nginx's fast shutdown (TERM) of the master's group; its workers are killed by PID after."""
        if self.process is None:
            return None
        return stop_tree(self.process, signal.SIGTERM, timeout=10)

    def __enter__(self) -> Edge:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def logs(self) -> str:
        """nginx's own log (stderr) and the access log."""
        return "".join(p.read_text(errors="replace") for p in (self.log_path, self.access_log) if p.exists())

    def viewers(self) -> dict[str, Any]:
        return http_json(self.status + edge_files.VIEWERS_PATH)

    def metrics_text(self) -> str:
        code, body = http_get(self.status + edge_files.METRICS_PATH)
        if code != 200:
            raise EdgeError(f"/metrics answered {code}")
        return body.decode()

    def samples(self, metric: str) -> list[tuple[dict[str, str], float]]:
        """(labels, value) of every sample of `metric` (a family name, or a counter's *_total)."""
        out = []
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                if sample.name == metric:
                    out.append((dict(sample.labels), sample.value))
        return out

    def total(self, metric: str, **labels: str) -> float:
        """The sum of the samples of `metric` whose labels include `labels`."""
        return sum(v for sl, v in self.samples(metric) if all(sl.get(k) == want for k, want in labels.items()))
