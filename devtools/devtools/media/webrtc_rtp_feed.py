"""FFmpeg between an RTMP push and streamops-webrtc's RTP input: what the ingest worker's FFmpeg is to
do for WHEP viewers of an RTMP/SRT/pulled stream (components/webrtc/README.md, "Media paths and what
FFmpeg must do"), as a peer of its own until the worker runs the component.

    with RtmpToRtp(component.rtp_in_ports, netns=ns) as feed, ClockPublisher(feed.rtmp_url, netns=ns):
        ...

`ffmpeg -listen 1` takes one RTMP publisher (like the ingest's listener, with its probe settings);
the video is copied (x264's H.264 as it came: no B-frames is the publisher's job) with
h264_mp4toannexb, so SPS and PPS go in band before every IDR (FLV keeps them in the extradata only,
and WHEP viewers have no other way to get them); the audio becomes Opus at 48 kHz. Both leave as
RTP to the component's loopback input ports, in packets of at most 1200 bytes: what fits a 1500-byte
path once SRTP, UDP and IP are added (FFmpeg's default, 1472, does not).
"""

from __future__ import annotations

from devtools.media.peers import _Peer
from devtools.ports import LOOPBACK, free_port, tcp_listening
from devtools.waits import wait_for

RTP_PACKET_BYTES = 1200


class RtmpToRtp(_Peer):
    """One `ffmpeg -listen 1` RTMP listener on 127.0.0.1 sending H.264 + Opus RTP to
    rtp_in_ports = (video, audio) (devtools.media.webrtc.WebRtcComponent.rtp_in_ports)."""

    def __init__(
        self,
        rtp_in_ports: tuple[int, int],
        *,
        log_path: str | None = None,
        netns: str | None = None,
        ffmpeg: str = "ffmpeg",
    ) -> None:
        super().__init__(log_path, netns=netns)
        self.video_port, self.audio_port = rtp_in_ports
        self.rtmp_port = free_port()
        self.ffmpeg = ffmpeg

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://{LOOPBACK}:{self.rtmp_port}/live/feed"

    def command(self) -> list[str]:
        cmd = [self.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
        # the ingest's listener settings (operator/streamops/media/ingest/commands.py, FAST_PROBE)
        cmd += ["-listen", "1", "-analyzeduration", "100000", "-probesize", "1000000", "-i", self.rtmp_url]
        cmd += ["-map", "0:v:0", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb"]
        cmd += ["-f", "rtp", f"rtp://{LOOPBACK}:{self.video_port}?pkt_size={RTP_PACKET_BYTES}"]
        cmd += ["-map", "0:a:0", "-c:a", "libopus", "-ar", "48000", "-ac", "2", "-b:a", "64k"]
        cmd += ["-application", "lowdelay", "-frame_duration", "20"]
        return [*cmd, "-f", "rtp", f"rtp://{LOOPBACK}:{self.audio_port}?pkt_size={RTP_PACKET_BYTES}"]

    def _ready(self) -> None:
        def listening() -> bool:
            self._check_alive()
            with self._where():
                return tcp_listening(self.rtmp_port)

        wait_for(listening, timeout=10, what=f"ffmpeg's RTMP listener on {self.rtmp_port}")
