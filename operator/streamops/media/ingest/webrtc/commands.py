"""Command lines of the WebRTC paths, pure: the component's argv (`streamops-webrtc`,
components/webrtc/README.md), the WHEP feeder's FFmpeg (the live feed → RTP into the component),
the ffprobe that looks for B-frames first, and the input of a WHIP session's FFmpeg (the component's
SDP file). Addresses are resolved and ports picked by the caller (runner.py): nothing here looks
anything up or starts anything.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamops.contract.ingest import (
    WHEP_MAX_VIEWERS,
    WHEP_MAX_VIEWERS_PER_ADDRESS,
    WHEP_MAX_VIEWERS_PER_TOKEN,
    IngestConfig,
)
from streamops.media.ffmpeg import FFMPEG, FFPROBE, RW_TIMEOUT_US
from streamops.media.ingest.commands import FAST_PROBE

WEBRTC = os.environ.get("STREAMOPS_WEBRTC", "streamops-webrtc")

# FFmpeg's default 1472-byte RTP packets plus SRTP, UDP and IP headers exceed a 1500-byte path
# towards real viewers (components/webrtc/README.md).
RTP_PACKET_BYTES = 1200
WHEP_KEYFRAME_SECONDS = 1  # the transcode's GOP: a joiner's first picture is at most this old
LOOPBACK = "127.0.0.1"
WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class ComponentPorts:
    """Where the worker and the component meet (picked at start by the runner): the control API's
    unix socket (in the worker's private directory, 0700: with the host network a loopback port would
    be open to every process of the node), the WHIP publisher's RTP for FFmpeg (video, audio; each
    port + 1 is RTCP) and the RTP FFmpeg sends for WHEP viewers (video, audio), on loopback."""

    control: Path
    whip_out: tuple[int, int] | None
    rtp_in: tuple[int, int] | None


def takes_whip(config: IngestConfig) -> bool:
    """WHIP publishers are taken here: a primary ingest (or one without backup) of a push stream
    whose protocols have whip."""
    push = config.source.push
    return push is not None and "whip" in push.protocols and config.role == "primary" and config.webrtc is not None


def serves_whep(config: IngestConfig) -> bool:
    return config.webrtc is not None and config.webrtc.whep


def _ice_address(bind: str, port: int) -> str:
    """The component's ICE listener: every allowed local IP (`:port`) when the worker binds all."""
    return f":{port}" if bind in WILDCARDS else f"{bind}:{port}"


def ice_allow(config: IngestConfig, pod_ip: str | None) -> list[str]:
    """CIDRs of the local IPs that gather candidates: the configured ones, else the Pod's IP, else
    the one address the worker binds (127.0.0.1 in tests); empty: every non-loopback one."""
    assert config.webrtc is not None
    if config.webrtc.ice_allow:
        return list(config.webrtc.ice_allow)
    if pod_ip:
        return [f"{pod_ip}/32"]
    if config.bind_address not in WILDCARDS:
        return [f"{ipaddress.ip_address(config.bind_address)}/32"]
    return []


def component_command(
    config: IngestConfig, ports: ComponentPorts, sdp_path: Path, advertise_ips: list[str], pod_ip: str | None
) -> list[str]:
    """The component's argv. `advertise_ips`: config.webrtc.advertise_hosts resolved to IPv4."""
    webrtc = config.webrtc
    assert webrtc is not None and config.ports.webrtc_udp is not None  # IngestConfig checks
    bind = config.bind_address
    argv = [WEBRTC, "--control", f"unix:{ports.control}", "--log-level", "info"]
    argv += ["--ice-udp", _ice_address(bind, config.ports.webrtc_udp)]
    tcp_port = config.ports.webrtc_tcp
    argv += ["--ice-tcp", _ice_address(bind, tcp_port) if webrtc.ice_tcp and tcp_port is not None else ""]
    if advertise_ips:
        argv += ["--advertise-ip", ",".join(advertise_ips)]
        if webrtc.advertise_udp_port is not None:
            argv += ["--advertise-udp-port", str(webrtc.advertise_udp_port)]
        if webrtc.advertise_tcp_port is not None:
            argv += ["--advertise-tcp-port", str(webrtc.advertise_tcp_port)]
    if allowed := ice_allow(config, pod_ip):
        argv += ["--ice-allow-ip", ",".join(allowed)]
    if ports.whip_out is not None:
        video, audio = ports.whip_out
        argv += ["--whip-out-video-port", str(video), "--whip-out-audio-port", str(audio)]
        argv += ["--whip-out-sdp", str(sdp_path)]
    if ports.rtp_in is not None:
        video, audio = ports.rtp_in
        argv += ["--rtp-in-video-port", str(video), "--rtp-in-audio-port", str(audio)]
    caps = (
        ("--max-viewers", webrtc.whep_max_viewers, WHEP_MAX_VIEWERS),
        ("--max-viewers-per-address", webrtc.whep_max_viewers_per_address, WHEP_MAX_VIEWERS_PER_ADDRESS),
        ("--max-viewers-per-token", webrtc.whep_max_viewers_per_token, WHEP_MAX_VIEWERS_PER_TOKEN),
    )
    for name, value, default in caps:
        argv += [name, str(default if value is None else value)]
    return argv


# FAST_PROBE's 0.1 s ends on a loaded machine before the keyframe the worker asks for arrives, and
# FFmpeg then exits ("could not find codec parameters", measured under `pytest -n 6`). It ends as
# soon as both streams are known, so a longer bound costs nothing when the keyframe comes first;
# fpsprobesize 0: no 20 frames of frame-rate guessing (RTP's clock says nothing of the rate).
WHIP_PROBE = {**FAST_PROBE, "analyzeduration": 5_000_000, "fpsprobesize": 0}


def whip_input(sdp_path: Path) -> tuple[str, dict[str, Any]]:
    """A WHIP session's FFmpeg input: the RTP the component forwards, described by its SDP file
    (fixed payload types, so FFmpeg starts before the publisher). `localaddr`: without it FFmpeg
    binds the SDP's ports on 0.0.0.0. The file is the component's, hence `file` in the list.

    The probe waits for the first keyframe (WHIP_PROBE): RTP has no header to probe, so the video's
    size is known only from an SPS, and a publisher's first packets are often mid-GOP."""
    return str(sdp_path), {"protocol_whitelist": "file,udp,rtp", "localaddr": LOOPBACK, **WHIP_PROBE}


# --- the WHEP feeder ---------------------------------------------------------------------------------


def _feed_input(feed_url: str) -> list[str]:
    return ["-protocol_whitelist", "http,tcp", "-rw_timeout", str(RW_TIMEOUT_US),
            "-analyzeduration", str(FAST_PROBE["analyzeduration"]), "-probesize", str(FAST_PROBE["probesize"]),
            "-i", feed_url]  # fmt: skip


# The feed input's options, also as ffprobe's ffconcat script passes them on (feed_access.py).
FEED_PROBE_OPTIONS = (
    ("rw_timeout", str(RW_TIMEOUT_US)),
    ("analyzeduration", str(FAST_PROBE["analyzeduration"])),
    ("probesize", str(FAST_PROBE["probesize"])),
)


def feed_probe_command(feed_input: Sequence[str]) -> list[str]:
    """ffprobe of the live feed's streams: codec type and has_b_frames (from the SPS; x264 with
    B-frames says 2, without 0), bit_rate when the container knows it. `feed_input`: the feed's
    input arguments (FeedAccess.ffconcat_input: the credential in a script, not here)."""
    return [FFPROBE, "-hide_banner", "-v", "error", "-of", "json",
            "-show_entries", "stream=codec_type,codec_name,has_b_frames,bit_rate,width,height",
            "-analyzeduration", str(FAST_PROBE["analyzeduration"]), "-probesize", str(FAST_PROBE["probesize"]),
            *feed_input]  # fmt: skip


def _rtp_url(port: int) -> str:
    # localaddr: FFmpeg's RTP socket (it also receives RTCP) on loopback only, not 0.0.0.0.
    return f"rtp://{LOOPBACK}:{port}?pkt_size={RTP_PACKET_BYTES}&localaddr={LOOPBACK}"


@dataclass(frozen=True)
class WhepTranscode:
    """The video encoded once more for WHEP viewers (a source with B-frames, bFrames: transcode)."""

    video_kbps: int


def whep_feed_command(
    feed_url: str, rtp_in: tuple[int, int], audio: bool, transcode: WhepTranscode | None
) -> list[str]:
    """The live feed (MPEG-TS over HTTP on loopback, starting at a keyframe) as RTP into the
    component's input ports: video copied with SPS/PPS in band before every IDR (viewers have no
    other way to get them), or encoded without B-frames; audio as Opus."""
    video_port, audio_port = rtp_in
    argv = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning", *_feed_input(feed_url)]
    argv += ["-map", "0:v:0"]
    if transcode is None:
        argv += ["-c:v", "copy", "-bsf:v", "h264_mp4toannexb"]
    else:
        kbps = transcode.video_kbps
        argv += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-pix_fmt", "yuv420p",
                 "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{kbps}k", "-sc_threshold", "0",
                 "-force_key_frames", f"expr:gte(t,n_forced*{WHEP_KEYFRAME_SECONDS})"]  # fmt: skip
    argv += ["-f", "rtp", _rtp_url(video_port)]
    if audio:
        argv += ["-map", "0:a:0", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-f", "rtp", _rtp_url(audio_port)]
    return argv
