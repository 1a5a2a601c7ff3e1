"""A CDN stand-in: Debian's nginx with `proxy_cache` in front of one origin, on 127.0.0.1 (tests of the
playback cache headers, docs/design/cdn.md). It caches what the origin's Cache-Control allows (nginx
honours max-age, no-cache, no-store and private), keys each object by its path and query — without a
`/t/<token>/` segment when `strip_token` (a CDN told to keep one entry for every token: the worst case
for signed playback) — collapses concurrent misses (proxy_cache_lock) and says in `X-Cache-Status`
what it did ($upstream_cache_status: MISS, HIT, EXPIRED, ...; empty when it did not look: no-store).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from devtools.media.nginx_static import NginxHttp
from devtools.media.peers import _NGINX_TEMP_PATHS
from devtools.ports import LOOPBACK, free_port


class SharedCache(NginxHttp):
    """nginx `proxy_cache` at http://127.0.0.1:<port> for `origin` (http://host:port, no path), sending
    `origin_host` as the Host header when given (a CDN's origin host name, e.g. an Ingress's host that
    the origin's address serves among others)."""

    state_dirs = ("tmp", "cache")

    def __init__(
        self,
        origin: str,
        *,
        strip_token: bool = True,
        origin_host: str | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="streamops-cache-")).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.dir / "error.log")
        self.origin, self.strip_token, self.origin_host = origin.rstrip("/"), strip_token, origin_host
        self.port = free_port()
        self.conf_path = self.dir / "nginx.conf"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def cache_dir(self) -> Path:
        return self.dir / "cache"

    def stored(self) -> list[Path]:
        """The objects the cache holds on disk now."""
        return [p for p in self.cache_dir.rglob("*") if p.is_file()]

    def config(self) -> str:
        d = self.dir
        temp_paths = "\n".join(f"    {kind}_temp_path {d}/tmp/{kind};" for kind in _NGINX_TEMP_PATHS)
        user = "user root;\n" if os.geteuid() == 0 else ""
        key_path = "$cdn_path" if self.strip_token else "$uri"
        host = f"\n            proxy_set_header Host {self.origin_host};" if self.origin_host else ""
        return f"""{user}worker_processes 1;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {self.log_path} info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
{temp_paths}
    proxy_cache_path {self.cache_dir} levels=1:2 keys_zone=cdn:1m max_size=64m inactive=10m use_temp_path=off;
    map $uri $cdn_path {{
        "~^(?<before>.*)/t/[^/]+(?<after>/.*)$" $before$after;
        default $uri;
    }}
    server {{
        listen {LOOPBACK}:{self.port};
        location / {{
            proxy_pass {self.origin};
            proxy_http_version 1.1;{host}
            proxy_cache cdn;
            proxy_cache_key "{key_path}$is_args$args";
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_read_timeout 15s;
            add_header X-Cache-Status $upstream_cache_status always;
        }}
    }}
}}
"""

    def stop(self, grace: float = 5.0) -> int | None:
        try:
            return super().stop(grace)
        finally:
            if self._own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
