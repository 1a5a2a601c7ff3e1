"""The x264 + AAC encode of one rendition of a transcoding ladder, pure: the ingest's live ladder
(media/ingest/commands.py) and the renditions the recorder derives from a transcoded recording
(media/recorder/renditions.py) encode with the same options. Flat beside the workers, as what more
than one of them uses: from the ingest's package the recorder also imported the ingest's commands,
its contract and LL-HLS modules (25 ms median of 10 here, on a warm recorder's start:
docs/design/instant-recording.md)."""

from __future__ import annotations

from typing import Any

from streamops.api.livestream_media import Rendition


def rendition_encode(r: Rendition, segment_seconds: float) -> dict[str, Any]:
    """One rendition's x264 + AAC encode options (ffmpeg-python's output keywords), keyframes every
    `segment_seconds`."""
    return {
        "vcodec": "libx264",
        "preset": "veryfast",
        "pix_fmt": "yuv420p",
        "b:v": f"{r.video_bitrate_kbps}k",
        "maxrate": f"{r.video_bitrate_kbps}k",
        "bufsize": f"{2 * r.video_bitrate_kbps}k",
        "sc_threshold": 0,
        # Keyframes on segment boundaries, so every rendition's segments line up.
        "force_key_frames": f"expr:gte(t,n_forced*{segment_seconds})",
        # The source's timestamps as they come, on a 90 kHz clock. FFmpeg's default (cfr behind the
        # tee muxer, in 1/rate ticks) forces the rate its 0.1 s probe guessed from RTMP's
        # whole-millisecond timestamps, 353/12 for a 30 fps publisher: one frame in 60 dropped
        # (measured: 177 of 180 frames in 6 s; with these 180, read back as 30/1).
        "fps_mode": "passthrough",
        "enc_time_base:v": "1:90000",
        # The source's CEA-608/708 captions: the h264 decoder exports them as frame side data, which
        # split and scale keep, and libx264 writes them back as SEI (its default; said here so no
        # one drops it unknowingly). Every frame kept as it came (fps_mode above): a dropped or
        # doubled frame would drop or repeat its caption bytes.
        "a53cc": 1,
        "acodec": "aac",
        "b:a": f"{r.audio_bitrate_kbps}k",
    }
