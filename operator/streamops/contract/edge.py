"""The operator ↔ edge contract: the names, ports, paths and environment of a namespace's edge tier
(media/edge/: nginx + Lua) and the viewer sessions every playback server reports
(docs/design/playback.md, "The contract")."""

from __future__ import annotations

from pydantic import BaseModel, Field

from streamops.api.playback_policy import PlaybackRules

# The ingest answers /viewers alike, takes the edge's header, and counts over the same window.
from streamops.contract.ingest import EDGE_HEADER as EDGE_HEADER
from streamops.contract.ingest import VIEWER_WINDOW_SECONDS as VIEWER_WINDOW_SECONDS
from streamops.contract.ingest import VIEWERS_PATH as VIEWERS_PATH
from streamops.contract.ingest import ViewerSessionHashes

EDGE_NAME = "streamops-edge"  # the Deployment, Service, autoscaler and routes ConfigMap of a namespace
EDGE_COMPONENT = "edge"
HTTP_PORT = 8080  # viewers (through the Ingress/HTTPRoute)
STATUS_PORT = 8081  # /healthz, /viewers, /metrics: the operator and Prometheus, not viewers
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
SESSION_PARAM = "_sid"

ENV_NAMESPACE = "STREAMOPS_EDGE_NAMESPACE"
ENV_CLUSTER_DOMAIN = "STREAMOPS_EDGE_CLUSTER_DOMAIN"
ENV_ORIGIN = "STREAMOPS_EDGE_ORIGIN"  # template: {name}, {namespace}, {domain}; tests point it at 127.0.0.1
ENV_CACHE_SIZE = "STREAMOPS_EDGE_CACHE_SIZE"
ENV_VIEWER_WINDOW_SECONDS = "STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS"
ENV_GEOIP_FILE = "STREAMOPS_EDGE_GEOIP_FILE"  # a MaxMind-format database, for playback rules naming countries
ENV_NAME = "STREAMOPS_EDGE_NAME"  # the Pod's name, sent to the ingest in EDGE_HEADER
# Space-separated CIDRs whose X-Forwarded-For names the viewer (nginx's set_real_ip_from); unset: none.
ENV_TRUSTED_PROXIES = "STREAMOPS_EDGE_TRUSTED_PROXIES"
KEYS_DIR = "/etc/streamops-edge/keys"  # the namespace's playback keys Secret (current, previous)
ROUTES_DIR = "/etc/streamops-edge/routes"  # the routes ConfigMap: streams with their own playback path
ROUTES_FILE = "routes"
RULES_SUFFIX = ".rules"  # a stream's playback rules: <name>.rules beside the routes (edge_rules.lua)
GEOIP_DIR = "/etc/streamops-edge/geoip"  # the admin's GeoIP database (chart playback.geoip), when there is one
# The recordings claims it serves under /videos/ (edge_videos.lua), one directory per claim, read-only.
RECORDINGS_DIR = "/var/lib/streamops-edge/recordings"
STATE_DIR = "/var/cache/streamops-edge"  # writable: the rendered config, temp files, the segment files
PROTOCOLS = ("hls", "llhls", "dash")


class ViewerSessions(BaseModel):
    """GET /viewers of an edge replica (and of an ingest, for its own stream)."""

    window_seconds: int = Field(default=VIEWER_WINDOW_SECONDS, alias="windowSeconds")
    streams: dict[str, ViewerSessionHashes] = Field(default_factory=dict, description='By "<namespace>/<name>".')

    model_config = {"populate_by_name": True}


def rules_file(rules: PlaybackRules) -> str:
    """A stream's playback rules as the edge reads them (a ConfigMap key `<name>.rules` beside the
    routes, edge_rules.lua): one rule a line, the values as validated (no spaces but in a user agent
    pattern, which takes the rest of its line)."""
    lines = [f"deny-cidr {c}" for c in rules.denied_cidrs or []]
    lines += [f"allow-cidr {c}" for c in rules.allowed_cidrs or []]
    lines += [f"allow-country {c}" for c in rules.allowed_countries or []]
    lines += [f"deny-country {c}" for c in rules.denied_countries or []]
    if rules.allowed_referrers:
        lines += [f"allow-referrer {h}" for h in rules.allowed_referrers]
        lines.append(f"no-referrer {'allow' if rules.allow_no_referrer else 'deny'}")
    lines += [f"allow-user-agent {p}" for p in rules.allowed_user_agents or []]
    return "".join(line + "\n" for line in lines)


# A stream that names a PlaybackPolicy that does not exist: its viewers are refused (503 rules_unavailable).
RULES_UNAVAILABLE = "unavailable\n"
