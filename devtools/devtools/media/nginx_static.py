"""nginx (Debian's, no extra module) serving a directory's files over HTTP on 127.0.0.1: the static
HLS origin that bench-playback puts beside the ingest, serving the same stream's files.

One worker process by default (the ingest serves viewers from one Python process), sendfile,
keep-alive, no access log (the ingest keeps none per request either), playlists `no-cache`.
Stopped by PID like every peer (devtools.media.peers)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from devtools.media.peers import _NGINX_TEMP_PATHS, _Peer
from devtools.ports import LOOPBACK, free_port, tcp_accepts
from devtools.waits import wait_for


class NginxHttp(_Peer):
    """Debian's nginx in the foreground on 127.0.0.1:`port` with `config()` written to `conf_path` in
    `dir` (a subclass sets those three), ready once its worker started and the port accepts."""

    dir: Path
    port: int
    conf_path: Path
    start_timeout: float = 10.0
    state_dirs: tuple[str, ...] = ("tmp",)  # made under dir before it starts

    def config(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        return ["nginx", "-p", f"{self.dir}/", "-c", str(self.conf_path), "-g", "daemon off;"]

    def start(self) -> Self:
        for sub in self.state_dirs:
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config())
        return super().start()

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            return "start worker process" in self.log_since_start() and tcp_accepts(self.port, LOOPBACK)

        wait_for(up, self.start_timeout, 0.05, f"{type(self).__name__} (nginx) on {LOOPBACK}:{self.port}")


class NginxStatic(NginxHttp):
    """`root`'s files at http://127.0.0.1:<port>/<path>."""

    def __init__(self, root: Path, workdir: Path, *, worker_processes: int = 1, start_timeout: float = 10.0) -> None:
        self.root, self.dir = root.resolve(), workdir.resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "error.log")
        self.port = free_port()
        self.worker_processes = worker_processes
        self.start_timeout = start_timeout
        self.conf_path = self.dir / "nginx.conf"

    def url(self, path: str = "") -> str:
        return f"http://{LOOPBACK}:{self.port}/{path.lstrip('/')}"

    def config(self) -> str:
        d = self.dir
        temp_paths = "\n".join(f"    {kind}_temp_path {d}/tmp/{kind};" for kind in _NGINX_TEMP_PATHS)
        user = "user root;\n" if os.geteuid() == 0 else ""  # as NginxRtmp: workers must read our 0700 dirs
        return f"""{user}worker_processes {self.worker_processes};
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {self.log_path} info;
events {{ worker_connections 16384; }}
worker_rlimit_nofile 32768;
http {{
    access_log off;
{temp_paths}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/mp4 mp4; video/iso.segment m4s; }}
    server {{
        listen {LOOPBACK}:{self.port} backlog=4096;
        root {self.root};
        location ~ \\.m3u8$ {{ add_header Cache-Control no-cache; }}
    }}
}}
"""
