"""The pusher's FFmpeg command, pure: the stream key (read from its mounted file, checked) put
where the target's protocol carries it, off the command line (the target's arguments go through
`-args_file`: any process on the node reads /proc/<pid>/cmdline), the feed copied to the target,
and a silent audio track for a feed without one (`noAudioMode: silence`). Refuses (UnsafeUri)
anything FFmpeg must not open. Why the command is so: docs/design/restream-accounting.md ("The
push loop and the FFmpeg facts").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg as ffmpeg_python

from streamops.api.common import PUSH_TARGET_SCHEMES
from streamops.media.ffmpeg import ARGS_FILE_OPTION, RW_TIMEOUT_US, command, tls_verify_options
from streamops.media.ffmpeg import protocol_whitelist as whitelist_for
from streamops.media.mpegts import AUDIO_STREAM_TYPES

FEED_PROTOCOLS = "http,tcp"  # the feed is plain HTTP inside the cluster: no hls, no proxy, no file
FORMAT_BY_SCHEME = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts"}
# The feed starts with PAT/PMT and a keyframe: 2 s is enough to see every track, and the probed
# packets are flushed at once afterwards, so it delays the start, not the stream.
ANALYZE_US = 2_000_000
SILENT_AUDIO = "anullsrc=channel_layout=stereo:sample_rate=48000"
MAX_KEY_LENGTH = {"rtmp": 1024, "rtmps": 1024, "srt": 512}  # SRT_STREAMID is at most 512 bytes


class StreamKeyError(ValueError):
    """The stream key file is missing, empty or holds something that cannot be a key."""


def read_stream_key(path: str) -> str:
    """The key from a mounted Secret file (trailing newline stripped). Errors never quote it."""
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise StreamKeyError(f"cannot read the stream key file {path}: {type(e).__name__}") from None
    if not key:
        raise StreamKeyError(f"the stream key file {path} is empty")
    return key


def check_stream_key(key: str, scheme: str) -> str:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise StreamKeyError("the stream key contains whitespace or control characters")
    if len(key.encode()) > MAX_KEY_LENGTH[scheme]:
        raise StreamKeyError(f"the stream key is longer than {MAX_KEY_LENGTH[scheme]} bytes")
    return key


@dataclass(frozen=True)
class PushTarget:
    """Where FFmpeg pushes: the URL, the per-output options that carry the key, the muxer."""

    url: str
    options: dict[str, str]
    format: str
    whitelist: str

    def secret_args(self) -> list[str]:
        """The arguments that hold the key, for `-args_file`: its options, then the URL. They end
        FFmpeg's command line where `-args_file` stands (output options before their URL)."""
        return [*(a for name, value in self.options.items() for a in (f"-{name}", value)), self.url]


def tls_options(scheme: str, ca_file: str | None = None, insecure_skip_verify: bool = False) -> dict[str, str]:
    """FFmpeg's `tls` protocol options for a TLS scheme (rtmps, rtsps): it verifies nothing unless
    told (`tls_verify` 0 by default). Verified: the certificate chains to `ca_file`, or to the
    system's trust store without one (gnutls: `gnutls_certificate_set_x509_system_trust`), and names
    the URL's host (`gnutls_x509_crt_check_hostname`; an IP address against the IP SANs)."""
    if not scheme.endswith("s") or scheme == "srt":
        return {}
    return tls_verify_options(ca_file, insecure_skip_verify)


def push_target(
    uri: str, key: str | None, ca_file: str | None = None, insecure_skip_verify: bool = False
) -> PushTarget:
    """The target with the key appended: rtmp(s) → `<uri>/<key>` (the stream name, query and all,
    as platforms hand it out), srt → the SRT stream id (`-srt_streamid`: byte for byte, unlike the URL).
    rtmps: the target's certificate verified (tls_options) before the key is sent, unless
    `insecure_skip_verify`. Refuses (UnsafeUri) anything FFmpeg must not open, before it runs."""
    whitelist = whitelist_for(uri, PUSH_TARGET_SCHEMES)
    scheme = uri.split("://", 1)[0]
    options: dict[str, str] = tls_options(scheme, ca_file, insecure_skip_verify)
    url = uri
    if key is not None:
        check_stream_key(key, scheme)
        if scheme == "srt":
            options["srt_streamid"] = key
        else:
            base, sep, query = uri.partition("?")  # an app-level query stays at the end
            url = f"{base.rstrip('/')}/{key}{sep}{query}"
            whitelist_for(url, PUSH_TARGET_SCHEMES)  # the key must not turn it into something else
    return PushTarget(url=url, options=options, format=FORMAT_BY_SCHEME[scheme], whitelist=whitelist)


@dataclass(frozen=True)
class PushCommand:
    """FFmpeg's command line, and what the worker writes into its `-args_file` FIFO (spliced in
    where `-args_file` stands: FFmpeg then acts on `argv` with it in that place)."""

    argv: list[str]
    file_args: list[str]


def push_command(
    feed_url: str, target: PushTarget, add_silence: bool, args_file: Path, header_args: Sequence[str] = ()
) -> PushCommand:
    """FFmpeg: the feed (HTTP only, `-rw_timeout` so a frozen feed ends the run) copied to the target
    (its own protocol allow-list and `-rw_timeout`). add_silence: a silent AAC track stands in for
    the missing audio (the only thing ever encoded). Neither the feed's credential (`header_args`:
    `-headers …`, an option of the feed's input) nor the target's URL and key-bearing options are on
    the command line: FFmpeg reads everything from the feed's `-i` on from `args_file` (one file
    holds both: our FFmpeg splices one `-args_file`)."""
    whitelist_for(feed_url, ("http",))
    feed = ffmpeg_python.input(
        feed_url,
        f="mpegts",
        protocol_whitelist=FEED_PROTOCOLS,
        rw_timeout=RW_TIMEOUT_US,
        analyzeduration=ANALYZE_US,
        thread_queue_size=512,  # with the silence input it is read in a thread: room for the first burst
    )
    out_opts: dict[str, Any] = {
        "f": target.format,
        "protocol_whitelist": target.whitelist,
        "rw_timeout": RW_TIMEOUT_US,
    }
    if target.format == "flv":
        out_opts["flvflags"] = "no_duration_filesize"  # live: no seek back to patch the header
    else:
        out_opts["pes_payload_size"] = 0  # MPEG-TS: one PES per audio frame, no ≈180 ms audio batching
    if add_silence:
        silence = ffmpeg_python.input(SILENT_AUDIO, f="lavfi")
        streams = [feed["v:0"], silence["a:0"]]
        out_opts.update({"c:v": "copy", "c:a": "aac", "b:a": "96k", "shortest": None})
    else:
        streams = [feed["v:0?"], feed["a:0?"]]  # FLV carries one of each; extra tracks are dropped
        out_opts["c"] = "copy"
    graph = ffmpeg_python.output(*streams, target.url, **out_opts)
    argv = command(graph)
    assert argv[-1] == target.url, "ffmpeg-python puts the output URL last"
    at = argv.index("-i")  # the feed's: the first input; its other options stay in sight
    assert argv[at + 1] == feed_url
    return PushCommand(
        argv=[*argv[:at], ARGS_FILE_OPTION, str(args_file)],
        file_args=[*header_args, *argv[at:-1], *target.secret_args()],
    )


def needs_silence(mode: str, stream_types: Sequence[int] | None) -> bool:
    """silence mode adds a silent track only to a feed known to have none (unknown: forward as is)."""
    return mode == "silence" and stream_types is not None and not AUDIO_STREAM_TYPES.intersection(stream_types)
