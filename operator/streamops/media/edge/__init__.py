"""The edge: nginx with its Lua module in front of the ingest workers of a namespace, caching and
collapsing what LL-HLS viewers ask for, verifying signed playback tokens and counting viewers.
Not Python: this package ships the files the edge image runs (nginx.conf.template, entrypoint.sh,
the edge*.lua modules) so that the operator, the image and the host harness share one copy. What
the operator needs to run it (ports, probes, variables, mounts) is below; the contract is
docs/design/playback.md."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from streamops.contract.edge import EDGE_HEADER as EDGE_HEADER
from streamops.contract.edge import ENV_CACHE_SIZE as ENV_CACHE_SIZE
from streamops.contract.edge import ENV_CLUSTER_DOMAIN as ENV_CLUSTER_DOMAIN
from streamops.contract.edge import ENV_GEOIP_FILE as ENV_GEOIP_FILE
from streamops.contract.edge import ENV_NAME as ENV_NAME
from streamops.contract.edge import ENV_NAMESPACE as ENV_NAMESPACE
from streamops.contract.edge import ENV_ORIGIN as ENV_ORIGIN
from streamops.contract.edge import ENV_TRUSTED_PROXIES as ENV_TRUSTED_PROXIES
from streamops.contract.edge import ENV_VIEWER_WINDOW_SECONDS as ENV_VIEWER_WINDOW_SECONDS
from streamops.contract.edge import HEALTH_PATH as HEALTH_PATH
from streamops.contract.edge import HTTP_PORT as HTTP_PORT
from streamops.contract.edge import KEYS_DIR as KEYS_DIR
from streamops.contract.edge import METRICS_PATH as METRICS_PATH
from streamops.contract.edge import RECORDINGS_DIR as RECORDINGS_DIR
from streamops.contract.edge import ROUTES_DIR as ROUTES_DIR
from streamops.contract.edge import ROUTES_FILE as ROUTES_KEY
from streamops.contract.edge import RULES_SUFFIX as RULES_SUFFIX

# What the operator and the edge share (ports, paths, the header, mounts, variables): defined once there.
from streamops.contract.edge import STATE_DIR as STATE_DIR
from streamops.contract.edge import STATUS_PORT as STATUS_PORT
from streamops.contract.edge import VIEWER_WINDOW_SECONDS as VIEWER_WINDOW_SECONDS
from streamops.contract.edge import VIEWERS_PATH as VIEWERS_PATH
from streamops.contract.edge import rules_file as rules_file

# This directory: the image copies it to IMAGE_DIR; the host harness runs ENTRYPOINT from here.
FILES_DIR = Path(__file__).parent
ENTRYPOINT = "entrypoint.sh"
IMAGE_DIR = "/opt/streamops-edge"
UID = 65532


CACHE_HEADER = "X-Streamops-Edge-Cache"  # hit, miss or collapsed
ROUTES_FILE = f"{ROUTES_DIR}/{ROUTES_KEY}"

# The environment entrypoint.sh reads (defaults there).
ENV_KEYS_DIR = "STREAMOPS_EDGE_KEYS_DIR"
ENV_ROUTES_FILE = "STREAMOPS_EDGE_ROUTES_FILE"
ENV_STATE_DIR = "STREAMOPS_EDGE_STATE_DIR"
ENV_MEMORY_CACHE_SIZE = "STREAMOPS_EDGE_MEMORY_CACHE_SIZE"
ENV_WORKERS = "STREAMOPS_EDGE_WORKERS"
ENV_HTTP_PORT = "STREAMOPS_EDGE_HTTP_PORT"
ENV_STATUS_PORT = "STREAMOPS_EDGE_STATUS_PORT"
ENV_LISTEN_ADDRESS = "STREAMOPS_EDGE_LISTEN_ADDRESS"
ENV_RECORDINGS_DIR = "STREAMOPS_EDGE_RECORDINGS_DIR"  # the claims served under /videos/ (claim-videos.md)
ENV_ACCESS_LOG = "STREAMOPS_EDGE_ACCESS_LOG"  # a file, or off (the default: not /dev/stdout, see entrypoint.sh)
ENV_ERROR_LOG_LEVEL = "STREAMOPS_EDGE_ERROR_LOG_LEVEL"
ENV_RESOLV_CONF = "STREAMOPS_EDGE_RESOLV_CONF"

DEFAULT_ORIGIN_TEMPLATE = "http://{name}-ingest.{namespace}.svc.{domain}:8080"
DEFAULT_CACHE_SIZE = "1g"
DEFAULT_MEMORY_CACHE_SIZE = "64m"


def default_path_prefix(namespace: str, name: str) -> str:
    """The playback path every stream has at the edge without a routes line."""
    return f"/streams/{namespace}/{name}"


def routes_file(routes: Mapping[str, str], public: Collection[str] = ()) -> str:
    """The routes file (a ConfigMap key): a line `<prefix> <name>` per stream the edge serves (it
    serves no other; `routes`: prefix -> stream name, the default path included), `<prefix> <name> public` for a public
    stream (on its default path too: list it in `routes`), whose token segment the edge then strips
    unverified as the contract says, where it would otherwise refuse a stale or foreign token."""
    return "".join(f"{prefix} {name}{' public' if name in public else ''}\n" for prefix, name in sorted(routes.items()))
