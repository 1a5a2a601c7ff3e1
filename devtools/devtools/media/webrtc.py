"""streamops-webrtc (components/webrtc) as a local process on loopback: WHIP and WHEP through its
control API, candidates on 127.0.0.0/8 only, one UDP and one TCP port for every peer connection.
What the Python ingest worker will run in its Pod; here tests and benchmarks drive it directly."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from devtools.http_client import http_json
from devtools.media.peers import _Peer
from devtools.ports import LOOPBACK, free_port, tcp_accepts, udp_bound
from devtools.versions import REPO, cache_dir, webrtc_bin
from devtools.waits import wait_for

COMPONENT_DIR = REPO / "components" / "webrtc"
WHEP_LOAD_DIR = COMPONENT_DIR / "cmd" / "whep-load"


def whep_load_bin() -> Path:
    """cmd/whep-load (many receive-only pion viewers in one process; JSON lines on stdout) built
    with the component's go.mod into the cache, keyed by its sources and the Go version (a no-op
    once built)."""
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    digest = hashlib.sha256(go_version.encode())
    for path in sorted([COMPONENT_DIR / "go.mod", COMPONENT_DIR / "go.sum", *WHEP_LOAD_DIR.glob("*.go")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    out = cache_dir() / f"whep-load-{digest.hexdigest()[:12]}" / "whep-load"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
        subprocess.run(
            ["go", "build", "-trimpath", "-o", f"{out}.tmp", "./cmd/whep-load"], cwd=COMPONENT_DIR, env=env, check=True
        )
        os.replace(f"{out}.tmp", out)
    return out


def watch_whep(base_url: str, viewers: int = 1, window: float = 2.0, join_timeout: float = 10.0) -> dict[str, Any]:
    """`viewers` receive-only WHEP viewers (whep-load) of `base_url` (POST base_url + "/whep", every
    candidate on 127.0.0.0/8) for `window` s once connected; whep-load's `result` line (connected,
    joinErrors, firstJoinError, fpsMin, audioPacketsPerSecondMin, perViewer, …). Bounded: whep-load
    ends by itself after join_timeout + 0.5 s + window, and is killed 15 s later at the latest."""
    argv = [str(whep_load_bin()), "--target", "whep", "--url", base_url, "--viewers", str(viewers),
            "--window", f"{window}s", "--settle", "0.5s", "--join-timeout", f"{join_timeout}s",
            "--ice-ip", LOOPBACK]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=join_timeout + window + 15)
    results = [json.loads(line) for line in done.stdout.splitlines() if '"event":"result"' in line]
    if not results:
        raise RuntimeError(f"whep-load gave no result (exit {done.returncode}): {done.stderr[-2000:]}")
    return dict(results[-1])


def rtp_ports(taken: set[int]) -> int:
    """A UDP port free on loopback whose next one (RTCP, bound too by FFmpeg and the component) is
    free as well, neither in `taken` (both added to it)."""
    for _ in range(100):
        port = free_port("udp")
        pair = {port, port + 1}
        if not pair & taken and not udp_bound(port + 1):
            taken |= pair
            return port
    raise OSError("no free pair of UDP ports on loopback")


class WebRtcComponent(_Peer):
    """One streamops-webrtc: `whip_out` ports (RTP of the WHIP publisher, for FFmpeg: each port + 1
    is RTCP, so they are 2 apart) and `rtp_in` ports (H.264 and Opus RTP from FFmpeg for the
    viewers). The SDP file of the WHIP output is `sdp_path` once started."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        whip_out: bool = True,
        rtp_in: bool = True,
        ice_tcp: bool = True,
        extra_args: list[str] | None = None,
        netns: str | None = None,
    ) -> None:
        super().__init__(os.path.join(workdir, "webrtc.log"), netns=netns)
        self.workdir = os.fspath(workdir)
        self.control_port = free_port()
        self.ice_port = free_port("udp")
        self.ice_tcp_port = free_port() if ice_tcp else None
        taken = {self.ice_port}
        self.whip_out_ports = (rtp_ports(taken), rtp_ports(taken)) if whip_out else None
        self.rtp_in_ports = (rtp_ports(taken), rtp_ports(taken)) if rtp_in else None
        self.sdp_path = os.path.join(self.workdir, "whip.sdp")
        self.extra_args = extra_args or []

    @property
    def control_url(self) -> str:
        return f"http://{LOOPBACK}:{self.control_port}"

    def command(self) -> list[str]:
        cmd = [str(webrtc_bin()), "--control", f"{LOOPBACK}:{self.control_port}"]
        cmd += ["--ice-udp", f"{LOOPBACK}:{self.ice_port}", "--ice-allow-ip", "127.0.0.0/8"]
        cmd += ["--ice-tcp", f"{LOOPBACK}:{self.ice_tcp_port}" if self.ice_tcp_port else ""]
        if self.whip_out_ports:
            video, audio = self.whip_out_ports
            cmd += ["--whip-out-video-port", str(video), "--whip-out-audio-port", str(audio)]
            cmd += ["--whip-out-sdp", self.sdp_path]
        if self.rtp_in_ports:
            video, audio = self.rtp_in_ports
            cmd += ["--rtp-in-video-port", str(video), "--rtp-in-audio-port", str(audio)]
        return [*cmd, *self.extra_args]

    def _ready(self) -> None:
        def up() -> bool:
            self._check_alive()
            with self._where():
                return tcp_accepts(self.control_port)

        wait_for(up, timeout=10, what="streamops-webrtc's control API")

    def status(self) -> dict[str, Any]:
        with self._where():
            return http_json(f"{self.control_url}/status")
