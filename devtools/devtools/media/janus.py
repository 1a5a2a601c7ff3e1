"""Janus (Debian's 1.1.2) as a media peer: a WebRTC server fanning out the same RTP as
streamops-webrtc, the reference for the fan-out benchmark (bench/webrtc_fanout.py).

Run from a private config dir (never /etc/janus) and confined:
- only the streaming plugin and the HTTP transport are loaded (private plugin/transport folders
  holding links to those two libraries; no event handlers, no loggers);
- the HTTP API listens on 127.0.0.1 on a free port, the admin API is off (HTTP and HTTPS);
- one mountpoint of type rtp: H.264 (packetization-mode 1) and Opus on 127.0.0.1 ports (each port
  + 1 bound too, for FFmpeg's RTCP, so FFmpeg gets no "connection refused");
- ICE: no STUN, no TURN, no 1:1 NAT, no ICE-TCP, IPv4 only, mDNS candidates dropped, and host
  candidates on ICE_ADDRESS (127.0.0.2) only, inside a network namespace of its own
  (`janus_namespace`), which every peer talking to it shares.

Why the namespace: Janus 1.1.2 cannot gather on loopback. It walks getifaddrs() and skips every
interface flagged IFF_LOOPBACK before it looks at `ice_enforce_list`, so `ice_enforce_list = "lo"`
(or "127.0.0.1") adds no address at all, and libnice, given none, then gathers on *every*
non-loopback interface itself: measured here, the offer carried 192.0.2.2 (eth0), fd00::2 and a
fe80:: candidate, IPv6 off or not (and `ice_ignore_list` is not read once an enforce list is set).
So the namespace has `lo` and a veth pair whose both ends are in it, one holding 127.0.0.2/32, the
other no address, nothing else (checked; no `dummy` link type on this kernel); `ice_enforce_list`
names that address. The pair carries nothing (packets to a local address are delivered through
`lo`; the pair leads only to itself); the namespace is deleted on exit.

stop() ends Janus by PID (the _Peer base).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from devtools import netns
from devtools.media.peers import _Peer
from devtools.media.webrtc import rtp_ports
from devtools.ports import LOOPBACK, free_port, tcp_accepts
from devtools.waits import wait_for

JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
STREAMING_PLUGIN = "libjanus_streaming.so"
HTTP_TRANSPORT = "libjanus_http.so"

# What the load client and the benchmark's encoder agree on: FFmpeg's RTP muxer picks 96 for the
# (only) video stream of an output and 97 for an audio one.
VIDEO_PT = 96
AUDIO_PT = 97
H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy

# Janus's only ICE address, on a veth link inside its namespace (see above).
ICE_ADDRESS = "127.0.0.2"
ICE_LINK = "janusice0"
ICE_PEER_LINK = "janusice1"


def janus_lib_dir() -> Path:
    """Where Debian put Janus's plugins (multiarch path; the package is amd64/arm64)."""
    for candidate in (JANUS_LIB, *Path("/usr/lib").glob("*/janus")):
        if (candidate / "plugins" / STREAMING_PLUGIN).exists():
            return candidate
    raise FileNotFoundError("Janus's streaming plugin not found: `apt-get install janus` (hack/deps.sh)")


@contextlib.contextmanager
def janus_namespace(name: str) -> Iterator[str]:
    """A new network namespace with `lo` up and a veth pair (both ends in it, one holding
    ICE_ADDRESS/32), and no other interface (checked); deleted on exit, also when the block fails. Yields its name, for
    netns= of Janus and of every peer that talks to it."""
    with netns.loopback_namespace(name):
        # both ends of the pair in the namespace (its carrier is up: Janus skips links not RUNNING)
        netns.ip("link", "add", ICE_LINK, "type", "veth", "peer", "name", ICE_PEER_LINK, netns=name)
        netns.ip("address", "add", f"{ICE_ADDRESS}/32", "dev", ICE_LINK, netns=name)
        for link in (ICE_LINK, ICE_PEER_LINK):
            netns.ip("link", "set", link, "up", netns=name)
        if (found := netns.link_names(name)) != sorted(["lo", ICE_LINK, ICE_PEER_LINK]):
            raise RuntimeError(f"namespace {name} has other interfaces: {found}")
        yield name


class Janus(_Peer):
    """One Janus in namespace `netns` (made by janus_namespace: required, Janus gathers off
    loopback anywhere else) with one rtp mountpoint (`mountpoint_id`) fed on `video_port`/`audio_port`
    (127.0.0.1 there); `api_url` is the HTTP API (POST create/attach/message, GET long poll)."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        netns: str,
        mountpoint_id: int = 1,
        debug_level: int = 3,
        session_timeout: int = 60,
    ) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if not netns:
            raise ValueError("Janus runs in a janus_namespace only: elsewhere it gathers on every interface")
        super().__init__(self.dir / "janus.log", netns=netns)
        self.http_port = free_port()
        taken: set[int] = set()
        self.video_port = rtp_ports(taken)
        self.audio_port = rtp_ports(taken)
        self.mountpoint_id = mountpoint_id
        self.debug_level = debug_level
        self.session_timeout = session_timeout

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}/janus"

    # --- the private config dir -------------------------------------------------------------

    def write_config(self) -> None:
        lib = janus_lib_dir()
        conf = self.dir / "conf"
        for sub, library in (("plugins", STREAMING_PLUGIN), ("transports", HTTP_TRANSPORT)):
            folder = self.dir / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            (folder / library).symlink_to(lib / sub / library)
        for sub in ("events", "loggers", "conf"):
            (self.dir / sub).mkdir(exist_ok=True)
        (conf / "janus.jcfg").write_text(f"""general: {{
	configs_folder = "{conf}"
	plugins_folder = "{self.dir / "plugins"}"
	transports_folder = "{self.dir / "transports"}"
	events_folder = "{self.dir / "events"}"
	loggers_folder = "{self.dir / "loggers"}"
	debug_level = {self.debug_level}
	session_timeout = {self.session_timeout}
	server_name = "streamops-bench"
	protected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var"]
}}
certificates: {{
}}
media: {{
	ipv6 = false
}}
nat: {{
	nice_debug = false
	ice_enforce_list = "{ICE_ADDRESS}"
	ignore_mdns = true
	ice_lite = false
	ice_tcp = false
	full_trickle = false
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
	broadcast = false
}}
""")
        (conf / "janus.transport.http.jcfg").write_text(f"""general: {{
	json = "plain"
	base_path = "/janus"
	http = true
	port = {self.http_port}
	ip = "{LOOPBACK}"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
cors: {{
}}
""")
        (conf / "janus.plugin.streaming.jcfg").write_text(f"""general: {{
	events = false
}}
bench: {{
	type = "rtp"
	id = {self.mountpoint_id}
	description = "streamops fan-out benchmark"
	media = (
		{{
			type = "video"
			mid = "v"
			port = {self.video_port}
			rtcpport = {self.video_port + 1}
			iface = "{LOOPBACK}"
			pt = {VIDEO_PT}
			codec = "h264"
			fmtp = "{H264_FMTP}"
		}},
		{{
			type = "audio"
			mid = "a"
			port = {self.audio_port}
			rtcpport = {self.audio_port + 1}
			iface = "{LOOPBACK}"
			pt = {AUDIO_PT}
			codec = "opus"
		}}
	)
}}
""")

    def command(self) -> list[str]:
        conf = self.dir / "conf"
        # -o: no colours in the log; no -e (event handlers), no -S/-1/-T (STUN, NAT, ICE-TCP).
        return ["janus", "-C", str(conf / "janus.jcfg"), "-F", str(conf), "-o"]

    def _stdout(self) -> IO[bytes] | int:
        return open(self.log_path, "ab")  # Janus logs to stdout; closed in stop()

    def start(self) -> Janus:
        self.write_config()
        super().start()
        return self

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            with self._where():
                return tcp_accepts(self.http_port)

        wait_for(up, timeout=15, interval=0.1, what=f"Janus's HTTP API on {LOOPBACK}:{self.http_port}")
        info = self.info()
        plugins, transports = set(info.get("plugins", {})), set(info.get("transports", {}))
        if plugins != {"janus.plugin.streaming"} or transports != {"janus.transport.http"}:
            raise RuntimeError(f"Janus loaded more than it should: plugins {plugins}, transports {transports}")
        # Plugins are initialised before the transports start: the mountpoint exists by now.
        if self.mountpoint_info().get("id") != self.mountpoint_id:
            raise RuntimeError(f"Janus has no mountpoint {self.mountpoint_id}; log {self.log_path}:\n{self.log_tail()}")

    def info(self) -> dict[str, Any]:
        """GET /janus/info: version, loaded plugins and transports, ICE settings."""
        with self._where(), _DIRECT.open(f"{self.api_url}/info", timeout=3) as resp:
            return dict(json.loads(resp.read()))

    def request(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST to the API (`path` under /janus), the transaction added."""
        data = json.dumps({"transaction": "devtools", **body}).encode()
        req = urllib.request.Request(self.api_url + path, data=data, headers={"Content-Type": "application/json"})
        with self._where(), _DIRECT.open(req, timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def mountpoint_info(self) -> dict[str, Any]:
        """The streaming plugin's `info` of the mountpoint (a throw-away session): its media, and
        each medium's `age_ms` (time since the last RTP packet came in)."""
        session = self.request("", {"janus": "create"})["data"]["id"]
        try:
            handle = self.request(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.streaming"})["data"]["id"]
            reply = self.request(
                f"/{session}/{handle}", {"janus": "message", "body": {"request": "info", "id": self.mountpoint_id}}
            )
            return dict(reply.get("plugindata", {}).get("data", {}).get("info", {}))
        finally:
            self.request(f"/{session}", {"janus": "destroy"})
