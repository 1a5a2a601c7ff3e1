"""The ingest worker's contract: `IngestConfig` (env STREAMOPS_INGEST_CONFIG) and `IngestStatus`
(`GET /status`), plus the ports, paths and URLs the ingest serves."""

from __future__ import annotations

from pydantic import Field, model_validator

from streamops.api.livestream import DVR, HLS, BFramesPolicy, IngestRole, Screenshots, Source, Transcoding
from streamops.contract.worker import HTTP_PORT, UtcTime, WorkerConfig, WorkerStatus

CONFIG_ENV = "STREAMOPS_INGEST_CONFIG"
RTMP_PORT = 1935
# RTMPS beside RTMP on the next port, as MediaMTX and others do: unprivileged (the worker runs as
# non-root under PodSecurity restricted, so 443 cannot be bound without a sysctl), and any encoder
# takes the port from the URL.
RTMPS_PORT = 1936
SRT_PORT = 9998
# WebRTC media (components/webrtc): every peer connection on one UDP port (ICE multiplexing) and one
# ICE-TCP port. Two numbers, not one: the component rewrites candidates' ports by listening port, and
# a Service's two nodePorts differ.
WEBRTC_UDP_PORT = 8189
WEBRTC_TCP_PORT = 8190
MEDIA_DIR = "/var/lib/streamops"  # HLS sessions and the screenshot (an emptyDir)
STREAM_KEY_DIR = "/var/run/secrets/streamops/stream-key"
STREAM_KEY_FILE = "stream-key"
# The RTMPS certificate: a kubernetes.io/tls Secret's two keys, mounted as they are named.
TLS_DIR = "/var/run/secrets/streamops/rtmps"
TLS_CERT_FILE = "tls.crt"
TLS_KEY_FILE = "tls.key"
# The STUN/TURN servers for WebRTC clients (playback.webrtc.iceServersSecretRef): RTCIceServer JSON.
ICE_SERVERS_DIR = "/var/run/secrets/streamops/ice-servers"
ICE_SERVERS_FILE = "ice-servers.json"

# A frozen encoder (its connection open, nothing sent: a dead network path, a laptop asleep) is cut
# after this long. Above the 2 s after which the stream is no longer live, so a stall that TCP or
# SRT recovers from is ridden out; a new publisher does not wait for it (it displaces a silent one).
PUBLISHER_TIMEOUT_SECONDS = 5.0

# What the ingest serves on its HTTP port.
FEED_PATH = "/feed"  # the live feed (MPEG-TS over HTTP) for recorders and pushers
TRANSCODED_FEED_PATH = "/feed/transcoded"
HLS_CMAF_PLAYLIST = "/hls/cmaf/index.m3u8"
HLS_MPEGTS_PLAYLIST = "/hls/ts/index.m3u8"
SCREENSHOT_PATH = "/screenshot.jpg"
DASH_MANIFEST = "/dash/manifest.mpd"
CLOCK_PATH = "/time"  # the server's clock (ISO 8601, ms) for dash.js's UTCTiming
PLAYER_PAGE = "/player"  # the player page (media/ingest/player), at the path prefix too
PUBLISH_PAGE = "/publish"  # publish from this browser (WHIP with a pasted key), at the path prefix too
WHIP_PATH = "/whip"  # POST an offer (Authorization: Bearer <stream key>); the session resource below it
WHEP_PATH = "/whep"  # POST an offer; the session resource below it
# POST (a primary ingest): its backup ingest's feed, sent while the primary asks for it (backupWanted).
BACKUP_UPLINK_PATH = "/backup/uplink"

Role = IngestRole


class IngestPorts(WorkerConfig):
    """Where the ingest listens: the pod network's fixed ports by default, an allocation of host
    ports when workers run on the host network."""

    http: int = Field(default=HTTP_PORT, ge=0, le=65535)
    rtmp: int = Field(default=RTMP_PORT, ge=0, le=65535)
    srt: int = Field(default=SRT_PORT, ge=0, le=65535)
    # Only with rtmps (RTMPS_PORT on the pod network): a default here would change every ingest's
    # configuration, and with it its Pod's spec hash, and roll every live ingest on upgrade.
    rtmps: int | None = Field(default=None, ge=0, le=65535)
    # Only with WebRTC (IngestConfig.webrtc), for the same reason.
    webrtc_udp: int | None = Field(default=None, ge=0, le=65535)
    webrtc_tcp: int | None = Field(default=None, ge=0, le=65535)


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
    # None unless the stream names a Secret: a default here would change every ingest's Pod spec hash.
    ice_servers_file: str | None = Field(
        default=None,
        description="Mounted Secret file with the STUN/TURN servers for WebRTC clients (RTCIceServer JSON), read "
        "again when it changes; given to the pages and in the WHIP/WHEP answers' Link headers.",
    )


class IngestConfig(WorkerConfig):
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
    dvr: DVR = Field(default_factory=DVR)
    hls: HLS = Field(default_factory=HLS)
    screenshots: Screenshots = Field(default_factory=Screenshots)
    transcoding: Transcoding | None = None
    dash: bool | None = Field(default=None, description="Serve MPEG-DASH too (None: no, as the spec's default).")
    ports: IngestPorts = Field(default_factory=IngestPorts)
    media_dir: str = MEDIA_DIR
    stream_key_file: str | None = Field(default=None, description="Mounted Secret file with the stream key.")
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
        f"(RTMP: by the gate; SRT: the listener's read timeout). Default {PUBLISHER_TIMEOUT_SECONDS:g}. A new "
        "publisher is accepted before that as soon as the session is silent.",
    )
    path_prefix: str = Field(
        default="",
        max_length=512,
        pattern=r"^((/[A-Za-z0-9._~-]+)+)?$",
        description="HLS and the screenshot are also served under this prefix (e.g. /streams/<ns>/<name>), so an "
        "Ingress or HTTPRoute with a plain Prefix match reaches them without rewriting.",
    )

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

    @property
    def publisher_timeout(self) -> float:
        return self.publisher_timeout_seconds or PUBLISHER_TIMEOUT_SECONDS


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


class IngestStatus(WorkerStatus):
    """What the ingest reports: whether media flows, the source's facts and live rates (rates only
    while live)."""

    live: bool = False
    active: bool = Field(default=True, description="False once a pull stream deactivated itself.")
    deactivated_reason: str | None = None
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
    refused_publishers: int = 0
    tls_certificate_sha256: str | None = Field(
        default=None, description="SHA-256 fingerprint of the certificate RTMPS presents to new connections."
    )
    tls_error: str | None = Field(
        default=None, description="Why the RTMPS certificate (or its renewal) could not be loaded, if it could not."
    )
    webrtc: WebRtcStatus | None = Field(default=None, description="With IngestConfig.webrtc.")
