"""Every Prometheus metric streamops exports, defined once (issue 28): name, type, help, labels and
who exports it. The workers and the operator build their collectors from these entries; the chart's
alerts and dashboards may only query names listed here (a unit test reads them), and the cluster
test checks that a real Prometheus scrapes them through the ServiceMonitors. Conventions
(docs/design/observability.md): `streamops_` prefix, base units in the name (`_seconds`, `_bytes`,
`_bits_per_second`, `_pixels`, `_ratio`), counters end in `_total`, bounded labels only.

Labels: a worker's series carry `stream` (the LiveStream's name); Prometheus adds `namespace` from
the scrape target. The operator's series carry `namespace` themselves (its ServiceMonitor endpoint
honours labels), and so do the edge's (one edge serves one namespace). No label ever holds a viewer,
a URL, a key or free text: every label but an object's name (stream, recording, target, namespace,
webhook) has its values listed here (`MetricSpec.values`), so a stream's series have a ceiling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "histogram"]
Exporter = Literal["ingest", "recorder", "pusher", "edge", "operator"]


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exposed: a counter's name ends in _total here (the family's sample name)
    type: MetricType
    help: str
    labels: tuple[str, ...]
    exporter: Exporter
    # Present on every scrape of its exporter once it runs (a labelled child created up front);
    # False: appears with its first event (a refusal reason, a failure), or only where it applies
    # (the upload metrics: a recorder that uploads to object storage).
    always: bool = True
    # The values of each enumerated label (label, values): every label but the object names.
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def family(self) -> str:
        """The name prometheus-client is given (it appends _total to a counter)."""
        return self.name.removesuffix("_total") if self.type == "counter" else self.name

    def allowed(self, label: str) -> tuple[str, ...] | None:
        """The values `label` may take; None for an object's name (bounded by the objects)."""
        return dict(self.values).get(label)


# Bounded label values (enums), so a stream's series count has a ceiling.
ROLES = ("primary", "backup")
VIEWER_PROTOCOLS = ("hls", "llhls", "dash", "webrtc", "srt", "rtsp")
REQUEST_KINDS = ("playlist", "media", "other")  # playlists and DASH manifests; parts, segments, init
REQUESTS_VIA = ("edge", "direct")
# contract.playback_token.Refusal's reasons, and no_keys (the ingest has no keys to check with).
TOKEN_REFUSAL_REASONS = ("missing", "invalid", "expired", "unknown_key", "other_viewer", "no_keys")
# A PlaybackPolicy's rules (media/ingest/playback_rules.py, edge_rules.lua), the last two the server's fault.
RULE_REFUSAL_REASONS = ("address", "country", "referrer", "user_agent", "geoip_unavailable", "rules_unavailable")
PLAYBACK_REFUSAL_REASONS = TOKEN_REFUSAL_REASONS + RULE_REFUSAL_REASONS
WHIP_REFUSAL_REASONS = ("not_whip", "unauthorized", "busy", "offer", "unavailable")  # webrtc/admission.py
# Why the RTMP front (components/rtmp) turned a connection away before it published: a wrong key, a
# message a publisher does not send before `publish`, the pre-auth deadline or byte cap, too many
# unauthenticated connections from one address or in all, TLS failing, and the worker's own refusals
# (another publisher is live, the stream is inactive).
# Why the readers' component (SRT, RTSP: components/readers) turned a reader away: the token's
# refusals, its caps, a stream not live, a caller that publishes or speaks the protocol wrong.
READER_PROTOCOLS = ("srt", "rtsp")
READER_REFUSAL_REASONS = (
    "missing",
    "invalid",
    "expired",
    "unknown_key",
    "other_viewer",
    "no_keys",
    "mode",
    "overload",
    "not_live",
    "timeout",
    "bytes",
    "protocol",
    "encryption",
    # A PlaybackPolicy's rules, asked of the worker with the caller's address (RULE_REFUSAL_REASONS').
    "address",
    "country",
    "geoip_unavailable",
    "rules_unavailable",
)
RTMP_REFUSAL_REASONS = ("key", "protocol", "deadline", "bytes", "source_cap", "total_cap", "tls", "busy", "inactive")
# Why the ingest turned a request away at once to keep its loop for the recorders and pushers
# (media/ingest/load_caps.py: the caps by face, per address or in all).
OVERLOAD_REFUSAL_REASONS = (
    "feed_source_cap",
    "feed_total_cap",
    "blocking_client_cap",
    "blocking_total_cap",
    "public_total_cap",
    "rate_client_cap",
    "rate_total_cap",
)
PUSHER_STATES = (  # contract.pusher.PUSHER_STATES
    "waiting-for-source",
    "connecting",
    "live",
    "backoff",
    "codec-not-accepted",
)
EDGE_REQUEST_KINDS = ("playlist", "playlist_blocking", "part", "init", "segment", "manifest", "other")
EDGE_CACHE = ("hit", "miss", "collapsed", "pass", "none")
EDGE_VIEWER_PROTOCOLS = ("hls", "llhls", "dash")
EDGE_REFUSAL_REASONS = TOKEN_REFUSAL_REASONS[:-1] + RULE_REFUSAL_REASONS  # edge_token.lua's REFUSALS, edge_rules.lua's
# The kinds with a status loop (control/kinds.py).
OPERATOR_KINDS = (
    "livestream",
    "recording",
    "restream",
    "clip",
    "qualityset",
    "clusterqualityset",
    "broadcast",
    "playbackpolicy",
)
RESULTS = ("ok", "error")
WORKERS = ("ingest", "recorder", "pusher", "clipper")
QUOTA_SCOPES = ("namespace", "stream")

INGEST = ("stream", "role")
IN_ROLE = (("role", ROLES),)

INGEST_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("streamops_ingest_live", "gauge", "1 while media flows", INGEST, "ingest", values=IN_ROLE),
    MetricSpec("streamops_ingest_frame_rate", "gauge", "frames per second (live)", INGEST, "ingest", values=IN_ROLE),
    MetricSpec(
        "streamops_ingest_bitrate_bits_per_second",
        "gauge",
        "feed bitrate over the last seconds",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_video_width_pixels", "gauge", "video width (0 before media)", INGEST, "ingest", values=IN_ROLE
    ),
    MetricSpec(
        "streamops_ingest_video_height_pixels",
        "gauge",
        "video height (0 before media)",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_keyframe_interval_seconds",
        "gauge",
        "time between the last two video keyframes of the feed (0 before two)",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_segment_target_seconds",
        "gauge",
        "the HLS segment duration asked for (hls.segmentSeconds)",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_playlist_updated_timestamp_seconds",
        "gauge",
        "Unix time the HLS playlist last gained a segment (0 before the first)",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_transcoding_speed_ratio",
        "gauge",
        "encoder speed relative to real time (1 = keeping up; copy streams report their remux speed)",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_feed_consumers",
        "gauge",
        "recorders and pushers reading the feed",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_sessions_total",
        "counter",
        "publish or pull sessions started",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_publishers_refused_total",
        "counter",
        "publishers refused (wrong key, already publishing, inactive)",
        INGEST,
        "ingest",
        values=IN_ROLE,
    ),
    MetricSpec(
        "streamops_ingest_rtmp_refused_total",
        "counter",
        "RTMP/RTMPS connections turned away before publishing, by reason",
        (*INGEST, "reason"),
        "ingest",
        always=False,
        values=(*IN_ROLE, ("reason", RTMP_REFUSAL_REASONS)),
    ),
    MetricSpec(
        "streamops_ingest_reader_refusals_total",
        "counter",
        "SRT callers and RTSP connections refused by the readers' component, by protocol and reason",
        (*INGEST, "protocol", "reason"),
        "ingest",
        always=False,
        values=(*IN_ROLE, ("protocol", READER_PROTOCOLS), ("reason", READER_REFUSAL_REASONS)),
    ),
    MetricSpec(
        "streamops_viewers",
        "gauge",
        "viewer sessions in the window, by protocol",
        (*INGEST, "protocol"),
        "ingest",
        values=(*IN_ROLE, ("protocol", VIEWER_PROTOCOLS)),
    ),
    MetricSpec(
        "streamops_playback_requests_total",
        "counter",
        "playback requests served, by kind (playlist, media, other) and whether an edge sent them",
        (*INGEST, "kind", "via"),
        "ingest",
        always=False,
        values=(*IN_ROLE, ("kind", REQUEST_KINDS), ("via", REQUESTS_VIA)),
    ),
    MetricSpec(
        "streamops_playback_refusals_total",
        "counter",
        "playback requests refused (a signed stream's token, a PlaybackPolicy's rules), by reason",
        (*INGEST, "reason"),
        "ingest",
        always=False,
        values=(*IN_ROLE, ("reason", PLAYBACK_REFUSAL_REASONS)),
    ),
    MetricSpec(
        "streamops_ingest_overload_refusals_total",
        "counter",
        "requests refused at once by the ingest's concurrency caps (feed readers, blocking LL-HLS reloads, "
        "public requests) and request-rate budgets, by reason",
        (*INGEST, "reason"),
        "ingest",
        always=False,
        values=(*IN_ROLE, ("reason", OVERLOAD_REFUSAL_REASONS)),
    ),
    MetricSpec(
        "streamops_ingest_whip_refused_total",
        "counter",
        "WHIP offers refused, by reason",
        (*INGEST, "reason"),
        "ingest",
        always=False,
        values=(*IN_ROLE, ("reason", WHIP_REFUSAL_REASONS)),
    ),
)

REC = ("stream", "recording")
RECORDER_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("streamops_recorder_recording", "gauge", "1 while a video is open", REC, "recorder"),
    MetricSpec("streamops_recorder_recorded_seconds", "gauge", "seconds in the open video", REC, "recorder"),
    MetricSpec("streamops_recorder_videos_total", "counter", "videos finalised", REC, "recorder"),
    MetricSpec("streamops_recorder_discarded_total", "counter", "videos discarded (too short)", REC, "recorder"),
    MetricSpec("streamops_recorder_errors_total", "counter", "failed finalisations", REC, "recorder"),
    MetricSpec("streamops_recorder_source_drops_total", "counter", "feed ended mid-video", REC, "recorder"),
    # Only a recorder that uploads to object storage exports these four (always=False), all from its start.
    MetricSpec(
        "streamops_recorder_uploads_pending", "gauge", "videos waiting to be uploaded", REC, "recorder", always=False
    ),
    MetricSpec(
        "streamops_recorder_upload_lag_seconds",
        "gauge",
        "age of the oldest video waiting to be uploaded, from its end (0 when none waits)",
        REC,
        "recorder",
        always=False,
    ),
    MetricSpec(
        "streamops_recorder_uploaded_bytes_total",
        "counter",
        "bytes sent to object storage",
        REC,
        "recorder",
        always=False,
    ),
    MetricSpec(
        "streamops_recorder_upload_failures_total",
        "counter",
        "upload attempts that failed (each retried)",
        REC,
        "recorder",
        always=False,
    ),
)

PUSH = ("stream", "target")  # target: the Restream's name (never its URI)
# No streamops_pusher_live: it was streamops_pusher_state{state="live"} again (one series less).
PUSHER_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "streamops_pusher_state",
        "gauge",
        "1 for the pusher's current state (waiting-for-source, connecting, live: bytes reach the target, backoff, "
        "codec-not-accepted: the source's video is a codec the target does not take)",
        (*PUSH, "state"),
        "pusher",
        values=(("state", PUSHER_STATES),),
    ),
    MetricSpec("streamops_pusher_sent_bytes_total", "counter", "bytes pushed to the target", PUSH, "pusher"),
    MetricSpec(
        "streamops_pusher_reconnects_total", "counter", "new connections to the target after the first", PUSH, "pusher"
    ),
    MetricSpec("streamops_pusher_target_failures_total", "counter", "target failures", PUSH, "pusher"),
)

OPERATOR_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("streamops_operator_leader", "gauge", "1 while this operator process reconciles", (), "operator"),
    MetricSpec(
        "streamops_operator_reconciles_total",
        "counter",
        "reconciles by kind and result (ok, error)",
        ("kind", "result"),
        "operator",
        values=(("kind", OPERATOR_KINDS), ("result", RESULTS)),
    ),
    MetricSpec(
        "streamops_operator_reconcile_duration_seconds",
        "histogram",
        "time one reconcile took",
        ("kind",),
        "operator",
        values=(("kind", OPERATOR_KINDS),),
    ),
    MetricSpec(
        "streamops_operator_queue_latency_seconds",
        "histogram",
        "from a change being seen (watch event) to its reconcile starting",
        ("kind",),
        "operator",
        values=(("kind", OPERATOR_KINDS),),
    ),
    MetricSpec(
        "streamops_operator_objects",
        "gauge",
        "objects the operator follows, by kind",
        ("kind",),
        "operator",
        values=(("kind", OPERATOR_KINDS),),
    ),
    MetricSpec(
        "streamops_livestream_active",
        "gauge",
        "1 when the LiveStream's spec.active is true (the stream should take media)",
        ("namespace", "stream"),
        "operator",
    ),
    MetricSpec(
        "streamops_worker_restarts",
        "gauge",
        "container restarts of a stream's worker Pods, by worker (ingest, recorder, pusher)",
        ("namespace", "stream", "worker"),
        "operator",
        always=False,
        values=(("worker", WORKERS),),
    ),
    MetricSpec(
        "streamops_recording_storage_used_bytes",
        "gauge",
        "recorded bytes counted against a quota, by scope (namespace; stream for a stream's own quota)",
        ("namespace", "stream", "scope"),
        "operator",
        always=False,
        values=(("scope", QUOTA_SCOPES),),
    ),
    MetricSpec(
        "streamops_recording_storage_limit_bytes",
        "gauge",
        "the quota in bytes (only scopes that have one)",
        ("namespace", "stream", "scope"),
        "operator",
        always=False,
        values=(("scope", QUOTA_SCOPES),),
    ),
    MetricSpec(
        "streamops_webhook_deliveries_total",
        "counter",
        "webhook delivery attempts by result (delivered, failed)",
        ("namespace", "webhook", "result"),
        "operator",
        always=False,
        values=(("result", ("delivered", "failed")),),
    ),
    MetricSpec(
        "streamops_webhook_delivery_latency_seconds",
        "histogram",
        "from an event being recorded in the outbox to the receiver's 2xx",
        ("namespace", "webhook"),
        "operator",
        always=False,
    ),
    MetricSpec(
        "streamops_webhook_backlog",
        "gauge",
        "events waiting to be delivered to a subscription",
        ("namespace", "webhook"),
        "operator",
        always=False,
    ),
    MetricSpec(
        "streamops_webhook_consecutive_failures",
        "gauge",
        "failed attempts since the subscription's last delivery",
        ("namespace", "webhook"),
        "operator",
        always=False,
    ),
    MetricSpec(
        "streamops_webhook_expired_total",
        "counter",
        "events dropped after 24 h without a delivery",
        ("namespace", "webhook"),
        "operator",
        always=False,
    ),
)

# The edge (nginx + Lua, media/edge/edge_stats.lua) writes its text format itself, with the
# namespace it serves; past 500 stream names it counts new ones as stream="_other".
EDGE = ("namespace", "stream")
EDGE_METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "streamops_edge_requests_total",
        "counter",
        "viewer requests the edge answered, by kind and how (hit, miss, collapsed, pass, none)",
        (*EDGE, "kind", "cache"),
        "edge",
        always=False,
        values=(("kind", EDGE_REQUEST_KINDS), ("cache", EDGE_CACHE)),
    ),
    MetricSpec(
        "streamops_edge_origin_requests_total",
        "counter",
        "requests the edge sent to the stream's ingest, by kind",
        (*EDGE, "kind"),
        "edge",
        always=False,
        values=(("kind", EDGE_REQUEST_KINDS),),
    ),
    MetricSpec(
        "streamops_viewers",
        "gauge",
        "viewer sessions seen in the last window at this edge replica, by protocol",
        (*EDGE, "protocol"),
        "edge",
        always=False,
        values=(("protocol", EDGE_VIEWER_PROTOCOLS),),
    ),
    MetricSpec(
        "streamops_playback_refusals_total",
        "counter",
        "playback requests refused by the edge, by reason",
        (*EDGE, "reason"),
        "edge",
        always=False,
        values=(("reason", EDGE_REFUSAL_REASONS),),
    ),
)

ALL_METRICS: tuple[MetricSpec, ...] = (
    *INGEST_METRICS,
    *RECORDER_METRICS,
    *PUSHER_METRICS,
    *OPERATOR_METRICS,
    *EDGE_METRICS,
)
METRIC_NAMES: frozenset[str] = frozenset(m.name for m in ALL_METRICS)
# A stream with one ingest, one recording and one restream exposes at most this many series from its
# workers (counted by tests/media/test_metrics_series.py against the real workers: an LL-HLS stream
# played directly, a recording to a claim). The ceiling from the enums (every protocol, kind, reason
# and the upload metrics at once) is higher: the test computes it from `values`.
MAX_SERIES_PER_STREAM = 30


def spec(name: str, exporter: Exporter) -> MetricSpec:
    """The catalogue's entry for `name` as `exporter` exports it."""
    for m in ALL_METRICS:
        if m.name == name and m.exporter == exporter:
            return m
    raise KeyError(f"{name} ({exporter}) is not in streamops.contract.metrics")
