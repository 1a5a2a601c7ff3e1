"""The clipper's FFmpeg command lines (pure) and the ffprobe of where a joined file's keyframes are.

Both cuts read the joined segments (one local MPEG-TS or fragmented-MP4 file) and write a
progressive MP4 with the moov in front (faststart: a browser plays it while it downloads)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamops.media.ffmpeg import FFMPEG, probe_file

# exact mode re-encodes: x264 veryfast at CRF 20 (a 60 s 720p30 clip took 25 s of one core, 2.4x real
# time: bench/results/clips.md); AAC 128 kbit/s.
EXACT_PRESET = "veryfast"
EXACT_CRF = 20
EXACT_AUDIO_BITRATE = "128k"


def _seconds(value: float) -> str:
    return f"{value:.6f}"


def _cut(src: Path, dst: Path, seek: float, duration: float, codecs: list[str]) -> list[str]:
    """`duration` seconds of `src`'s first video and audio from `seek`, coded by `codecs`, into a
    faststart MP4."""
    return [
        FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-protocol_whitelist", "file",
        "-ss", _seconds(seek), "-i", str(src),
        "-t", _seconds(duration),
        "-map", "0:v:0?", "-map", "0:a:0?",
        *codecs,
        "-movflags", "+faststart",
        "-f", "mp4", str(dst),
    ]  # fmt: skip


def keyframe_cut(src: Path, dst: Path, seek: float, duration: float) -> list[str]:
    """Stream copy from `seek` (a keyframe's offset in `src`: the demuxer lands on it exactly, so
    nothing before it is kept and no edit list hides a head) for `duration` seconds."""
    return _cut(src, dst, seek, duration, ["-c", "copy", "-avoid_negative_ts", "make_zero"])


def exact_cut(src: Path, dst: Path, seek: float, duration: float) -> list[str]:
    """Frame-exact: an input seek while decoding is exact (FFmpeg decodes from the keyframe before
    and drops what precedes `seek`), and the whole clip is re-encoded (H.264 8-bit 4:2:0 + AAC: what
    every browser plays). docs/design/clips.md says why not only the edges."""
    return _cut(src, dst, seek, duration, [
        "-c:v", "libx264", "-preset", EXACT_PRESET, "-crf", str(EXACT_CRF), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", EXACT_AUDIO_BITRATE,
    ])  # fmt: skip


@dataclass(frozen=True)
class Keyframes:
    """Where a file's media starts (ffprobe's format start_time, what an input seek counts from) and
    the presentation times of its video keyframes, seconds, ascending."""

    start: float
    times: tuple[float, ...]

    def at_or_before(self, t: float) -> float:
        """The last keyframe at or before `t` (the first one when `t` is before all of them)."""
        earlier = [k for k in self.times if k <= t + 1e-6]
        return earlier[-1] if earlier else self.times[0]


def parse_keyframes(format_start: str, packets: str) -> Keyframes:
    """ffprobe's `format=start_time` answer and its `packet=pts_time,flags` CSV lines of the video."""
    times = []
    for line in packets.splitlines():
        fields = line.strip().split(",")
        if len(fields) >= 2 and fields[1].startswith("K") and fields[0] not in ("", "N/A"):
            times.append(float(fields[0]))
    if not times:
        raise ValueError("no video keyframe in the segments")
    start = float(format_start.strip()) if format_start.strip() not in ("", "N/A") else min(times)
    return Keyframes(start, tuple(sorted(times)))


async def probe_keyframes(path: Path) -> Keyframes:
    """Reads packets only (no decoding)."""
    start = await probe_file(path, "-show_entries", "format=start_time", "-of", "default=nw=1:nk=1")
    packets = await probe_file(
        path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0"
    )
    return parse_keyframes(start, packets)
