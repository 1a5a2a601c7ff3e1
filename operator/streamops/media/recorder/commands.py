"""The recorder's FFmpeg command lines (pure): a part, its repair, the join; and the start a part's
FFmpeg reports."""

from __future__ import annotations

import re

import ffmpeg as ffmpeg_python

from streamops.media.ffmpeg import RW_TIMEOUT_US, command

FEED_PROTOCOLS = "http,tcp"  # the feed is plain HTTP inside the cluster: nothing else may be opened
# The feed starts with PAT/PMT and a keyframe (GOP cache): codec parameters are in its first
# packets, so FFmpeg's default 5 s of analysis would only delay the first bytes on disk. Not
# less than 0.5 s: at 0.1 s the AAC parameters are sometimes not found yet and the MP4 muxer
# refuses to start ("Error initializing output stream 0:1"), which loses a retry's worth of media.
ANALYZE_DURATION_US = 500_000
PROBE_SIZE_BYTES = 1_000_000
FRAGMENTED_MP4 = "frag_keyframe+empty_moov+default_base_moof"
FRAGMENT_US = 1_000_000  # also cut fragments between keyframes: a crash loses ≤ 1 s, whatever the GOP


def part_command(feed_url: str, part_path: str, time_limit: float) -> list[str]:
    """Copy the feed into one fragmented-MP4 part, for at most `time_limit` seconds."""
    source = ffmpeg_python.input(
        feed_url,
        protocol_whitelist=FEED_PROTOCOLS,
        rw_timeout=RW_TIMEOUT_US,
        analyzeduration=ANALYZE_DURATION_US,
        probesize=PROBE_SIZE_BYTES,
    )
    out = ffmpeg_python.output(
        source["v:0?"],
        source["a:0?"],
        part_path,
        c="copy",
        t=f"{time_limit:.3f}",
        movflags=FRAGMENTED_MP4,
        frag_duration=FRAGMENT_US,
        flush_packets=1,  # a finished fragment goes to disk now, not when FFmpeg's 32 KiB buffer fills
        f="mp4",
        **{"bsf:a": "aac_adtstoasc"},  # ADTS (MPEG-TS) AAC → MP4's AudioSpecificConfig
    )
    return command(out)


# FFmpeg's dump of its input (loglevel info): "  Duration: N/A, start: 6.654511, bitrate: N/A". The
# start is where the part's time zero lies on the feed's clock (FFmpeg subtracts it from every packet).
INPUT_START = re.compile(r"^\s*Duration: [^,]*, start: (-?\d+(?:\.\d+)?),")


def input_start(stderr_line: str) -> float | None:
    """The feed timestamp of a part's time zero, from the line of FFmpeg's input dump that says it."""
    found = INPUT_START.match(stderr_line)
    return float(found[1]) if found else None


def repair_command(src: str, dst: str) -> list[str]:
    """Remux a part, dropping the partial sample a killed FFmpeg left at its end."""
    source = ffmpeg_python.input(src, protocol_whitelist="file", fflags="+discardcorrupt")
    out = ffmpeg_python.output(source, dst, map="0", c="copy", movflags=FRAGMENTED_MP4, f="mp4")
    return command(out, progress=False, loglevel="warning")


def join_command(list_path: str, dst: str) -> list[str]:
    """Join parts (concat demuxer, copy; the list may cut a part short with `outpoint`) into a
    progressive MP4 with the moov in front."""
    source = ffmpeg_python.input(list_path, f="concat", safe=1, protocol_whitelist="file")
    out = ffmpeg_python.output(source, dst, map="0", c="copy", movflags="+faststart", f="mp4")
    return command(out, progress=False, loglevel="warning")
