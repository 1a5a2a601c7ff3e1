"""The ingest's FFmpeg command lines, pure: one session's argv (the feed on stdout, HLS, DASH, the
LL-HLS pipes, renditions), its inputs (RTMP/SRT listeners, pulls, the backup's relayed feed), the
HLS/DASH muxer options, the multivariant playlist and the screenshot's argv. Nothing here runs a
process or touches a file: the session (session.py) and the worker (worker.py) do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import ffmpeg as ffmpeg_python

from streamops.api.common import PULL_SOURCE_SCHEMES
from streamops.api.livestream_media import DVR, HLS, PullRtsp, PushProtocol, Rendition
from streamops.contract.ingest import IngestConfig, IngestOverlay
from streamops.contract.overlay import COMPOSITE_FRAME_RATE, png_name
from streamops.media.ffmpeg import FFMPEG, RW_TIMEOUT_US, command, tls_verify_options
from streamops.media.ffmpeg import protocol_whitelist as whitelist_for
from streamops.media.ingest.llhls.packager import PackagerSettings
from streamops.media.ingest.rtsp_pull import is_rtsp, rtsp_input_options
from streamops.media.rendition_encode import rendition_encode

NON_DVR_PLAYLIST_SEGMENTS = 6
# Segments kept on disk after they leave the playlist (a player that just read it still gets them):
# FFmpeg's hls_delete_threshold and the RTMP front's delete_threshold alike.
HLS_DELETE_THRESHOLD = 2
# Seconds between a session's -progress blocks: each one wakes the supervisor, and what they feed
# (session.LiveMeter's rates over 3 s, the status and metrics read when asked) needs no more than one
# a second (lean-ingest.md, "A quiet supervisor").
PROGRESS_SECONDS = 1.0


def playlist_segments(dvr: DVR, hls: HLS) -> int:
    if not dvr.enabled:
        return NON_DVR_PLAYLIST_SEGMENTS
    return max(1, math.ceil(dvr.duration_seconds / hls.segment_seconds))


def hls_options(config: IngestConfig, segment_type: Literal["fmp4", "mpegts"], directory: Path) -> dict[str, Any]:
    """Options of one HLS muxer writing `directory/index.m3u8`."""
    hls = config.hls
    flags = "delete_segments+independent_segments+program_date_time"
    if not hls.end_list_on_stop:
        flags += "+omit_endlist"
    options: dict[str, Any] = {
        "f": "hls",
        "hls_time": hls.segment_seconds,
        "hls_list_size": playlist_segments(config.dvr, hls),
        "hls_delete_threshold": HLS_DELETE_THRESHOLD,
        "hls_flags": flags,
        "hls_segment_type": segment_type,
        # Media sequence numbers from the wall clock (seconds; segments last ≥ 1 s): the playlist of
        # a later session — a publisher's reconnect, a switch to or from the backup — goes on with
        # higher numbers. Counting from 0 again, a player would wait for numbers it already had.
        "hls_start_number_source": "epoch",
    }
    if segment_type == "fmp4":
        options["hls_fmp4_init_filename"] = "init.mp4"
        options["hls_segment_filename"] = str(directory / "seg-%06d.m4s")
    else:
        options["hls_segment_filename"] = str(directory / "seg-%06d.ts")
    return options


def front_hls_problem(config: IngestConfig) -> str | None:
    """What the stream asks for that the RTMP front's HLS writers (components/rtmp/mux) do not do,
    so that its `hlsWriter: front` is ignored and FFmpeg writes (None: they do it all). They write
    the passthrough's TS and CMAF flavours; the captions' check stays on the feed, which FFmpeg
    still writes (session.py), and so does the multivariant playlist (renditions only)."""
    if renditions(config):
        return "transcoding renditions"
    if config.hls.low_latency:
        return "LL-HLS parts"
    if config.dash:
        return "DASH"
    return None


def front_writes_hls(config: IngestConfig) -> bool:
    """The RTMP front writes an RTMP(S) session's HLS instead of its FFmpeg (IngestConfig.hlsWriter)."""
    return config.hls_writer == "front" and front_hls_problem(config) is None


def front_hls(config: IngestConfig, session_dir: Path, start_number: int) -> dict[str, Any]:
    """`admit`'s `hls` (components/rtmp/README.md): the front's writers with what hls_options gives
    FFmpeg's — the same directories and names, segment length, window, threshold, ENDLIST — and the
    epoch seconds as the first number, as `hls_start_number_source epoch` makes FFmpeg's."""
    hls = config.hls
    return {
        "ts_dir": str(session_dir / "ts") if hls.mpegts else "",
        "cmaf_dir": str(session_dir / "cmaf") if hls.cmaf else "",
        "segment_ms": round(hls.segment_seconds * 1000),
        "list_size": playlist_segments(config.dvr, hls),
        "delete_threshold": HLS_DELETE_THRESHOLD,
        "start_number": start_number,
        "end_list": hls.end_list_on_stop,
    }


def hls_variants(config: IngestConfig) -> list[tuple[str, Literal["fmp4", "mpegts"]]]:
    """(directory name, segment type) of the HLS flavours served: cmaf/ and/or ts/."""
    variants: list[tuple[str, Literal["fmp4", "mpegts"]]] = []
    if config.hls.cmaf:
        variants.append(("cmaf", "fmp4"))
    if config.hls.mpegts:
        variants.append(("ts", "mpegts"))
    return variants


def muxed_hls_variants(config: IngestConfig) -> list[tuple[str, Literal["fmp4", "mpegts"]]]:
    """The flavours FFmpeg's hls muxer writes: with LL-HLS, cmaf/ is the packager's (llhls/)."""
    return [(v, t) for v, t in hls_variants(config) if not (v == "cmaf" and config.hls.low_latency)]


LL_VARIANT = "cmaf"


def fragmented_mp4_options(hls: HLS) -> dict[str, Any]:
    """FFmpeg's mp4 muxer writing one fragment per LL-HLS part to a pipe (llhls/fragments.py):
    a fragment at every keyframe and every part length, the moov first and empty, no index at the
    end (a pipe cannot seek), each fragment flushed as soon as it is complete. delay_moov: the moov
    goes out with the first fragment, not at the header: a rendition's libx264 behind the tee muxer
    has no extradata until its first frame, and a moov written before had an empty avcC (8 bytes;
    no player or ffprobe could decode the transcoded LL-HLS; 53 bytes with it, measured)."""
    return {
        "f": "mp4",
        "movflags": "empty_moov+default_base_moof+frag_keyframe+skip_trailer+delay_moov",
        "frag_duration": round(hls.part_seconds * 1_000_000),
        "flush_packets": 1,
    }


# What dash.js reads for its clock (UTCTiming, urn:mpeg:dash:utc:http-xsdate:2014): the ingest's own,
# relative to the MPD and to the player page beside it (routes.py serves both <prefix>/dash/time and
# <prefix>/time), so that a signed URL's token stays in it and no public time server is asked.
DASH_CLOCK_URL = "time"
# The MPD's target latency (ServiceDescription Latency) of low-latency DASH, in chunks: dash.js aims
# at it (its clock to the playhead) and holds it by playing a little faster or slower. A chunk is
# announced once complete, so 5 leave ≈4 buffered: like LL-HLS's PART-HOLD-BACK of 3 parts plus a
# margin. 1.0 s with 200 ms chunks; measured in bench/results/latency.md (docs/design/low-latency.md).
LL_DASH_TARGET_CHUNKS = 5


def ll_dash_target_seconds(hls: HLS) -> float:
    return round(LL_DASH_TARGET_CHUNKS * hls.part_seconds, 3)


# Each AdaptationSet's streams of the ladder's DASH: every rendition in one video set (dash.js
# switches between them), the audio in another.
LADDER_ADAPTATION_SETS = "id=0,streams=v id=1,streams=a"


def dash_options(config: IngestConfig, *, ladder: bool = False) -> dict[str, Any]:
    """FFmpeg's dash muxer: a live MPD with templated CMAF segments of the HLS segment length over
    the DVR window (same window as the playlists). `ladder`: the renditions' video in one
    AdaptationSet. Low latency (dash_latency_mode low): chunked CMAF — each segment written (and
    served, routes.py) in fragments of hls.partMilliseconds as they are encoded, a number template
    without a timeline (FFmpeg writes availabilityTimeOffset only there: a timeline lists a segment
    once it is complete), the target latency, the ingest's clock and producer reference times."""
    hls = config.hls
    options: dict[str, Any] = {
        "f": "dash",
        "seg_duration": hls.segment_seconds,
        "window_size": playlist_segments(config.dvr, hls),
        "extra_window_size": 2,
        "use_template": 1,
        "use_timeline": 1,
        "remove_at_exit": 0,
        "init_seg_name": "init-$RepresentationID$.m4s",
        "media_seg_name": "chunk-$RepresentationID$-$Number%06d$.m4s",
        "format_options": "movflags=cmaf",
    }
    if ladder:
        options["adaptation_sets"] = LADDER_ADAPTATION_SETS
    if config.dash_low_latency:
        options.update(
            {
                "use_timeline": 0,
                # A segment cut late (a source's keyframe after the segment length) moves the next
                # numbers on with the clock instead of behind it: dash.js computes them from the clock.
                "index_correction": 1,
                "streaming": 1,
                "ldash": 1,
                "frag_type": "duration",
                "frag_duration": hls.part_seconds,
                "target_latency": ll_dash_target_seconds(hls),
                "utc_timing_url": DASH_CLOCK_URL,
                # FFmpeg's default without a timeline is 500 s: the MPD's end (type static) would reach
                # dash.js that late.
                "update_period": hls.segment_seconds,
            }
        )
    return options


def packager_settings(config: IngestConfig) -> PackagerSettings:
    return PackagerSettings(
        segment_seconds=config.hls.segment_seconds,
        part_seconds=config.hls.part_seconds,
        window_segments=playlist_segments(config.dvr, config.hls),
        end_list_on_stop=config.hls.end_list_on_stop,
    )


def renditions(config: IngestConfig) -> list[Rendition]:
    """Highest first: the first one is also the transcoded feed."""
    return config.transcoding.tallest_first() if config.transcoding else []


def session_dirs(config: IngestConfig, session_dir: Path) -> list[Path]:
    """Directories FFmpeg and the LL-HLS packagers write into (they do not create them)."""
    names = [r.name for r in renditions(config)]
    dirs = [session_dir / v / n for v, _ in hls_variants(config) for n in (names or [""])]
    return dirs + ([session_dir / "dash"] if config.dash else [])


def ll_renditions(config: IngestConfig) -> list[str]:
    """The LL-HLS packagers of a session, by rendition name ("" without renditions): each one
    reads FFmpeg's fragmented MP4 from a pipe of its own."""
    if not config.hls.low_latency:
        return []
    return [r.name for r in renditions(config)] or [""]


# FFmpeg's image2 input opens the PNG again for every frame it reads (measured on 5.1: a PNG renamed
# over the old one shows from the next frame on), at this rate; a queue of a few frames, so the
# picture composited is at most that old.
OVERLAY_THREAD_QUEUE = 4
# With more than one input FFmpeg reads each in a thread of its own, through a queue of packets: the
# source's is made deep enough for a burst (a GOP cache) not to block its reader.
SOURCE_THREAD_QUEUE = 512


def overlay_input(directory: Path, name: str) -> Any:
    """The renderer's PNG of overlay `name` in `directory`, looped: a frame every 1/COMPOSITE_FRAME_RATE s."""
    path = directory / png_name(name)
    return ffmpeg_python.input(
        str(path), f="image2", loop=1, framerate=COMPOSITE_FRAME_RATE, thread_queue_size=OVERLAY_THREAD_QUEUE
    ).video


def with_overlays(overlays: Sequence[IngestOverlay], directory: Path, video: Any) -> Any:
    """The source's video with each overlay (bottom first; its PNG in `directory`) scaled to its box
    — fractions of the source's own size (scale2ref) — and laid over it. Before the split into
    renditions: every rendition and the transcoded feed carry them, the copied feed never does
    (bench/overlays.py measures this graph too)."""
    for overlay in overlays:
        scaled = ffmpeg_python.filter_multi_output(
            [overlay_input(directory, overlay.name), video],
            "scale2ref",
            # FFmpeg 5.1's scale2ref names the reference's (the source's) size iw/ih and the scaled
            # input's main_w/main_h, against its documentation (measured: iw*0.4 of a 640x360
            # source is 256). Later FFmpeg versions swapped them: tests/media/test_overlays.py checks.
            w=f"iw*{overlay.width / 100:g}",
            h=f"ih*{overlay.height / 100:g}",
        )
        video = ffmpeg_python.filter(
            [scaled[1], scaled[0]],
            "overlay",
            x=f"main_w*{overlay.x / 100:g}",
            y=f"main_h*{overlay.y / 100:g}",
            format="auto",
            # Not the default (repeat): with it FFmpeg 5.1 never exits when its source ends (measured
            # with a file; a push session's end is also forced by the worker, a pull's is not);
            # pass: were the PNG input ever to end, the source goes on without the overlay.
            eof_action="pass",
        )
    return video


# What a backslash escapes in a tee slave: FFmpeg reads a slave out of the `|` list, then each option
# value up to `:` or `]` (av_get_token both times; quotes quote at both levels).
_TEE_SLAVE_SPECIAL = "\\'|"
_TEE_VALUE_SPECIAL = "\\':]"


def _escaped(text: str, special: str) -> str:
    return "".join("\\" + c if c in special else c for c in text)


def _tee_target(options: dict[str, Any], path: str) -> str:
    """One slave of the tee muxer, `[k=v:...]path`, escaped for both of FFmpeg's readings."""
    fields = ":".join(f"{k}={_escaped(str(v), _TEE_VALUE_SPECIAL)}" for k, v in options.items())
    return _escaped(f"[{fields}]{path}", _TEE_SLAVE_SPECIAL)


def audio_bitrates(ladder: Sequence[Rendition]) -> list[int]:
    """The AAC encodes of a ladder: one per distinct audio bitrate, in ladder order."""
    return list(dict.fromkeys(r.audio_bitrate_kbps for r in ladder))


# rendition_encode's audio options; every other one is the rendition's video encoder's.
_AUDIO_ENCODE = {"acodec": "c:a", "b:a": "b:a"}


def ladder_encodes(ladder: Sequence[Rendition], segment_seconds: float) -> dict[str, Any]:
    """Each rendition's x264 encode (rendition_encode) as options of one output holding every
    rendition's video (v:i, ladder order) and each of audio_bitrates' AAC (a:j)."""
    bitrates = audio_bitrates(ladder)
    options: dict[str, Any] = {}
    for i, r in enumerate(ladder):
        audio = bitrates.index(r.audio_bitrate_kbps)
        for key, value in rendition_encode(r, segment_seconds).items():
            if key in _AUDIO_ENCODE:
                options[f"{_AUDIO_ENCODE[key]}:{audio}"] = value
            elif key == "vcodec":
                options[f"c:v:{i}"] = value
            elif key.endswith(":v"):
                options[f"{key}:{i}"] = value
            else:
                options[f"{key}:v:{i}"] = value
    return options


def session_command(
    config: IngestConfig,
    url: str,
    input_options: dict[str, Any],
    session_dir: Path,
    transcoded_fd: int | None = None,
    ll_fds: dict[str, int] | None = None,
    audio_codec: str = "copy",
    *,
    hls: bool = True,
) -> list[str]:
    """One session: the input copied to the feed (MPEG-TS on stdout) and, without renditions, to
    HLS (and DASH); with renditions each is encoded once, all in one output teed to their HLS
    variants, DASH (all renditions) and the first one to the transcoded feed. `ll_fds`: the LL-HLS
    packagers' pipes, by rendition. `audio_codec`: what the copied outputs' audio becomes ("aac" for
    a WHIP publisher's Opus: the feed's readers and HLS take AAC), video staying as it came. `hls`
    False: no HLS muxer (the RTMP front writes them: front_writes_hls), only for a passthrough."""
    assert hls or not renditions(config), "the front's HLS writers take a passthrough only"
    ll_fds = ll_fds or {}
    if config.overlays and renditions(config):
        input_options = {"thread_queue_size": SOURCE_THREAD_QUEUE, **input_options}
    stream = ffmpeg_python.input(url, **input_options)
    codecs: dict[str, Any] = {"c": "copy"} if audio_codec == "copy" else {"c:v": "copy", "c:a": audio_codec}
    if audio_codec == "copy" and "rtsp_transport" in input_options:
        # An RTSP camera's AAC (MPEG4-GENERIC) reaches FFmpeg 7.1's stream copy without the key flag
        # on its packets, so it dropped them all: no audio, and every output held back 10 s
        # (max_interleave_delta) waiting for it. Every AAC frame is a key frame: copy them all.
        codecs["copyinkf:a"] = None
    # pes_payload_size 0: one PES per audio frame. The default packs ≈2.9 kB of AAC (≈180 ms) per PES,
    # and every consumer that interleaves (the pusher's FLV) then holds video back by as much.
    feed = {"f": "mpegts", "pes_payload_size": 0}
    ladder = renditions(config)
    # SRT/TS carries ADTS AAC; fMP4 wants raw AAC (FFmpeg's AAC encoder writes raw AAC already).
    raw_aac = {"bsf:a": "aac_adtstoasc"} if audio_codec == "copy" else {}
    if not ladder:
        # The feed and the HLS flavours are one tee output: FFmpeg 7 runs a muxer thread per output
        # and hands every packet to each, so three outputs cost ≈550 futex calls and 200 wakes a
        # second, one tee ≈100 and 90 (lean-ingest.md, issue 53); a WHIP publisher's Opus becomes
        # AAC once for them. The tee picks no stream by itself: the map names the first video and
        # audio, what FFmpeg's default selection took for each output. onfail=abort: a failing
        # slave ends the session as a failing output did (the tee's default drops it silently).
        # The LL-HLS pipe and DASH stay outputs of their own: their mp4 muxers refuse the codec
        # tag a tee passes through from an MPEG-TS input (SRT, pulls), where an output clears it.
        slaves = [_tee_target({**feed, "onfail": "abort"}, "pipe:1")]
        for variant, segment_type in muxed_hls_variants(config) if hls else []:
            directory = session_dir / variant
            options = {**hls_options(config, segment_type, directory), "onfail": "abort"}
            if segment_type == "fmp4" and audio_codec == "copy":
                options["bsfs/a"] = "aac_adtstoasc"
            slaves.append(_tee_target(options, str(directory / "index.m3u8")))
        outputs = [ffmpeg_python.output(stream["v:0?"], stream["a:0?"], "|".join(slaves), **codecs, f="tee")]
        if "" in ll_fds:
            ll = {**fragmented_mp4_options(config.hls), **raw_aac}
            outputs.append(ffmpeg_python.output(stream, f"pipe:{ll_fds['']}", **codecs, **ll))
        if config.dash:
            manifest = str(session_dir / "dash" / "manifest.mpd")
            outputs.append(ffmpeg_python.output(stream, manifest, **codecs, **dash_options(config), **raw_aac))
        return command(ffmpeg_python.merge_outputs(*outputs), stats_period=PROGRESS_SECONDS)
    outputs = [ffmpeg_python.output(stream, "pipe:1", **codecs, **feed)]
    # One output holding every rendition's video (v:i) and AAC encode (a:j), each encoded once, teed
    # to its slaves: each rendition's HLS variants, LL-HLS pipe (and the top one's transcoded feed)
    # select their rendition's pair; DASH takes them all (docs/design/low-latency.md, "DASH").
    overlaid = with_overlays(config.overlays or [], Path(config.overlay_dir or "."), stream.video)
    split = overlaid.filter_multi_output("split", len(ladder))
    bitrates = audio_bitrates(ladder)
    targets: list[str] = []
    for i, r in enumerate(ladder):
        pair = {"select": f"v:{i},a:{bitrates.index(r.audio_bitrate_kbps)}"}
        targets += [
            _tee_target(
                {**pair, **hls_options(config, t, session_dir / v / r.name)},
                str(session_dir / v / r.name / "index.m3u8"),
            )
            for v, t in muxed_hls_variants(config)
        ]
        if r.name in ll_fds:
            targets.append(_tee_target({**pair, **fragmented_mp4_options(config.hls)}, f"pipe:{ll_fds[r.name]}"))
        if i == 0 and transcoded_fd is not None:
            targets.append(_tee_target({**pair, "f": "mpegts", "pes_payload_size": 0}, f"pipe:{transcoded_fd}"))
    if config.dash:
        # libx264 behind the tee has no extradata at the header (the LL-HLS moov had an empty avcC
        # for it): extract_extradata hands the SPS/PPS of the first keyframe to the dash muxer, which
        # then writes each Representation's codecs (avc1.64001f) instead of a bare "avc1".
        dash = {"bsfs/v": "extract_extradata", **dash_options(config, ladder=True)}
        targets.append(_tee_target(dash, str(session_dir / "dash" / "manifest.mpd")))
    videos = [split[i].filter("scale", -2, r.height) for i, r in enumerate(ladder)]
    audios = [stream["a:0?"] for _ in bitrates]
    encode = {**ladder_encodes(ladder, config.hls.segment_seconds), "f": "tee"}
    outputs.append(ffmpeg_python.output(*videos, *audios, "|".join(targets), **encode))
    return command(ffmpeg_python.merge_outputs(*outputs), stats_period=PROGRESS_SECONDS)


# The source's CEA-608 captions as every rendition carries them (libx264 writes the A53 side data the
# h264 decoder exports back as SEI): CC1, the caption channel broadcast sources fill first. Its
# language is not in the stream; English is what a US broadcast's CC1 carries (docs/design/captions.md).
CLOSED_CAPTIONS_GROUP = "cc"
CLOSED_CAPTIONS_MEDIA = (
    f'#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="{CLOSED_CAPTIONS_GROUP}",NAME="English",LANGUAGE="en",'
    'INSTREAM-ID="CC1"'
)


def master_playlist(
    config: IngestConfig, source_width: int | None, source_height: int | None, *, closed_captions: bool
) -> str:
    """The multivariant playlist of a transcoded stream (one per HLS flavour, same text).
    `closed_captions`: the source carries CEA-608/708 captions; either way each variant says so
    (CLOSED-CAPTIONS=NONE without: a player then does not look for any in the video)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if closed_captions:
        lines.append(CLOSED_CAPTIONS_MEDIA)
    captions = f'CLOSED-CAPTIONS="{CLOSED_CAPTIONS_GROUP}"' if closed_captions else "CLOSED-CAPTIONS=NONE"
    for r in renditions(config):
        attributes = [f"BANDWIDTH={(r.video_bitrate_kbps + r.audio_bitrate_kbps) * 1000}"]
        if source_width and source_height:
            width = round(source_width * r.height / source_height / 2) * 2
            attributes.append(f"RESOLUTION={width}x{r.height}")
        attributes.append(captions)
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", f"{r.name}/index.m3u8"]
    return "\n".join(lines) + "\n"


# Probing only as long as needed: the live flag must follow the first packet within 2 s. Never
# `-fflags nobuffer`: it drops the packets read while probing, the first keyframe among them, so
# copy outputs wait a whole GOP for the next one (measured: live 2.3 s → 0.4 s after publish).
FAST_PROBE = {"analyzeduration": 100_000, "probesize": 1_000_000}
# An RTMP server's play (nginx-rtmp, SRS, another platform) starts with the audio and sends video from
# a keyframe on, up to a GOP later; FLV makes its streams as their first packets come, so 100 ms of
# probing saw the audio only and the video was never mapped (every pull from nginx-rtmp was audio-only,
# 5.1 and 7.1 alike). Probing up to 2.5 s of media (a 2 s GOP and its start) finds both.
RTMP_PULL_PROBE = {"analyzeduration": 2_500_000, "probesize": 5_000_000}


def flv_fifo_input(fifo: Path) -> tuple[str, dict[str, Any]]:
    """An RTMP publisher's media as the front (rtmp_front.py) writes it: FLV on a FIFO of the
    worker's private directory. The path is ours, so `file` is the one protocol allowed."""
    return str(fifo), {"f": "flv", "protocol_whitelist": "file", **FAST_PROBE}


def listener_protocols(protocols: Iterable[PushProtocol]) -> list[PushProtocol]:
    """The FFmpeg listeners the push protocols need: RTMPS and RTMP both end in the RTMP front,
    which feeds one idle rtmp session (FLV on a FIFO) whichever the publisher used."""
    wanted = set(protocols)
    return [p for p in ("rtmp", "srt") if p in wanted or (p == "rtmp" and "rtmps" in wanted)]


def srt_listen_input(script: Path) -> tuple[str, dict[str, Any]]:
    """The SRT listener, opened by FFmpeg's concat demuxer from a script (`srt_listen_script`) that
    it reads from a FIFO: the passphrase is then neither on FFmpeg's command line, which any process
    of the Pod reads in /proc/<pid>/cmdline while the listener waits, nor on disk. FFmpeg 5.1 had no
    other way (`-passphrase` is a command line option too); 7.1's `-/opt file` is not tried yet. The
    script is ours, so `file` is allowed (for the FIFO) and `safe` off (its URL has a scheme)."""
    return str(script), {"f": "concat", "safe": 0, "protocol_whitelist": "file,srt,udp", **FAST_PROBE}


def _ffconcat_quote(value: str) -> str:
    """One token of an ffconcat line (FFmpeg's av_get_token): single-quoted, quotes spliced in."""
    return "'" + value.replace("'", "'\\''") + "'"


def srt_listen_script(bind: str, port: int, key: str, latency_ms: int | None, timeout: float) -> str:
    """The concat script of the SRT listener. The stream key is the passphrase: a publisher with
    another key fails the handshake. `timeout` (libsrt's read timeout): a publisher that sends
    nothing for that long ends the session (SIGSTOPped publisher: released after 2.4 s with 2 s,
    5.2 s without, libsrt's peer idle timeout); it does not apply while the listener waits."""
    query = f"mode=listener&timeout={round(timeout * 1e6)}"
    if latency_ms is not None:
        query += f"&latency={latency_ms * 1000}"  # µs, both directions: the larger side's wins
    lines = [
        "ffconcat version 1.0",
        f"file {_ffconcat_quote(f'srt://{bind}:{port}?{query}')}",
        f"option passphrase {_ffconcat_quote(key)}",
        *(f"option {name} {value}" for name, value in FAST_PROBE.items()),  # the inner input probes too
    ]
    return "\n".join(lines) + "\n"


# The pull schemes whose TLS connection FFmpeg is told to verify: the rtmp protocol hands its options
# to its `tls` connection (rtmpproto.c), the http protocol too (http.c), and the rtsp demuxer since our
# patch (hack/ffmpeg/patches/rtsp-tls-pinning.patch; FFmpeg 7.1's opened its TLS with no options).
VERIFIED_PULL_SCHEMES = ("rtmps", "https", "rtsps")


def pull_input(
    url: str, rtsp: PullRtsp | None = None, ca_file: str | None = None, insecure_skip_verify: bool = False
) -> tuple[str, dict[str, Any]]:
    """One pull URL's input; `rtsp`: source.pull.rtsp, for rtsp(s) URLs (rtsp_pull.py). An rtmps://,
    https:// or rtsps:// origin's certificate is verified (tls_verify_options: against `ca_file`, else
    the system's trust store, and the URL's host) before anything is sent to it (the URL's path, often
    a secret stream name; a camera's credentials) or taken from it, unless `insecure_skip_verify`
    (source.pull.tls)."""
    scheme = url.split("://", 1)[0]
    tls = tls_verify_options(ca_file, insecure_skip_verify) if scheme in VERIFIED_PULL_SCHEMES else {}
    if is_rtsp(url):
        return url, {**rtsp_input_options(url, rtsp), **tls, **FAST_PROBE}
    probe = RTMP_PULL_PROBE if scheme in ("rtmp", "rtmps") else FAST_PROBE
    return url, {
        "protocol_whitelist": whitelist_for(url, PULL_SOURCE_SCHEMES),
        "rw_timeout": RW_TIMEOUT_US,
        **tls,
        **probe,
    }


def relay_input(url: str) -> tuple[str, dict[str, Any]]:
    """The backup's feed as a primary receives it (on_air.py): served on loopback, from a keyframe on."""
    return url, {"protocol_whitelist": "http,tcp", "rw_timeout": RW_TIMEOUT_US, **FAST_PROBE}


# The hosted API's screenshots: "1080 pixels wide, or less if the original stream has a lower resolution".
SCREENSHOT_MAX_WIDTH = 1080


def screenshot_command(feed_url: str, out: Path) -> list[str]:
    """One JPEG of the live feed, at most SCREENSHOT_MAX_WIDTH wide: a wider picture is scaled down
    keeping its aspect ratio (an even height: 1920x1080 gives 1080x608), a narrower one kept as it is.
    The feed starts on a keyframe (GOP cache): one decoded frame, small probe, no audio."""
    scale = f"scale=w='min({SCREENSHOT_MAX_WIDTH},iw)':h=-2"
    return [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-rw_timeout",
            str(RW_TIMEOUT_US), "-protocol_whitelist", "http,tcp", "-analyzeduration", "500000",
            "-probesize", "500000", "-i", feed_url, "-an", "-frames:v", "1", "-vf", scale, "-q:v", "4",
            "-f", "image2", str(out)]  # fmt: skip
