"""A WHIP publisher (RFC 9725) for the media tests and benchmarks, standing in for an encoder such as
OBS: FFmpeg encodes a synthetic source (testsrc2 + a 440 Hz sine, like devtools.media.peers.Publisher)
with x264 (`-tune zerolatency -bf 0`, a fixed GOP) and Opus, and sends both as plain RTP to two
127.0.0.1 ports of components/webrtc/cmd/whip-push, which publishes them over one pion peer
connection to a WHIP URL (the component's control API, or the worker's public endpoint).

    with WhipPublisher(f"{component.control_url}/whip", tmp_path, token="key") as publisher:
        publisher.wait_connected()
        ...
    # leaving the block: SIGTERM, whip-push DELETEs its session, then FFmpeg is stopped

The token goes to whip-push in a 0600 file (never on a command line, never in its log). whip-push
writes its state to a JSON file that status() reads: {"status": 201, "location": …, "connected":
true, "packetsSent": N, …}; a refused POST leaves {"status": 401, "body": …} and exit code 3 (start()
returns normally then: the refusal is what such a test looks at, and no FFmpeg is started).
vanish() is the publisher that disappears: both processes SIGKILLed, no DELETE, no DTLS close.

Network confinement: whip-push binds its RTP ports on 127.0.0.1, gathers ICE candidates on local
IPs in `ice_allow` only (default 127.0.0.0/8), no mDNS, no STUN/TURN, and talks HTTP to `url` only;
FFmpeg sends from 127.0.0.1 (`localaddr`) to those ports. Every process is stopped by PID.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any, Self

from devtools.media.peers import _Peer
from devtools.media.webrtc import rtp_ports
from devtools.media.webrtc_rtp_feed import RTP_PACKET_BYTES
from devtools.ports import LOOPBACK
from devtools.versions import REPO, cache_dir
from devtools.waits import wait_for

COMPONENT = REPO / "components" / "webrtc"
WHIP_PUSH_SRC = COMPONENT / "cmd" / "whip-push"
# x264 profile -> the H.264 profile-level-id whip-push offers (the level is not negotiated).
H264_PROFILES = {"baseline": "42e01f", "main": "4d001f", "high": "64001f"}
EXIT_REFUSED = 3  # whip-push: the POST was answered with something else than 201


@functools.cache
def whip_push_bin() -> Path:
    """cmd/whip-push built with the component's go.mod into the cache, keyed by its sources (test
    files excluded) and the Go version, like bench/webrtc_fanout.py's whep-load; a no-op once
    built. A lock in the cache serialises concurrent builds (pytest-xdist workers)."""
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(go_version.encode())
    sources = [p for p in WHIP_PUSH_SRC.glob("*.go") if not p.name.endswith("_test.go")]
    for path in sorted([COMPONENT / "go.mod", COMPONENT / "go.sum", *sources]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    out = cache_dir() / f"whip-push-{digest.hexdigest()[:12]}" / "whip-push"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".whip-push-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():  # built by whoever held the lock before us
            env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
            subprocess.run(
                ["go", "build", "-trimpath", "-o", f"{out}.tmp", "./cmd/whip-push"], cwd=COMPONENT, env=env, check=True
            )
            os.replace(f"{out}.tmp", out)
    return out


class _RtpEncoder(_Peer):
    """The FFmpeg of a WhipPublisher: x264 + Opus RTP to its two ports, in real time (-re)."""

    def __init__(self, owner: WhipPublisher, log_path: Path, netns: str | None) -> None:
        super().__init__(log_path, netns=netns)
        self.owner = owner

    def command(self) -> list[str]:
        p = self.owner
        gop = str(max(1, round(p.rate * p.keyframe_interval)))

        def rtp(port: int) -> str:
            return f"rtp://{LOOPBACK}:{port}?pkt_size={RTP_PACKET_BYTES}&localaddr={LOOPBACK}"

        cmd = [p.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-re"]
        cmd += ["-f", "lavfi", "-i", f"testsrc2=size={p.size}:rate={p.rate}"]
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        cmd += ["-map", "0:v", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"]
        cmd += ["-profile:v", p.profile, "-pix_fmt", "yuv420p", "-bf", "0"]
        # a fixed GOP (no scene-cut keyframes): x264 puts SPS and PPS before every IDR (in band)
        cmd += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", p.video_bitrate]
        cmd += ["-f", "rtp", rtp(p.video_port)]
        cmd += ["-map", "1:a", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", p.audio_bitrate]
        cmd += ["-application", "lowdelay", "-frame_duration", "20"]
        return [*cmd, "-f", "rtp", rtp(p.audio_port)]


class WhipPublisher(_Peer):
    """whip-push publishing to `url` what its FFmpeg encodes (see the module's docstring).

    `token`: the bearer token (None: no Authorization header). `size`/`rate`/`keyframe_interval`
    (seconds)/`video_bitrate`/`profile` (baseline, main, high: x264's profile and the offered
    profile-level-id) shape the video. `ice_allow`: CIDRs of the local IPs that gather candidates;
    `ice_tcp_only`: ICE over TCP only (the component's ICE-TCP port). `no_delete`: stop() exits
    without DELETE too. `connect_timeout`: whip-push gives up (DELETE, exit 4) when not connected
    that long after the answer. Files in `workdir`: `<name>.log` (whip-push's stderr),
    `<name>-ffmpeg.log`, `<name>.json` (the status), `<name>.token` (while it runs)."""

    def __init__(
        self,
        url: str,
        workdir: str | os.PathLike[str],
        *,
        token: str | None = None,
        size: str = "1280x720",
        rate: int = 30,
        keyframe_interval: float = 1.0,
        video_bitrate: str = "2500k",
        audio_bitrate: str = "64k",
        profile: str = "baseline",
        ice_allow: str = "127.0.0.0/8",
        ice_tcp_only: bool = False,
        no_delete: bool = False,
        connect_timeout: float = 15.0,
        name: str = "whip",
        ffmpeg: str = "ffmpeg",
        netns: str | None = None,
    ) -> None:
        if profile not in H264_PROFILES:
            raise ValueError(f"profile: one of {sorted(H264_PROFILES)}, not {profile!r}")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(self.workdir / f"{name}.log", netns=netns)
        self.url = url
        self.token = token
        self.size, self.rate, self.keyframe_interval = size, rate, keyframe_interval
        self.video_bitrate, self.audio_bitrate, self.profile = video_bitrate, audio_bitrate, profile
        self.ice_allow, self.ice_tcp_only, self.no_delete = ice_allow, ice_tcp_only, no_delete
        self.connect_timeout = connect_timeout
        self.ffmpeg = ffmpeg
        taken: set[int] = set()
        self.video_port, self.audio_port = rtp_ports(taken), rtp_ports(taken)
        self.status_path = self.workdir / f"{name}.json"
        self.token_path = self.workdir / f"{name}.token"
        self.source = _RtpEncoder(self, self.workdir / f"{name}-ffmpeg.log", netns)
        self._binary: Path | None = None

    # --- the processes ---------------------------------------------------------------------------

    def command(self) -> list[str]:
        assert self._binary is not None, "start() builds whip-push first"
        # `env -u`: no $WHIP_TOKEN of ours reaches whip-push; the token is the file or nothing.
        cmd = ["env", "-u", "WHIP_TOKEN", str(self._binary), "--url", self.url]
        cmd += ["--video-port", str(self.video_port), "--audio-port", str(self.audio_port)]
        cmd += ["--ice-allow-ip", self.ice_allow, "--status-file", str(self.status_path)]
        cmd += ["--h264-profile-level-id", H264_PROFILES[self.profile]]
        cmd += ["--connect-timeout", f"{self.connect_timeout:g}s"]
        if self.token is not None:
            cmd += ["--token-file", str(self.token_path)]
        if self.ice_tcp_only:
            cmd.append("--ice-tcp-only")
        if self.no_delete:
            cmd.append("--no-delete")
        return cmd

    def start(self) -> Self:
        """whip-push until the POST is answered (it is then connecting), then FFmpeg when the answer
        was 201. A refusal (exit 3) returns normally: status() has the code and the body."""
        self._binary = whip_push_bin()  # before the clock starts: the first build takes a while
        self.status_path.unlink(missing_ok=True)  # a restart must not read the last run's
        if self.token is not None:
            self._write_token(self.token)
        super().start()
        try:
            if self.status().get("status") == 201:
                self.source.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_token(self, token: str) -> None:
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)  # an older file keeps its mode otherwise
            f.write(token + "\n")

    def _ready(self) -> None:
        # gathering (≤ 10 s) + the POST (≤ 15 s) bound whip-push's own wait for the answer
        def answered() -> bool:
            if self.status().get("status"):
                return True
            if self._proc is not None and self._proc.poll() is not None:
                self._check_alive()  # exited before any answer (a bad flag, unreachable URL): raise
            return False

        wait_for(answered, timeout=30, interval=0.02, what=f"whip-push's POST to {self.url}")

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM whip-push (it DELETEs its session, unless `no_delete`; ≤ 5 s), then FFmpeg;
        whip-push's exit code (0 after a signal, 3 after a refusal)."""
        try:
            return super().stop(grace)
        finally:
            self.source.stop()
            self.token_path.unlink(missing_ok=True)

    def vanish(self) -> None:
        """The publisher disappears: whip-push and FFmpeg SIGKILLed (no DELETE, no DTLS close; the
        server finds out when ICE fails), then cleaned up like stop()."""
        for peer in (self, self.source):
            proc = peer._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGKILL)
                proc.wait(5)
        self.stop()

    # --- what it says ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """whip-push's status file ({} until it wrote one): status (the POST's HTTP status, 0 before
        the answer), location, body (a refusal's), state, connected, packetsSent, videoPacketsSent,
        audioPacketsSent, bytesSent, packetsDropped, keyframeRequests, deleteStatus, error."""
        try:
            return dict(json.loads(self.status_path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_connected(self, timeout: float = 10.0) -> dict[str, Any]:
        """The status once the peer connection is up; raises when whip-push was refused or ended."""

        def connected() -> dict[str, Any] | None:
            st = self.status()
            if st.get("connected"):
                return st
            if st.get("status") not in (None, 0, 201):
                raise RuntimeError(f"the WHIP POST was refused: {st.get('status')} {st.get('body', '')}")
            self._check_alive()
            return None

        return wait_for(connected, timeout=timeout, interval=0.02, what=f"whip-push connected to {self.url}")


class FileRtpSender(_Peer):
    """Plays a file in real time as H.264 (copied) + Opus RTP to a WhipPublisher's ports: set it as
    the publisher's `source` before starting it."""

    def __init__(self, publisher: WhipPublisher, media: Path) -> None:
        super().__init__(publisher.workdir / "sender.log")
        self.publisher, self.media = publisher, media

    def command(self) -> list[str]:
        def rtp(port: int) -> str:
            return f"rtp://{LOOPBACK}:{port}?pkt_size={RTP_PACKET_BYTES}&localaddr={LOOPBACK}"

        p = self.publisher
        cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", str(self.media)]
        cmd += ["-map", "0:v", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "rtp", rtp(p.video_port)]
        return [*cmd, "-map", "0:a", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-f", "rtp", rtp(p.audio_port)]


def resolution_switch(
    workdir: Path, seconds: tuple[float, float] = (4, 4), sizes: tuple[str, str] = ("1280x720", "640x360")
) -> Path:
    """`seconds[0]` of `sizes[0]` then `seconds[1]` of `sizes[1]` in one H.264 stream (1 s GOPs, no
    B-frames): a browser lowering its resolution (new SPS and IDR, RTP sequence and timestamps
    going on)."""
    parts = []
    for (size, name), length in zip(zip(sizes, ("big", "small"), strict=True), seconds, strict=True):
        part = workdir / f"{name}.ts"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
             "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", str(length), "-c:v", "libx264", "-preset",
             "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-c:a", "aac", "-f", "mpegts", str(part)],
            check=True, timeout=60,
        )  # fmt: skip
        parts.append(part)
    listing = workdir / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    joined = workdir / "switch.ts"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
         "-c", "copy", "-f", "mpegts", str(joined)],
        check=True, timeout=30,
    )  # fmt: skip
    return joined
