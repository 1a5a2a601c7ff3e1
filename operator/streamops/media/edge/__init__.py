"""The edge: nginx with its Lua module in front of the ingest workers of a namespace, caching and
collapsing what LL-HLS viewers ask for, verifying signed playback tokens and counting viewers.
Not Python: this package ships the files the edge image runs (nginx.conf.template, entrypoint.sh,
the edge*.lua modules) so that the operator, the image and the host harness share one copy. What
the operator needs to run it (ports, probes, variables, mounts) is below; the contract is
docs/design/playback.md."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

# This directory: the image copies it to IMAGE_DIR; the host harness runs ENTRYPOINT from here.
FILES_DIR = Path(__file__).parent
ENTRYPOINT = "entrypoint.sh"
IMAGE_DIR = "/opt/streamops-edge"
UID = 65532

HTTP_PORT = 8080  # viewers (the Service's port; Traefik routes the playback paths here)
STATUS_PORT = 8081  # probes and scrapes, not for viewers
HEALTH_PATH = "/healthz"  # liveness and readiness: nginx answers
VIEWERS_PATH = "/viewers"  # {"windowSeconds": 30, "streams": {"<ns>/<name>": {"hls": [...], ...}}}
METRICS_PATH = "/metrics"  # Prometheus text

# What the edge sends the ingest (the ingest does not count these requests as viewers) and viewers.
EDGE_HEADER = "X-Streamops-Edge"
CACHE_HEADER = "X-Streamops-Edge-Cache"  # hit, miss, collapsed (memory) or nginx's HIT/MISS/EXPIRED...

# Mounts: the namespace's playback keys Secret (files `current`, `previous`; optional: a namespace
# without signed streams has none), the routes ConfigMap, and a writable emptyDir for the state
# (rendered config, temp files, the disk cache: give it CACHE_MAX_SIZE plus ~10 %).
KEYS_DIR = "/etc/streamops-edge/keys"
ROUTES_DIR = "/etc/streamops-edge/routes"
ROUTES_KEY = "routes"
ROUTES_FILE = f"{ROUTES_DIR}/{ROUTES_KEY}"
STATE_DIR = "/var/cache/streamops-edge"

# The environment entrypoint.sh reads (defaults there).
ENV_NAMESPACE = "STREAMOPS_EDGE_NAMESPACE"
ENV_ORIGIN = "STREAMOPS_EDGE_ORIGIN"  # {name}, {namespace}, {domain}
ENV_CLUSTER_DOMAIN = "STREAMOPS_EDGE_CLUSTER_DOMAIN"
ENV_KEYS_DIR = "STREAMOPS_EDGE_KEYS_DIR"
ENV_ROUTES_FILE = "STREAMOPS_EDGE_ROUTES_FILE"
ENV_VIEWER_WINDOW_SECONDS = "STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS"
ENV_STATE_DIR = "STREAMOPS_EDGE_STATE_DIR"
ENV_CACHE_SIZE = "STREAMOPS_EDGE_CACHE_SIZE"
ENV_MEMORY_CACHE_SIZE = "STREAMOPS_EDGE_MEMORY_CACHE_SIZE"
ENV_WORKERS = "STREAMOPS_EDGE_WORKERS"
ENV_HTTP_PORT = "STREAMOPS_EDGE_HTTP_PORT"
ENV_STATUS_PORT = "STREAMOPS_EDGE_STATUS_PORT"
ENV_LISTEN_ADDRESS = "STREAMOPS_EDGE_LISTEN_ADDRESS"
ENV_NAME = "STREAMOPS_EDGE_NAME"  # the Pod's name (fieldRef metadata.name); default $HOSTNAME
ENV_ACCESS_LOG = "STREAMOPS_EDGE_ACCESS_LOG"  # a file, or off (the default: not /dev/stdout, see entrypoint.sh)
ENV_ERROR_LOG_LEVEL = "STREAMOPS_EDGE_ERROR_LOG_LEVEL"
ENV_RESOLV_CONF = "STREAMOPS_EDGE_RESOLV_CONF"

DEFAULT_ORIGIN_TEMPLATE = "http://{name}-ingest.{namespace}.svc.{domain}:8080"
DEFAULT_CACHE_SIZE = "1g"
DEFAULT_MEMORY_CACHE_SIZE = "64m"
VIEWER_WINDOW_SECONDS = 30


def default_path_prefix(namespace: str, name: str) -> str:
    """The playback path every stream has at the edge without a routes line."""
    return f"/streams/{namespace}/{name}"


def routes_file(routes: Mapping[str, str], public: Collection[str] = ()) -> str:
    """The routes file (a ConfigMap key): a line `<prefix> <name>` per stream whose playback path is
    not the default one (`routes`: prefix -> stream name), `<prefix> <name> public` for a public
    stream (on its default path too: list it in `routes`), whose token segment the edge then strips
    unverified as the contract says, where it would otherwise refuse a stale or foreign token."""
    return "".join(f"{prefix} {name}{' public' if name in public else ''}\n" for prefix, name in sorted(routes.items()))
