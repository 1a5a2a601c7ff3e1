"""The ingest worker's contract: `IngestConfig` (env STREAMOPS_INGEST_CONFIG) and `IngestStatus`
(`GET /status`), plus the ports, paths and URLs the ingest serves."""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from streamops.api.livestream_media import (
    DVR,
    HLS,
    RTMPS_CONTAINER_PORT,
    SESSIONS_KEPT,
    BFramesPolicy,
    IngestRole,
    LatencyMode,
    PlaybackEncryption,
    Projection,
    PublishSession,
    Screenshots,
    Source,
    Transcoding,
)
from streamops.contract.egress_policy import EgressPolicy
from streamops.contract.http import INTERNAL_HTTP_PORT
from streamops.contract.overlay import OverlayReport
from streamops.contract.worker import HTTP_PORT, CredentialedConfig, UtcTime, WorkerConfig, WorkerStatus

CONFIG_ENV = "STREAMOPS_INGEST_CONFIG"
RTMP_PORT = 1935
# RTMPS beside RTMP on the next port, as MediaMTX and others do: unprivileged (the worker runs as
# non-root under PodSecurity restricted, so 443 cannot be bound without a sysctl), and any encoder
# takes the port from the URL. A LoadBalancer Service publishes it on 443 (spec.ingest.service.rtmpsPort).
RTMPS_PORT = RTMPS_CONTAINER_PORT
SRT_PORT = 9998
# WebRTC media (components/webrtc): every peer connection on one UDP port (ICE multiplexing) and one
# ICE-TCP port. Two numbers, not one: the component rewrites candidates' ports by listening port, and
# a Service's two nodePorts differ.
WEBRTC_UDP_PORT = 8189
WEBRTC_TCP_PORT = 8190
# SRT and RTSP for readers (components/readers, docs/design/readers.md): MediaMTX's ports, which
# readers' tools are often set up for. Not SRT_PORT: that one takes publishers.
SRT_READ_PORT = 8890
RTSP_READ_PORT = 8554
RTSPS_READ_PORT = 8322
MEDIA_DIR = "/var/lib/streamops"  # HLS sessions and the screenshot (an emptyDir)
STREAM_KEY_DIR = "/var/run/secrets/streamops/stream-key"
STREAM_KEY_FILE = "stream-key"
# An RTSP camera's user name and password (source.pull.credentialsSecretRef), the Secret's two keys
# mounted under these names.
PULL_CREDENTIALS_DIR = "/var/run/secrets/streamops/pull-credentials"
PULL_USERNAME_FILE = "username"
PULL_PASSWORD_FILE = "password"
# The pull origins' private CA (source.pull.tls.caSecretRef), its one key mounted under this name.
PULL_CA_DIR = "/var/run/secrets/streamops/pull-ca"
PULL_CA_FILE = "ca.crt"
# The RTMPS certificate: a kubernetes.io/tls Secret's two keys, mounted as they are named.
TLS_DIR = "/var/run/secrets/streamops/rtmps"
TLS_CERT_FILE = "tls.crt"
TLS_KEY_FILE = "tls.key"
# The STUN/TURN servers for WebRTC clients (playback.webrtc.iceServersSecretRef): RTCIceServer JSON.
# The RTSPS certificate for readers (playback.rtsp.tls): a kubernetes.io/tls Secret, as RTMPS's.
RTSPS_TLS_DIR = "/var/run/secrets/streamops/rtsps"
ICE_SERVERS_DIR = "/var/run/secrets/streamops/ice-servers"
ICE_SERVERS_FILE = "ice-servers.json"
# The namespace's playback signing keys (Secret streamops-playback-keys: files `current`, `previous`),
# mounted for a signed stream (docs/design/playback.md, "Signing keys").
PLAYBACK_KEYS_DIR = "/var/run/secrets/streamops/playback-keys"
# A stream's PlaybackPolicy rules (its key of the namespace's ConfigMap streamops-playback-rules, as
# RULES_FILE) and the admin's GeoIP database (chart playback.geoip): docs/design/playback-rules.md.
RULES_DIR = "/etc/streamops/playback-rules"
RULES_FILE = "rules.json"
GEOIP_DIR = "/etc/streamops/geoip"
RULES_CONFIGMAP = "streamops-playback-rules"  # one per namespace, a key <stream>.json per stream naming a policy

# A frozen encoder (its connection open, nothing sent: a dead network path, a laptop asleep) is cut
# after this long. A stall shorter than that resumes on the same session (a Wi-Fi hand-over, a
# congested uplink: 8 s was cut at 5 s); 10 s as MediaMTX, and the recorders' default reconnect
# window, so a stall ridden out here is one video there. Nothing waits for it: the stream is not
# live after 2 s of silence, a backup takes over then, and a new publisher displaces a silent one
# at once (docs/design/rtmp-front.md, "The publisher timeout").
PUBLISHER_TIMEOUT_SECONDS = 10.0

# A viewer session counts while it made a successful media request within this many seconds
# (docs/design/playback.md, "Viewer sessions").
VIEWER_WINDOW_SECONDS = 30
# At most this many session hashes per protocol in IngestStatus.viewers and /viewers (≈19 bytes each).
VIEWER_SESSIONS_LISTED = 5000
# The WebRTC component's WHEP caps (components/webrtc, docs/design/webrtc.md "WHEP session caps"):
# connected viewers in all, and sessions of one client address (a venue's NAT holds many viewers) and
# of one signed playback token (one viewer's, reconnecting or on a second device). The chart's
# defaults (playback.webrtc.*).
WHEP_MAX_VIEWERS = 500
WHEP_MAX_VIEWERS_PER_ADDRESS = 100
WHEP_MAX_VIEWERS_PER_TOKEN = 5

# What the ingest serves on its internal port (IngestPorts.internal), never on an external Service,
# beside /status and /metrics:
FEED_PATH = "/feed"  # the live feed (MPEG-TS over HTTP) for recorders and pushers
TRANSCODED_FEED_PATH = "/feed/transcoded"
# POST (a primary ingest): its backup ingest's feed, sent while the primary asks for it (backupWanted).
BACKUP_UPLINK_PATH = "/backup/uplink"
VIEWERS_PATH = "/viewers"  # the viewer sessions for the operator to union with the edges' (not playback)
# POST (PlayerSettings): what the player page shows, from the operator. Not in IngestConfig: changing
# it restarts no ingest (docs/design/projection.md).
PLAYER_SETTINGS_PATH = "/player-settings"

# What it serves on its public port (IngestPorts.http), each through the playback gate, at "/" and
# under the stream's path prefix:
HLS_CMAF_PLAYLIST = "/hls/cmaf/index.m3u8"
HLS_MPEGTS_PLAYLIST = "/hls/ts/index.m3u8"
SCREENSHOT_PATH = "/screenshot.jpg"
DASH_MANIFEST = "/dash/manifest.mpd"
CLOCK_PATH = "/time"  # the server's clock (ISO 8601, ms) for dash.js's UTCTiming
PLAYER_PAGE = "/player"  # the player page (media/ingest/player), at the path prefix too
# A broadcast's page and its state document, under each of its streams' prefixes (docs/design/broadcasts.md).
BROADCASTS_PATH = "/broadcasts"
BROADCAST_STATE = "state.json"
PUBLISH_PAGE = "/publish"  # publish from this browser (WHIP with a pasted key), at the path prefix too
WHIP_PATH = "/whip"  # POST an offer (Authorization: Bearer <stream key>); the session resource below it
WHEP_PATH = "/whep"  # POST an offer; the session resource below it
# Make-before-break handover of a live ingest (docs/design/handover.md), on the internal face with
# the stream's worker credential: the operator asks the successor to follow its predecessor, the
# successor reads the predecessor's state, then the operator asks the predecessor to release.
HANDOVER_FOLLOW_PATH = "/handover/follow"  # POST HandoverFollow to the successor
HANDOVER_STATE_PATH = "/handover/state"  # GET on the predecessor: HandoverState (the successor reads it)
HANDOVER_RELEASE_PATH = "/handover/release"  # POST to the predecessor: stop taking media, keep serving
# POST to a primary whose backup is live (a planned switchover): the backup's media on air for a lease
# the operator renews, then the primary's own again (docs/design/handover.md, Part 2).
HANDOVER_YIELD_PATH = "/handover/yield"
# GET on the predecessor: a file its HandoverState lists, at <variant>/<rendition or ->/<name>.
HANDOVER_FILES_PATH = "/handover/files"
# A request sent by an edge to its origin carries this header (the edge's Pod name): served, not a viewer.
EDGE_HEADER = "X-Streamops-Edge"

Role = IngestRole
# Who writes an RTMP(S) publisher's HLS files: the session's FFmpeg, or the RTMP front's Go writers
# (components/rtmp/mux; issue 53, docs/design/lean-ingest.md, "Step 2").
HlsWriter = Literal["ffmpeg", "front"]


class IngestRequestRates(WorkerConfig):
    """The public face's request-rate budgets (media/ingest/load_caps.py); None: its defaults."""

    per_client: float | None = Field(default=None, gt=0, description="Requests a second per client address.")
    total: float | None = Field(default=None, gt=0, description="Requests a second in all.")


class IngestPorts(WorkerConfig):
    """Where the ingest listens: the pod network's fixed ports by default, an allocation of host
    ports when workers run on the host network."""

    http: int = Field(default=HTTP_PORT, ge=0, le=65535)  # public: playback, WHIP, WHEP, the player
    internal: int = Field(default=INTERNAL_HTTP_PORT, ge=0, le=65535)  # the operator's and the workers'
    rtmp: int = Field(default=RTMP_PORT, ge=0, le=65535)
    srt: int = Field(default=SRT_PORT, ge=0, le=65535)
    # Only with rtmps (RTMPS_PORT on the pod network): a default here would change every ingest's
    # configuration, and with it its Pod's spec hash, and roll every live ingest on upgrade.
    rtmps: int | None = Field(default=None, ge=0, le=65535)
    # Only with WebRTC (IngestConfig.webrtc), for the same reason.
    webrtc_udp: int | None = Field(default=None, ge=0, le=65535)
    webrtc_tcp: int | None = Field(default=None, ge=0, le=65535)
    # Only with SRT or RTSP for readers (IngestConfig.readers), for the same reason.
    srt_read: int | None = Field(default=None, ge=0, le=65535)
    rtsp: int | None = Field(default=None, ge=0, le=65535)
    rtsps: int | None = Field(default=None, ge=0, le=65535)


class IngestWebRtc(WorkerConfig):
    """The WebRTC component's settings (docs/design/webrtc.md): what its ICE candidates announce, and
    what WHEP does with a source that has B-frames. Present only when the stream takes WHIP or serves
    WHEP."""

    whep: bool = Field(default=True, description="Serve WHEP viewers (RTP of every source fed to the component).")
    b_frames: BFramesPolicy = "transcode"
    ice_tcp: bool = True
    advertise_hosts: list[str] = Field(
        default_factory=list,
        description="IPv4 addresses or DNS names (resolved at start) announced in the host candidates instead of "
        "the local address; empty: the local one (the Pod's).",
    )
    advertise_udp_port: int | None = Field(
        default=None, ge=1, le=65535, description="The port announced for ports.webrtcUdp (a nodePort)."
    )
    advertise_tcp_port: int | None = Field(
        default=None, ge=1, le=65535, description="The port announced for ports.webrtcTcp (a nodePort)."
    )
    ice_allow: list[str] = Field(
        default_factory=list,
        description="CIDRs whose local addresses gather candidates (and get the UDP port). Empty: the Pod's IP "
        "(env STREAMOPS_POD_IP) when set, else bind_address when it is one address, else every non-loopback one.",
    )
    # None at the defaults (WHEP_MAX_*): a value here would change every ingest's Pod spec hash.
    whep_max_viewers: int | None = Field(
        default=None, ge=0, description="Connected WHEP viewers (503 beyond; 0: no cap). None: WHEP_MAX_VIEWERS."
    )
    whep_max_viewers_per_address: int | None = Field(
        default=None,
        ge=0,
        description="WHEP sessions of one client address, IPv6 per /64 (429 beyond; 0: no cap). None: "
        "WHEP_MAX_VIEWERS_PER_ADDRESS.",
    )
    whep_max_viewers_per_token: int | None = Field(
        default=None,
        ge=0,
        description="WHEP sessions of one signed playback token (429 beyond; 0: no cap). None: "
        "WHEP_MAX_VIEWERS_PER_TOKEN.",
    )
    # None unless the stream names a Secret: a default here would change every ingest's Pod spec hash.
    ice_servers_file: str | None = Field(
        default=None,
        description="Mounted Secret file with the STUN/TURN servers for WebRTC clients (RTCIceServer JSON), read "
        "again when it changes; given to the pages and in the WHIP/WHEP answers' Link headers.",
    )


class IngestReaders(WorkerConfig):
    """SRT and RTSP for readers (components/readers, docs/design/readers.md): the listeners the readers'
    component serves, on ports.srtRead, ports.rtsp, ports.rtsps. Present only when one is on: None keeps
    every other ingest's configuration, and its Pod's spec hash, what it was."""

    srt: bool = Field(default=False, description="Serve SRT callers the live MPEG-TS.")
    rtsp: bool = Field(default=False, description="Serve RTSP clients (RTP over TCP).")
    rtsps: bool = Field(default=False, description="Serve RTSPS clients (RTSP over TLS).")
    tls_cert_file: str | None = Field(
        default=None, description="The RTSPS certificate (PEM), reloaded when it changes."
    )
    tls_key_file: str | None = Field(default=None, description="Its private key (PEM).")
    max_connections: int | None = Field(
        default=None, ge=1, le=100_000, description="Reader connections in all (None: the component's 256)."
    )
    max_connections_per_address: int | None = Field(
        default=None, ge=1, le=100_000, description="Of one client address, IPv6 per /64 (None: the component's 16)."
    )

    @model_validator(mode="after")
    def _rtsps_has_a_certificate(self) -> IngestReaders:
        if self.rtsps and not (self.tls_cert_file and self.tls_key_file):
            raise ValueError("rtsps needs tlsCertFile and tlsKeyFile")
        return self


PlaybackAccess = Literal["public", "signed"]


class IngestPlayback(WorkerConfig):
    """Who may play the stream and how viewers are counted (docs/design/playback.md). Present only
    for a signed stream (or a test): None keeps a public stream's configuration, and its Pod's spec
    hash, what it was."""

    namespace: str = Field(
        min_length=1,
        max_length=63,
        description="The LiveStream's namespace: with `stream`, the identity <namespace>/<stream> a token signs "
        "and /viewers reports.",
    )
    access: PlaybackAccess = Field(
        default="public",
        description="public: anyone with the URL plays (a /t/<token>/ segment is ignored); signed: every playback "
        "request needs a valid token in the path (streamops playback url).",
    )
    keys_dir: str | None = Field(
        default=None,
        description="The mounted Secret streamops-playback-keys (files `current` and `previous`), read again when "
        "a file's mtime changes. Required with access signed.",
    )
    viewer_window_seconds: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description=f"A viewer session counts while it made a media request within this long. Default "
        f"{VIEWER_WINDOW_SECONDS} (the contract's; shorter in tests).",
    )

    # None (no PlaybackPolicy): the configuration (and Pod hash) of ingests without rules stays what it was.
    rules_file: str | None = Field(
        default=None,
        max_length=4096,
        description="The stream's playback rules (api.playback_policy.PlaybackRules as JSON) in a mounted ConfigMap, "
        "read again when the file changes: a policy edit reaches a live ingest without a restart. Set but "
        "unreadable: every playback request is refused (503 rules_unavailable).",
    )
    geoip_file: str | None = Field(
        default=None,
        max_length=4096,
        description="A GeoIP database in MaxMind's format (the admin's, mounted: chart value playback.geoip) for "
        "rules that name countries, read again when the file changes.",
    )

    @model_validator(mode="after")
    def _signed_has_keys(self) -> IngestPlayback:
        if self.access == "signed" and not self.keys_dir:
            raise ValueError("access signed needs keysDir")
        return self

    @property
    def viewer_window(self) -> float:
        return self.viewer_window_seconds or VIEWER_WINDOW_SECONDS


class IngestOverlay(WorkerConfig):
    """One HTML overlay, on or off (OverlaySwitch says which), as the ingest composites it
    (docs/design/overlays.md): the renderer's PNG `<overlayDir>/<name>.png`, scaled to its box, on
    the source before the renditions."""

    name: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    x: float = Field(ge=0, le=100, description="The box's left edge, percent of the frame's width.")
    y: float = Field(ge=0, le=100, description="The box's top edge, percent of the frame's height.")
    width: float = Field(gt=0, le=100, description="Percent of the frame's width.")
    height: float = Field(gt=0, le=100, description="Percent of the frame's height.")


BROADCASTS_PER_STREAM = 8  # the broadcasts one stream's pages serve (PlayerSettings.broadcasts)
BROADCAST_MEMBERS_MAX = 16  # api.broadcast.STREAMS_MAX: a broadcast's streams
LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class BroadcastMemberView(WorkerConfig):
    """One stream of a broadcast as its page plays it: where its playback is, relative URLs to it."""

    name: str = Field(min_length=1, max_length=63, pattern=LABEL_PATTERN)
    base: str | None = Field(
        default=None,
        max_length=2048,
        description="The stream's playback base URL (its status.playback.playerUrl without /player): a signed "
        "stream's token goes right after it. None: no playback URL yet.",
    )
    hls: str | None = Field(
        default=None, max_length=256, description="Its HLS playlist, relative to base (hls/cmaf/index.m3u8)."
    )
    signed: bool = Field(default=False, description="Its playback needs a token (spec.playback.access signed).")


class BroadcastView(WorkerConfig):
    """What a broadcast's page shows (docs/design/broadcasts.md): the operator's status of it."""

    name: str = Field(min_length=1, max_length=63, pattern=LABEL_PATTERN)
    title: str = Field(default="", max_length=256)
    phase: Literal["Pending", "Live", "Paused", "Finished"] = "Pending"
    on_air: str | None = Field(default=None, max_length=63, description="The member the page plays (phase Live).")
    message: str = Field(default="", max_length=1024, description="Shown while pending (spec.pendingMessage).")
    members: list[BroadcastMemberView] = Field(default_factory=list, max_length=BROADCAST_MEMBERS_MAX)


class PlayerSettings(WorkerConfig):
    """What only the player page shows, POSTed by the operator to PLAYER_SETTINGS_PATH whenever the
    ingest's /status shows other settings than the spec (an ingest starts with the defaults). Kept out
    of IngestConfig so that a change reaches a live ingest without restarting it."""

    projection: Projection = Field(
        default="regular",
        description="regular, vr360, vr180 or vr360tb (spec.playback.projection): the page renders the video flat "
        "or on a sphere (WebGL).",
    )
    broadcasts: list[BroadcastView] | None = Field(
        default=None,
        max_length=BROADCASTS_PER_STREAM,
        description="The Broadcasts that name this stream: each one's page and state document are served under the "
        "stream's prefix (broadcasts/<name>/player, broadcasts/<name>/state.json). None (left out of the JSON, so "
        "that workers older than broadcasts take the settings): none.",
    )

    def digest(self) -> str:
        """What /status reports of the settings in use: the operator sends them again when it differs."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


class IngestConfig(CredentialedConfig):
    """What the ingest needs from the LiveStream's spec. Title, active, recording and resources are
    left out on purpose: changing them must not restart a live ingest."""

    stream: str = Field(description="The LiveStream's name (logs and metric labels).")
    role: Role = "primary"
    primary_url: str | None = Field(
        default=None,
        description="A backup ingest's primary: the base URL of its HTTP face (http://host:port), where the backup "
        "sends its feed while the primary asks for it.",
    )
    source: Source = Field(description="The stream's source, without the key's Secret reference.")
    # None: X-Forwarded-For is never believed; and the configuration (and Pod hash) of ingests
    # deployed before it existed stays what it was.
    trusted_proxies: list[str] | None = Field(
        default=None,
        description="CIDRs of the proxies in front (an Ingress controller, the edge) whose X-Forwarded-For gives "
        "the viewer's address: the rightmost entry that is not one of them, as nginx's set_real_ip_from does.",
    )
    # None (no): the configuration (and Pod hash) of ingests deployed before it existed stays what it was.
    publish_over_http: bool | None = Field(
        default=None,
        description="Serve WHIP and the publish page (they carry the stream key) over plain HTTP too; otherwise only "
        "to requests that came over HTTPS (X-Forwarded-Proto https from a trusted proxy).",
    )
    # None (the defaults): the configuration (and Pod hash) of ingests deployed before it existed stays.
    request_rates: IngestRequestRates | None = Field(
        default=None,
        description="The public face's request-rate budgets, per client address and in all (None: load_caps.py's).",
    )
    dvr: DVR = Field(default_factory=DVR)
    hls: HLS = Field(default_factory=HLS)
    screenshots: Screenshots = Field(default_factory=Screenshots)
    transcoding: Transcoding | None = None
    dash: bool | None = Field(default=None, description="Serve MPEG-DASH too (None: no, as the spec's default).")
    # None for standard: the configuration (and Pod hash) of ingests deployed before it existed stays.
    dash_latency_mode: LatencyMode | None = Field(
        default=None, description="low: low-latency DASH (chunked CMAF); None or standard: segments only."
    )
    ports: IngestPorts = Field(default_factory=IngestPorts)
    media_dir: str = MEDIA_DIR
    stream_key_file: str | None = Field(default=None, description="Mounted Secret file with the stream key.")
    # None without source.pull.credentialsSecretRef: the configuration (and Pod hash) of other ingests stays.
    pull_username_file: str | None = Field(
        default=None, description="Mounted Secret file with the RTSP cameras' user name, read at every attempt."
    )
    pull_password_file: str | None = Field(
        default=None, description="Mounted Secret file with the RTSP cameras' password, read at every attempt."
    )
    # None without source.pull.tls.caSecretRef: the configuration (and Pod hash) of other ingests stays.
    # (source.pull.tls is kept in `source` only with insecureSkipVerify: verifying is the default.)
    pull_tls_ca_file: str | None = Field(
        default=None,
        description="Mounted PEM file of the CA certificate(s) the rtmps:// and https:// origins' certificates must "
        "chain to, instead of the system's trust store (FFmpeg's ca_file), read at every attempt.",
    )
    # None without an admin's allow-list or cluster ranges: the default policy, and the configuration
    # (and Pod hash) of other ingests stays (docs/design/egress.md, "Media URLs").
    egress: EgressPolicy | None = Field(
        default=None,
        description="Where pull URLs may connect (the egress guard's policy; default: public addresses only).",
    )
    tls_cert_file: str | None = Field(
        default=None, description="Mounted PEM certificate (chain) of the RTMPS listener; reloaded when it changes."
    )
    tls_key_file: str | None = Field(default=None, description="Mounted PEM private key of that certificate.")
    bind_address: str = "0.0.0.0"
    webrtc: IngestWebRtc | None = Field(
        default=None,
        description="WHIP ingest (source.push.protocols has whip) and/or WHEP playback; None: no WebRTC component.",
    )
    # None: PUBLISHER_TIMEOUT_SECONDS. Not the number itself: a new default in the configuration would
    # change every ingest's Pod spec hash and roll every live ingest on upgrade.
    publisher_timeout_seconds: float | None = Field(
        default=None,
        ge=1,
        le=300,
        description="A publishing session that sends nothing for this long is ended and its connection closed "
        f"(RTMP: by the RTMP front; SRT: the listener's read timeout). Default {PUBLISHER_TIMEOUT_SECONDS:g}. A new "
        "publisher is accepted before that as soon as the session is silent.",
    )
    playback: IngestPlayback | None = Field(
        default=None,
        description="Signed playback and the stream's namespace; None: public, viewers reported under the "
        "stream's name alone.",
    )
    readers: IngestReaders | None = Field(
        default=None, description="SRT and RTSP for readers (components/readers); None: neither."
    )
    # None without spec.playback.encryption: the configuration (and Pod hash) of other ingests stays.
    encryption: PlaybackEncryption | None = Field(
        default=None,
        description="Serve HLS segments and parts AES-128 encrypted with keys of this process's own, rotated, at "
        "<prefix>/key/<id> behind the playback gate (media/ingest/encryption.py); the files stay clear.",
    )
    # None (not []) without overlays: a new default would change every ingest's Pod spec hash.
    overlays: list[IngestOverlay] | None = Field(
        default=None,
        max_length=8,
        description="Every HTML overlay, on or off (the operator's OverlaySwitch says which), bottom first "
        "(zIndex order), composited into every rendition; only with transcoding renditions.",
    )
    overlay_dir: str | None = Field(
        default=None, description="Where the renderer sidecar writes the overlays' PNGs and status.json."
    )
    hls_writer: HlsWriter = Field(
        default="ffmpeg",
        description="Who writes an RTMP(S) publisher's HLS: ffmpeg (its session's FFmpeg), or front: the RTMP "
        "front's Go writers, FFmpeg keeping the feed, for a passthrough stream without LL-HLS or DASH (otherwise "
        "ignored: FFmpeg writes, said once in the log). A publisher whose media they refuse (not H.264 + AAC) is cut "
        "once and FFmpeg writes from its next session on. Off (ffmpeg) until the parity tests pass with it.",
    )
    path_prefix: str = Field(
        default="",
        max_length=512,
        pattern=r"^((/[A-Za-z0-9._~-]+)+)?$",
        description="HLS and the screenshot are also served under this prefix (e.g. /streams/<ns>/<name>), so an "
        "Ingress or HTTPRoute with a plain Prefix match reaches them without rewriting.",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        for cidr in value or []:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _overlays_have_renditions(self) -> IngestConfig:
        if self.overlays and not (self.transcoding and self.transcoding.renditions and self.overlay_dir):
            raise ValueError("overlays need transcoding renditions and overlayDir")
        return self

    @model_validator(mode="after")
    def _rtmps_has_its_listener(self) -> IngestConfig:
        push = self.source.push
        listener = self.ports.rtmps is not None and self.tls_cert_file and self.tls_key_file
        if push and "rtmps" in push.protocols and not listener:
            raise ValueError("rtmps needs ports.rtmps, tlsCertFile and tlsKeyFile")
        if self.webrtc is not None and self.ports.webrtc_udp is None:
            raise ValueError("webrtc needs ports.webrtcUdp")
        if push and "whip" in push.protocols and self.webrtc is None:
            raise ValueError("whip needs webrtc")
        return self

    @model_validator(mode="after")
    def _readers_have_ports(self) -> IngestConfig:
        readers, ports = self.readers, self.ports
        if readers is None:
            return self
        for on, port, name in ((readers.srt, ports.srt_read, "srtRead"), (readers.rtsp, ports.rtsp, "rtsp")):
            if on and port is None:
                raise ValueError(f"readers need ports.{name}")
        if readers.rtsps and ports.rtsps is None:
            raise ValueError("readers need ports.rtsps")
        return self

    @property
    def publisher_timeout(self) -> float:
        return self.publisher_timeout_seconds or PUBLISHER_TIMEOUT_SECONDS

    @property
    def signed(self) -> bool:
        return self.playback is not None and self.playback.access == "signed"

    @property
    def dash_low_latency(self) -> bool:
        return bool(self.dash) and self.dash_latency_mode == "low"

    @property
    def stream_id(self) -> str:
        """<namespace>/<stream>: what a token signs and /viewers keys; the bare name without a namespace."""
        return f"{self.playback.namespace}/{self.stream}" if self.playback else self.stream

    @property
    def viewer_window(self) -> float:
        return self.playback.viewer_window if self.playback else VIEWER_WINDOW_SECONDS


class WebRtcStatus(WorkerStatus):
    """The WebRTC component as the ingest sees it (its /status, read every few seconds)."""

    running: bool = False
    whip_publisher: bool = Field(default=False, description="A WHIP publisher's peer connection is up.")
    whep_viewers: int = Field(default=0, description="Connected WHEP viewers.")
    whep_live: bool = Field(default=False, description="A WHEP viewer would be served now.")
    whep_transcoded: bool = Field(
        default=False, description="WHEP gets a B-frame-free encode of the source (bFrames: transcode)."
    )
    whep_problem: str | None = Field(
        default=None, description="Why WHEP viewers get nothing although the stream is live (e.g. B-frames refused)."
    )
    error: str | None = Field(default=None, description="Why the component does not run, if it does not.")
    whip_refused: int = Field(default=0, description="WHIP offers refused since the worker started.")
    last_whip_refusal: str | None = Field(
        default=None, description="The last one: its HTTP status and the answer's text (never a key or a token)."
    )
    ice_servers_problem: str | None = Field(
        default=None,
        description="Why WebRTC clients get none of the STUN/TURN servers of IngestConfig.webrtc.iceServersFile "
        "(missing, not JSON, not RTCIceServer's shape); never a credential.",
    )


class ViewerCounts(WorkerStatus):
    """Viewers now, by protocol: sessions with a media request in the window; WebRTC: WHEP sessions."""

    hls: int = 0
    llhls: int = 0
    dash: int = 0
    webrtc: int = 0
    srt: int = 0  # SRT callers reading now (components/readers)
    rtsp: int = 0  # RTSP and RTSPS sessions playing now


class ViewerSessionHashes(WorkerStatus):
    """The sessions behind the counts, as session_hash (16 hex characters: no address, no token), at
    most VIEWER_SESSIONS_LISTED each, for the operator to union with the edges' lists."""

    hls: list[str] = Field(default_factory=list, max_length=VIEWER_SESSIONS_LISTED)
    llhls: list[str] = Field(default_factory=list, max_length=VIEWER_SESSIONS_LISTED)
    dash: list[str] = Field(default_factory=list, max_length=VIEWER_SESSIONS_LISTED)


class IngestViewers(WorkerStatus):
    """The ingest's own viewers (requests from an edge, with EDGE_HEADER, are not counted)."""

    window_seconds: float = VIEWER_WINDOW_SECONDS
    counts: ViewerCounts = Field(default_factory=ViewerCounts)
    sessions: ViewerSessionHashes = Field(default_factory=ViewerSessionHashes)
    truncated: bool = Field(default=False, description="A list was cut at VIEWER_SESSIONS_LISTED.")


PullFailureKind = Literal["credentials-refused", "credentials-unreadable", "failed"]


class PullFailure(WorkerStatus):
    """The last pull attempt that gave no media; None once media flows again. Never a credential:
    the URL is the spec's (no userinfo), the message FFmpeg's line redacted."""

    url_index: int = Field(ge=0, description="Which of source.pull.urls (0-based).")
    url: str = Field(description="That URL as the spec has it.")
    kind: PullFailureKind = Field(
        description="credentials-refused: the RTSP server answered 401 (wrong or missing user name/password); "
        "credentials-unreadable: the mounted Secret's files are missing or unusable; failed: anything else."
    )
    message: str = Field(max_length=1024, description="What went wrong, for people.")


class HandoverFollow(WorkerConfig):
    """POSTed by the operator to a successor ingest: whose media and HLS window to continue."""

    predecessor_url: str = Field(
        description="Base URL of the predecessor's internal face (http://<Pod IP>:<internal port>).", max_length=256
    )
    predecessor_pod: str = Field(description="The predecessor Pod's name (logs, status).", max_length=253)


# A served playlist's segments in a HandoverState: the longest DVR window (14400 s of 1 s segments)
# and the few kept beyond it, rounded up.
HANDOVER_SEGMENTS_MAX = 16384
HANDOVER_PLAYLISTS_MAX = 32  # both variants of the longest ladder, with room
HANDOVER_STATE_VERSION = 1
ReleasePhase = Literal["releasing", "released"]
HandoverVariant = Literal["cmaf", "ts"]


class HandoverSegment(WorkerConfig):
    """One segment a predecessor serves, as its successor must serve it: same number, same URI
    (relative to the playlist), same bytes (read from the predecessor's internal face)."""

    number: int = Field(ge=0)
    duration: float = Field(ge=0, le=3600)
    uri: str = Field(max_length=64, pattern=r"^seg-[0-9]+\.(ts|m4s)$")
    discontinuity: bool = False
    discontinuity_sequence: int = Field(ge=0)
    program_date_time: str | None = Field(default=None, max_length=40, pattern=r"^[0-9][0-9T:.+Z-]*$")
    init_uri: str | None = Field(default=None, max_length=64, pattern=r"^init-[0-9]+\.mp4$")
    first_part: int | None = Field(
        default=None,
        ge=0,
        description="LL-HLS: the number of its first part (its parts are its file's moof+mdat pairs, numbered on "
        "from it): what a successor answers for a part of it.",
    )


class HandoverPlaylist(WorkerConfig):
    """One served media playlist: a standard HLS variant's (FFmpeg's, continued across sessions) or
    LL-HLS's complete segments (`low_latency`); `rendition` "" without a ladder."""

    variant: HandoverVariant
    rendition: str = Field(default="", max_length=63, pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$")
    low_latency: bool = False
    segments: list[HandoverSegment] = Field(default_factory=list, max_length=HANDOVER_SEGMENTS_MAX)
    next_number: int | None = Field(default=None, ge=0, description="The number its next segment gets.")
    next_part: int | None = Field(default=None, ge=0, description="LL-HLS: the number its next part gets.")
    ended: bool = False
    first_listed: int | None = Field(
        default=None,
        ge=0,
        description="The first segment its served playlist lists; those before it are kept for players that "
        "read it earlier, never listed again (a successor with a larger window would take the media sequence back).",
    )

    @model_validator(mode="after")
    def _numbers_go_on(self) -> HandoverPlaylist:
        numbers = [s.number for s in self.segments]
        if any(b != a + 1 for a, b in itertools.pairwise(numbers)):
            raise ValueError("segment numbers must go on one by one")
        if numbers and self.next_number is not None and self.next_number <= numbers[-1]:
            raise ValueError("nextNumber must follow the last segment")
        return self


HANDOVER_DASH_PERIODS_MAX = 16  # sessions whose DASH Periods a window holds (more: the oldest go)
HANDOVER_MPD_CHARS_MAX = 1024 * 1024  # a session's MPD: a 4 h window's timelines, compressed, with room


class HandoverDashPeriod(WorkerConfig):
    """One session's Period of the served MPD (media/ingest/dash_periods.py): its BaseURL folder,
    its MPD as last read, its live MPD's availabilityStartTime, what it wrote before it went on air,
    when it left the air, and its files (the successor copies them from HANDOVER_FILES_PATH/dash/<key>/)."""

    key: str = Field(max_length=80, pattern=r"^[0-9A-Za-z][0-9A-Za-z._~-]*$")
    mpd: str = Field(max_length=HANDOVER_MPD_CHARS_MAX)
    available_from: float = Field(ge=0)
    written: dict[Annotated[str, Field(max_length=16, pattern=r"^[0-9A-Za-z_-]*$")], int] = Field(
        default_factory=dict, max_length=64
    )
    off_air: float | None = Field(default=None, ge=0)
    files: list[Annotated[str, Field(max_length=64, pattern=r"^(init|chunk)-[0-9A-Za-z_-]+\.m4s$")]] = Field(
        default_factory=list, max_length=4 * HANDOVER_SEGMENTS_MAX
    )


class HandoverDash(WorkerConfig):
    """The served MPD's state across sessions: its fixed availabilityStartTime (`anchor`, epoch
    seconds), each session's Period, and the last live MPD (its root, while no session is on air)."""

    anchor: float = Field(ge=0)
    periods: list[HandoverDashPeriod] = Field(default_factory=list, max_length=HANDOVER_DASH_PERIODS_MAX)
    head: str | None = Field(default=None, max_length=HANDOVER_MPD_CHARS_MAX)


# The content keys in a HandoverState: one per rotation epoch kept (the longest DVR window of 1 s
# segments rotated at every segment is 14,405 epochs), or the newest this many.
HANDOVER_KEYS_MAX = HANDOVER_SEGMENTS_MAX
HANDOVER_KEY_SEGMENTS_MAX = 86400  # rotateSeconds' bound: 86400 segments of 1 s under one key
KEY_ID_PATTERN = r"^[0-9a-f]{8}-[0-9]{1,19}$"  # <run or signing-key prefix>-<epoch> (media/ingest/encryption.py)
KEY_HEX_PATTERN = r"^[0-9a-f]{32}$"  # 16 bytes


class HandoverKey(WorkerConfig):
    """One content key of an encrypted stream and the media sequence numbers it encrypts
    (`first_segment` and the `segments` after it): a successor serves the predecessor's segments
    (and, for the rest of that rotation, its own) under the same key and IV, so that players and
    caches holding the predecessor's playlists or ciphertext go on decrypting
    (docs/design/protection.md). Key and IV are left out of the repr."""

    kid: str = Field(max_length=28, pattern=KEY_ID_PATTERN)
    key: str = Field(min_length=32, max_length=32, pattern=KEY_HEX_PATTERN, repr=False)
    iv: str = Field(min_length=32, max_length=32, pattern=KEY_HEX_PATTERN, repr=False)
    first_segment: int = Field(ge=0, le=10**18)
    segments: int = Field(ge=1, le=HANDOVER_KEY_SEGMENTS_MAX)


class HandoverState(WorkerConfig):
    """GET HANDOVER_STATE_PATH on a predecessor: what it serves, for its successor to mirror and
    continue (docs/design/handover.md). Unknown fields and other versions are refused: a successor
    mirrors nothing it does not understand."""

    version: Literal[1] = 1
    playlists: list[HandoverPlaylist] = Field(default_factory=list, max_length=HANDOVER_PLAYLISTS_MAX)
    dash: HandoverDash | None = Field(
        default=None,
        description="Standard DASH's Periods across sessions (None: no DASH, or low-latency DASH: not continued).",
    )
    multivariant: str | None = Field(
        default=None, max_length=16384, description="The multivariant playlist of a ladder (both variants')."
    )
    live: bool = Field(default=False, description="Its own media flows now.")
    release: ReleasePhase | None = None
    keys: list[HandoverKey] | None = Field(
        default=None,
        max_length=HANDOVER_KEYS_MAX,
        description="An encrypted stream's content keys (spec.playback.encryption), oldest first: every key of "
        "a segment listed, the current one with its whole rotation. None: not encrypted.",
    )

    @model_validator(mode="after")
    def _keys_apart(self) -> HandoverState:
        """Keys in order, their segments apart, one key per id: anything else is refused whole."""
        by_id: dict[str, tuple[str, str]] = {}
        end = -1
        for k in self.keys or ():
            if k.first_segment < end:
                raise ValueError("keys must be in order, their segments apart")
            end = k.first_segment + k.segments
            if by_id.setdefault(k.kid, (k.key, k.iv)) != (k.key, k.iv):
                raise ValueError("one key id, two keys")
        return self


HandoverPhase = Literal["following", "caught-up", "on-air", "failed"]


class HandoverReport(WorkerStatus):
    """An ingest's part in a handover, in its /status: as successor (`phase`) or predecessor
    (`release`); None in IngestStatus when it takes part in none."""

    predecessor_pod: str | None = Field(default=None, description="As successor: whom it follows.")
    phase: HandoverPhase | None = Field(
        default=None,
        description="As successor: following (mirroring the predecessor's window), caught-up (it serves the same "
        "playlists: ready to take the Service), on-air (its own media or the predecessor's final segments are "
        "what it serves), failed (see error).",
    )
    last_media_sequence: int | None = Field(
        default=None, description="The newest media sequence number it serves (the primary HLS variant's)."
    )
    release: ReleasePhase | None = Field(
        default=None,
        description="As predecessor: releasing (publishers closed, the last segment being written) or released "
        "(nothing more will be written; the successor may take the last segments).",
    )
    error: str | None = Field(default=None, max_length=512)


class IngestStatus(WorkerStatus):
    """What the ingest reports: whether media flows, the source's facts and live rates (rates only
    while live)."""

    live: bool = False
    active: bool = Field(default=True, description="False once a pull stream deactivated itself.")
    deactivated_reason: str | None = None
    pull_failure: PullFailure | None = Field(
        default=None, description="A pull stream's last attempt that gave no media, while none flows."
    )
    source: str | None = Field(default=None, description="The live session's kind: rtmp, srt, whip or pull-<n>.")
    active_ingest: Role | None = Field(
        default=None,
        description="Whose media this ingest serves now (feed, HLS, screenshot): its own (its role), or a primary's "
        "backup's; None while nothing flows.",
    )
    backup_wanted: bool = Field(
        default=False,
        description="A primary asks its backup for its feed: its own source sends nothing, or has not been back "
        "for failback.stableSeconds yet.",
    )
    started_at: UtcTime | None = None
    finished_at: UtcTime | None = None
    video_width: int | None = None
    video_height: int | None = None
    video_codec: str | None = None
    video_profile: str | None = Field(default=None, description="The video codec's profile, e.g. High, High 10, Main.")
    pixel_format: str | None = Field(default=None, description="FFmpeg's name of the pixel format, e.g. yuv420p10le.")
    bit_depth: int | None = Field(default=None, description="Bits per video sample (8, 10, 12).")
    audio_codec: str | None = None
    frame_rate: float | None = None
    transcoding_speed: float | None = None
    bitrate: int | None = None
    feed_consumers: int = 0
    feed_cache_bytes: int = Field(
        default=0, description="What a feed reader joining now gets first (the GOP cache), PAT and PMT left out."
    )
    refused_publishers: int = 0
    tls_certificate_sha256: str | None = Field(
        default=None, description="SHA-256 fingerprint of the certificate RTMPS presents to new connections."
    )
    tls_error: str | None = Field(
        default=None, description="Why the RTMPS certificate (or its renewal) could not be loaded, if it could not."
    )
    webrtc: WebRtcStatus | None = Field(default=None, description="With IngestConfig.webrtc.")
    viewers: IngestViewers | None = Field(default=None, description="Viewer sessions now (None from older workers).")
    overlays: list[OverlayReport] | None = Field(
        default=None,
        description="The overlays as the renderer sidecar last reported them (its status.json); None without "
        "overlays. An overlay it has not tried yet is not listed.",
    )
    overlays_enabled: list[str] | None = Field(
        default=None,
        description="The overlays switched on (the last OverlaySwitch POSTed to /overlays, kept in the shared "
        "directory's switch.json); None without overlays or before the first switch.",
    )
    hls_writer: HlsWriter | None = Field(
        default=None,
        description="Who writes the live session's HLS files: ffmpeg, or the RTMP front (IngestConfig.hlsWriter "
        "front, for what its writers take); None while no session is live, and from older workers.",
    )
    transcoded_qualities: list[str] = Field(
        default_factory=list, description="The renditions this ingest encodes, by name, tallest first; [] passthrough."
    )
    projection: Projection | None = Field(
        default=None,
        description="What the player page renders now: the last PlayerSettings' projection (regular before any); "
        "None from workers older than the setting.",
    )
    player_settings: str | None = Field(
        default=None,
        max_length=64,
        description="PlayerSettings.digest() of the settings in use (the defaults' before any POST); None from "
        "workers older than broadcasts.",
    )
    handover: HandoverReport | None = Field(
        default=None, description="Its part in a make-before-break handover (docs/design/handover.md), if any."
    )
    sessions: list[PublishSession] = Field(
        default_factory=list,
        max_length=SESSIONS_KEPT,
        description="This ingest's own recent publish sessions (its role as `ingest`), oldest first, the one on "
        "air last with no endedAt; forgotten when the worker restarts (the operator keeps them in status).",
    )
