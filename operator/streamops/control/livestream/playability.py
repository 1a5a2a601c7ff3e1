"""Whether the stream's HLS plays in common browsers, from what the encoder sends (the ingest's
`/status`: codec, profile, pixel format, bit depth).

Passthrough HLS carries the source as it is, and browsers decode far less than encoders can send:
Chrome, Firefox and Edge (hls.js over Media Source Extensions) and Safari decode 8-bit 4:2:0
H.264 in the Baseline, Main and High profiles. H.264 High 10, High 4:2:2 and High 4:4:4 (10-bit,
4:2:2 or 4:4:4 pictures, which OBS and hardware encoders offer) play in none of them: the player
loads the playlist and shows nothing. HEVC plays in Safari and on Apple devices (HLS with fMP4,
sample entry hvc1), not in Chrome, Firefox or Edge on most systems. Transcoding renditions are
always 8-bit 4:2:0 H.264 (x264 with yuv420p), so a stream with renditions plays everywhere.
"""

from __future__ import annotations

import re

from streamops.contract.ingest import IngestStatus
from streamops.control.shared.conditions import Observed

BROWSER_PLAYABLE = "BrowserPlayable"

# Reasons of the BrowserPlayable condition
PLAYABLE = "Playable"
TRANSCODED = "Transcoded"  # the renditions are what players get
NO_MEDIA = "NoMedia"  # not live: nothing to judge (Unknown)
CODEC_UNKNOWN = "CodecUnknown"  # live, but the ingest did not say what it receives (Unknown)
HIGH10_PROFILE = "High10Profile"  # H.264 with more than 8 bits per sample
CHROMA_422 = "Chroma422"  # H.264 with 4:2:2 chroma (High 4:2:2)
CHROMA_444 = "Chroma444"  # H.264 with 4:4:4 chroma or RGB (High 4:4:4)
UNSUPPORTED_PROFILE = "UnsupportedProfile"  # another H.264 profile browsers do not decode (e.g. Extended)
HEVC = "HEVC"  # Safari and Apple devices only
UNSUPPORTED_CODEC = "UnsupportedCodec"  # a video codec no common browser plays from HLS
# The Warning Event when the condition turns False (one reason to filter or alert on).
NOT_BROWSER_PLAYABLE = "NotBrowserPlayable"

# H.264 profiles every common browser decodes (FFmpeg's names).
BROWSER_H264_PROFILES = frozenset(
    {"Constrained Baseline", "Baseline", "Main", "High", "Constrained High", "Progressive High"}
)
FIX = (
    "encode H.264 8-bit 4:2:0 (profile High, Main or Baseline, pixel format yuv420p; OBS: color format NV12), "
    "or set spec.transcoding.renditions"
)
# FFmpeg pixel format names by chroma subsampling (yuv420p10le, nv12, p010le, yuv422p, nv16, gbrp...).
_CHROMA_422 = re.compile(r"422|^nv16|^nv20|^p2[01]\d|^y2[01]\d|^uyvy|^yuyv|^yvyu")
_CHROMA_444 = re.compile(r"444|^gbr|^rgb|^bgr|^argb|^abgr|^nv24|^nv42|^p4[01]\d|^x2[rb]gb|^vuy")


def chroma(pixel_format: str | None, profile: str | None) -> str | None:
    """4:2:0, 4:2:2 or 4:4:4 from the pixel format, else from the profile's name; None when unknown."""
    if pixel_format:
        if _CHROMA_444.search(pixel_format):
            return "4:4:4"
        if _CHROMA_422.search(pixel_format):
            return "4:2:2"
        return "4:2:0"
    for subsampling in ("4:4:4", "4:2:2"):
        if profile and subsampling in profile:
            return subsampling
    return None


def _describe(facts: IngestStatus) -> str:
    parts = [facts.video_codec or "", f"({facts.video_profile})" if facts.video_profile else "", facts.pixel_format]
    return " ".join(p for p in parts if p)


def _h264(facts: IngestStatus) -> Observed:
    what = _describe(facts)
    profile = facts.video_profile or ""
    subsampling = chroma(facts.pixel_format, facts.video_profile)
    if subsampling in ("4:2:2", "4:4:4"):
        reason = CHROMA_422 if subsampling == "4:2:2" else CHROMA_444
        detail = f"H.264 with {subsampling} chroma ({what})"
    elif "High 10" in profile or (facts.bit_depth or 8) > 8:
        reason, detail = HIGH10_PROFILE, f"10-bit H.264 ({what})"
    elif profile and profile not in BROWSER_H264_PROFILES:
        reason, detail = UNSUPPORTED_PROFILE, f"H.264 in the {profile} profile ({what})"
    else:
        return Observed(BROWSER_PLAYABLE, "True", PLAYABLE, f"{what}: plays in common browsers")
    return Observed(
        BROWSER_PLAYABLE,
        "False",
        reason,
        f"the source is {detail}, which no common browser plays (they play 8-bit 4:2:0 H.264): {FIX}",
    )


def browser_playability(on_air: IngestStatus | None, transcoded: bool) -> Observed:
    """The BrowserPlayable condition. `on_air` is the telemetry of the ingest viewers get (None
    while the stream is not live); `transcoded`: the stream has renditions."""
    if on_air is None:
        return Observed(BROWSER_PLAYABLE, "Unknown", NO_MEDIA, "known once media arrives")
    if transcoded:
        return Observed(
            BROWSER_PLAYABLE,
            "True",
            TRANSCODED,
            "players get the transcoding renditions (8-bit 4:2:0 H.264), which common browsers play",
        )
    codec = (on_air.video_codec or "").lower()
    if not codec:
        if on_air.audio_codec:
            return Observed(BROWSER_PLAYABLE, "True", PLAYABLE, f"audio only ({on_air.audio_codec})")
        return Observed(BROWSER_PLAYABLE, "Unknown", CODEC_UNKNOWN, "the ingest has not reported the source's codecs")
    if codec == "h264":
        return _h264(on_air)
    if codec in ("hevc", "h265"):
        return Observed(
            BROWSER_PLAYABLE,
            "False",
            HEVC,
            f"the source is HEVC ({_describe(on_air)}): it plays only in Safari and on Apple devices (the CMAF "
            f"playlist, hvc1), not in Chrome, Firefox or Edge on most systems; for every browser {FIX}",
        )
    if codec == "av1":
        return Observed(
            BROWSER_PLAYABLE,
            "True",
            PLAYABLE,
            f"{_describe(on_air)}: plays in Chrome, Firefox and Edge; Safari only on Apple devices with AV1 hardware",
        )
    return Observed(
        BROWSER_PLAYABLE,
        "False",
        UNSUPPORTED_CODEC,
        f"the source's video is {_describe(on_air)}, which no common browser plays from HLS: {FIX}",
    )


WEBRTC_PLAYABLE = "WebRtcPlayable"
# Reasons of the WebRtcPlayable condition (besides NO_MEDIA)
WEBRTC_SERVED = "Served"  # WHEP viewers get the source as it is
WEBRTC_TRANSCODED = "BFramesTranscoded"  # a B-frame-free encode of the source
WEBRTC_REFUSED = "BFramesRefused"  # the source has B-frames and playback.webrtc.bFrames is refuse
WEBRTC_UNAVAILABLE = "ComponentUnavailable"  # the ingest's WebRTC component does not run
WEBRTC_WAITING = "Waiting"  # live, the component has no media yet
WEBRTC_NOT_REPORTED = "NotReported"  # the ingest says nothing of WebRTC (a worker older than the operator)


def webrtc_playability(on_air: IngestStatus | None) -> Observed:
    """The WebRtcPlayable condition (with playback.webrtc.enabled): whether WHEP viewers get the
    stream now. `on_air`: the primary ingest's telemetry while live, else None."""
    if on_air is None:
        return Observed(WEBRTC_PLAYABLE, "Unknown", NO_MEDIA, "known once media arrives")
    webrtc = on_air.webrtc
    if webrtc is None:  # an ingest started by an older operator, until it is replaced: nothing to judge
        return Observed(WEBRTC_PLAYABLE, "Unknown", WEBRTC_NOT_REPORTED, "the ingest does not report WebRTC")
    if not webrtc.running:
        why = webrtc.error or "the ingest's WebRTC component does not run"
        return Observed(WEBRTC_PLAYABLE, "False", WEBRTC_UNAVAILABLE, why)
    if webrtc.whep_problem:
        return Observed(WEBRTC_PLAYABLE, "False", WEBRTC_REFUSED, webrtc.whep_problem)
    if not webrtc.whep_live:
        return Observed(WEBRTC_PLAYABLE, "Unknown", WEBRTC_WAITING, "the WebRTC component has no media yet")
    if webrtc.whep_transcoded:
        return Observed(
            WEBRTC_PLAYABLE,
            "True",
            WEBRTC_TRANSCODED,
            "the source has B-frames, which WebRTC players cannot play: WHEP viewers get an encode without them",
        )
    return Observed(WEBRTC_PLAYABLE, "True", WEBRTC_SERVED, "WHEP viewers get the source as it is")
