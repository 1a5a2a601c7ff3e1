"""The operator ↔ edge contract: the names, ports, paths and environment of a namespace's edge tier
(media/edge/: nginx + Lua) and the viewer sessions every playback server reports
(docs/design/playback.md, "The contract")."""

from __future__ import annotations

from pydantic import BaseModel, Field

EDGE_NAME = "streamops-edge"  # the Deployment, Service, autoscaler and routes ConfigMap of a namespace
EDGE_COMPONENT = "edge"
HTTP_PORT = 8080  # viewers (through the Ingress/HTTPRoute)
STATUS_PORT = 8081  # /healthz, /viewers, /metrics: the operator and Prometheus, not viewers
HEALTH_PATH = "/healthz"
VIEWERS_PATH = "/viewers"
METRICS_PATH = "/metrics"
# Requests an edge sends to an ingest carry this header (the edge's Pod name): the ingest serves them
# but does not count them as viewers, the edge counts its own.
EDGE_HEADER = "X-Streamops-Edge"
SESSION_PARAM = "_sid"
VIEWER_WINDOW_SECONDS = 30

ENV_NAMESPACE = "STREAMOPS_EDGE_NAMESPACE"
ENV_CLUSTER_DOMAIN = "STREAMOPS_EDGE_CLUSTER_DOMAIN"
ENV_ORIGIN = "STREAMOPS_EDGE_ORIGIN"  # template: {name}, {namespace}, {domain}; tests point it at 127.0.0.1
ENV_CACHE_SIZE = "STREAMOPS_EDGE_CACHE_SIZE"
ENV_VIEWER_WINDOW = "STREAMOPS_EDGE_VIEWER_WINDOW_SECONDS"
ENV_NAME = "STREAMOPS_EDGE_NAME"  # the Pod's name, sent to the ingest in EDGE_HEADER
KEYS_DIR = "/etc/streamops-edge/keys"  # the namespace's playback keys Secret (current, previous)
ROUTES_DIR = "/etc/streamops-edge/routes"  # the routes ConfigMap: streams with their own playback path
ROUTES_FILE = "routes"
CACHE_DIR = "/var/cache/streamops-edge"  # writable: the rendered config, temp files, the disk cache
PROTOCOLS = ("hls", "llhls", "dash")
# Session hashes a server lists per stream and protocol at most (the operator unions them).
MAX_SESSIONS = 5000


class StreamSessions(BaseModel):
    """One stream's viewer sessions seen within the window, by protocol (session_hash values)."""

    hls: list[str] = Field(default_factory=list, max_length=MAX_SESSIONS)
    llhls: list[str] = Field(default_factory=list, max_length=MAX_SESSIONS)
    dash: list[str] = Field(default_factory=list, max_length=MAX_SESSIONS)


class ViewerSessions(BaseModel):
    """GET /viewers of an edge replica (and of an ingest, for its own stream)."""

    window_seconds: int = Field(default=VIEWER_WINDOW_SECONDS, alias="windowSeconds")
    streams: dict[str, StreamSessions] = Field(default_factory=dict, description='By "<namespace>/<name>".')

    model_config = {"populate_by_name": True}
