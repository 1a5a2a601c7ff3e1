"""Running FFmpeg safely: command lines (ffmpeg-python), protocol allow-lists, redaction of
secrets, progress telemetry and the source's facts read from its output.

Facts this relies on (measured on Debian's FFmpeg 5.1): `-progress pipe:N` gives cumulative
frame/out_time/speed every `-stats_period`; ffmpeg exits 0 when its input drops; a frozen peer
hangs it unless `-rw_timeout` is set; `-protocol_whitelist` works on inputs and outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ffmpeg as ffmpeg_python

from streamops.api.uri_rules import check_uri
from streamops.contract.storage_credentials import ACCESS_KEY_ENV, SECRET_KEY_ENV
from streamops.redaction import Redactor

FFMPEG = os.environ.get("STREAMOPS_FFMPEG", "ffmpeg")
FFPROBE = os.environ.get("STREAMOPS_FFPROBE", "ffprobe")

# The only protocols FFmpeg may open for a URL of each scheme: file:, concat:, subfile:, data:,
# pipe: and friends can never be reached from user input, even through an HLS playlist.
PROTOCOLS_BY_SCHEME = {
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmps,rtmp,tls,tcp",
    "srt": "srt,udp",
    "http": "http,tcp,hls,httpproxy",
    "https": "https,http,tls,tcp,hls,crypto,httpproxy",
    # RTSP with RTP over UDP: the rtsp demuxer opens rtp:// (udp) sockets beside its tcp connection.
    # Over TCP (interleaved) it needs tcp alone (media/ingest/rtsp_pull.py narrows it); RTSPS is always
    # interleaved in its TLS connection. The demuxer opens no `rtsp` protocol (there is none).
    "rtsp": "rtp,udp,tcp",
    "rtsps": "tls,tcp",
}
RW_TIMEOUT_US = 5_000_000  # a frozen source or target makes ffmpeg fail after 5 s instead of hanging

# What FFmpeg's gnutls `tls` protocol says when it refuses the peer's certificate (libavformat/tls_gnutls.c, 7.1).
UNTRUSTED_CERTIFICATE_LINES = (
    "Peer certificate failed verification",
    "Unable to verify peer certificate",
    "The certificate's owner does not match hostname",
)


def untrusted_certificate_reason(lines: Iterable[str]) -> str | None:
    """Why FFmpeg refused the peer's certificate (from its output lines), None when it did not."""
    line = next((x for x in lines if any(m in x for m in UNTRUSTED_CERTIFICATE_LINES)), None)
    if line is None:
        return None
    return "it does not name the host" if "does not match hostname" in line else "no trusted CA signed it"


def tls_verify_options(ca_file: str | None = None, insecure_skip_verify: bool = False) -> dict[str, str]:
    """FFmpeg's `tls` protocol options that make it verify the peer (it verifies nothing unless told:
    `tls_verify` 0 by default). Verified (FFmpeg 7.1 tls_gnutls.c, after the handshake and before any
    byte of the protocol above): the certificate chains to `ca_file`, or to the system's trust store
    without one (`gnutls_certificate_set_x509_system_trust`: the worker image's ca-certificates), and
    names the URL's host (`gnutls_x509_crt_check_hostname`; an IP address against the IP SANs)."""
    if insecure_skip_verify:
        return {}
    return {"tls_verify": "1", **({"ca_file": ca_file} if ca_file else {})}


class UnsafeUri(ValueError):
    """A URI FFmpeg must not open."""


def protocol_whitelist(url: str, schemes: Iterable[str]) -> str:
    """Check `url` (scheme allow-list, SRT caller only, no credentials) and return the
    `-protocol_whitelist` for it."""
    allowed = tuple(schemes)
    try:
        check_uri(url, allowed, "URL")
    except ValueError as e:
        raise UnsafeUri(str(e)) from None
    return PROTOCOLS_BY_SCHEME[url.split("://", 1)[0]]


# Our FFmpeg's `-args_file PATH` (hack/ffmpeg/patches/args-file.patch): the NUL-separated arguments
# read from PATH stand in its place, so secrets in them are not on the command line.
ARGS_FILE_OPTION = "-args_file"


def args_file_text(args: Sequence[str]) -> bytes:
    """What `-args_file` reads: each argument NUL-terminated (an argument cannot hold a NUL)."""
    if any("\0" in a for a in args):
        raise ValueError("an FFmpeg argument cannot contain a NUL character")
    return b"".join(a.encode() + b"\0" for a in args)


PROGRESS_PIPE = "pipe:PROGRESS"  # replaced by FfmpegProcess with the fd of its progress pipe


STATS_PERIOD_SECONDS = 0.5  # how often -progress reports, unless a caller asks for another period


def command(
    graph: Any,
    global_args: Sequence[str] = (),
    progress: bool = True,
    loglevel: str = "info",
    stats_period: float = STATS_PERIOD_SECONDS,
) -> list[str]:
    """The argv of an ffmpeg-python graph, with global options in front (ffmpeg-python would put
    them last, where FFmpeg 5.1 may ignore them). `stats_period`: seconds between -progress blocks
    (each one wakes the supervisor that reads them)."""
    argv: list[str] = ffmpeg_python.compile(graph, cmd=FFMPEG)
    # -nostats: the numbers come from -progress; the stats line (ended by \r, every -stats_period)
    # only woke the stderr reader.
    head = [argv[0], "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel, "-y"]
    if progress:
        head += ["-progress", PROGRESS_PIPE, "-stats_period", f"{stats_period:g}"]
    return head + list(global_args) + argv[1:]


_N = TypeVar("_N", int, float)


@dataclass
class Progress:
    """One `-progress` block (cumulative values, as FFmpeg reports them)."""

    frame: int = 0
    out_time_us: int = 0
    total_size: int = 0
    speed: float | None = None
    end: bool = False

    @classmethod
    def parse(cls, fields: dict[str, str]) -> Progress:
        def num(key: str, kind: Callable[[str], _N]) -> _N | None:
            value = fields.get(key, "").strip().rstrip("x")
            try:
                return kind(value)
            except ValueError:
                return None

        return cls(
            frame=num("frame", int) or 0,
            out_time_us=num("out_time_us", int) or num("out_time_ms", int) or 0,
            total_size=num("total_size", int) or 0,
            speed=num("speed", float),
            end=fields.get("progress") == "end",
        )


_STREAM_RE = re.compile(r"Stream #\d+:\d+(?:\[\w+\])?(?:\(\w+\))?: (Video|Audio): (\w+)")
_SIZE_RE = re.compile(r", (\d{2,5})x(\d{2,5})[ ,\[]")
# After the codec: "(High 10)" (the profile, absent for some codecs), then "([27][0][0][0] / 0x001B)"
# or "(HEVC / 0x43564548)" (the codec tag, absent from FLV), then ", yuv420p10le(progressive)".
_VIDEO_DETAIL_RE = re.compile(r"Video: \w+(?: \((?P<profile>[^()]*)\))?(?: \([^()]*\))?, (?P<pix>[a-z][a-z0-9_]*)\b")
# FFmpeg's pixel format names end in the bits per sample when they are not 8: yuv420p10le, p010le,
# gray12be; 8-bit ones have no byte order (yuv420p, yuvj422p, nv12). Packed RGB names count the bits
# of a whole pixel (rgb48le), so they say nothing here.
_DEPTH_RE = re.compile(r"(?:^p0?|p|gray)(\d{1,2})(?:le|be)$")


def bit_depth(pixel_format: str) -> int | None:
    """Bits per sample of an FFmpeg pixel format name, None when the name does not say."""
    if m := _DEPTH_RE.search(pixel_format):
        return int(m[1])
    if pixel_format.startswith(("yuv", "nv", "gray")) and not pixel_format.endswith(("le", "be")):
        return 8
    return None


@dataclass
class SourceFacts:
    """What the source is: codecs and picture size, read from the stream lines of FFmpeg's
    "Input #0" dump on stderr (`read` every line; the first video and audio stream count)."""

    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    video_profile: str | None = None  # "High", "High 10", "High 4:2:2", "Main"
    pixel_format: str | None = None  # "yuv420p", "yuv420p10le", "yuv422p"
    bit_depth: int | None = None

    def read(self, line: str) -> None:
        m = _STREAM_RE.search(line)
        if not m:
            return
        kind, codec = m.groups()
        if kind == "Video" and self.video_codec is None:
            self.video_codec = codec
            if size := _SIZE_RE.search(line):
                self.width, self.height = int(size[1]), int(size[2])
            if detail := _VIDEO_DETAIL_RE.search(line):
                profile = detail["profile"]
                self.video_profile = profile if profile and " / 0x" not in profile else None
                if detail["pix"] != "none":
                    self.pixel_format = detail["pix"]
                    self.bit_depth = bit_depth(detail["pix"])
        elif kind == "Audio" and self.audio_codec is None:
            self.audio_codec = codec


STDERR_READ_BYTES = 65536
MAX_STDERR_LINE = 8192  # FFmpeg's longest lines (an input dump's metadata) are far shorter


def stderr_lines(rest: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    r"""FFmpeg's stderr split into lines at \n or \r (its stats line ends with \r only), and the
    unfinished rest; a rest over MAX_STDERR_LINE is passed on as a line. asyncio's line reader
    (64 KiB limit) died on \r-only output and left FFmpeg blocked on its full stderr pipe
    (measured: hung once ≈128 KiB of stats were unread, ≈8 min at -stats_period 0.5)."""
    parts = re.split(rb"[\r\n]", rest + chunk)
    rest = parts.pop()
    if len(rest) > MAX_STDERR_LINE:
        parts.append(rest)
        rest = b""
    return [p for p in parts if p], rest


# A paced stderr pipe (PacedStderr) holds what FFmpeg logs between two progress blocks: 1 MiB is
# thousands of lines, where a session logs a few a second; pages are allocated as they fill.
PACED_STDERR_PIPE_BYTES = 1 << 20
# No block for this long after the last: its stderr is read as it comes again until the next block. An
# FFmpeg whose progress and logging share a thread (5.1; 7.1's main thread logs rarely) would wait
# for good on a full pipe that only the next block would drain (tests/media/test_ffmpeg_process.py).
PACED_STDERR_LATE_SECONDS = 2.0


class PacedStderr:
    """FFmpeg's stderr read as it comes (its start: the input dump, early errors) until `pace()`,
    then only when `pace()` is called again (at each -progress block: a wake that comes anyway), or
    as it comes again once a block is late (PACED_STDERR_LATE_SECONDS) or `watch()` is called (its
    progress ended: to EOF). `done` resolves at EOF."""

    def __init__(self, fd: int, on_line: Callable[[bytes], None]) -> None:
        self.fd, self.on_line = fd, on_line
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.rest = b""
        self.watching = False
        self.late: asyncio.TimerHandle | None = None  # watch() again if no pace() comes in time
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError):  # over the limit: the default 64 KiB, read each second
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PACED_STDERR_PIPE_BYTES)
        self.watch()

    def watch(self) -> None:
        if not self.watching and not self.done.done():
            self.loop.add_reader(self.fd, self.read)
            self.watching = True

    def pace(self) -> None:
        """Read what is there, and no more as it comes until PACED_STDERR_LATE_SECONDS pass without
        the next pace() (a timer re-armed here: no wake of its own while blocks come)."""
        if self.watching:
            self.loop.remove_reader(self.fd)
            self.watching = False
        if self.late is not None:
            self.late.cancel()
        self.late = self.loop.call_later(PACED_STDERR_LATE_SECONDS, self.watch)
        self.read()

    def read(self) -> None:
        while not self.done.done():
            try:
                chunk = os.read(self.fd, STDERR_READ_BYTES)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            lines, self.rest = stderr_lines(self.rest, chunk)
            for line in lines:
                self.on_line(line)

    def close(self) -> None:
        """At EOF, or when its reader gives up: the unfinished line passed on, the fd closed."""
        if self.done.done():
            return
        if self.late is not None:
            self.late.cancel()
        if self.watching:
            self.loop.remove_reader(self.fd)
            self.watching = False
        if self.rest:
            self.on_line(self.rest)
            self.rest = b""
        os.close(self.fd)
        self.done.set_result(None)


CREDENTIAL_ENV = frozenset({ACCESS_KEY_ENV, SECRET_KEY_ENV})
# FFmpeg's http reads these: `no_proxy` would take a host around the egress guard's proxy (an
# ingest's http pulls go through it: docs/design/egress.md), `http_proxy` send it elsewhere.
PROXY_ENV = frozenset({"http_proxy", "https_proxy", "no_proxy", "all_proxy"})


def child_environment() -> dict[str, str]:
    """The worker's environment without the credentials it holds (the recorder's S3 keys arrive as
    env from a Secret): no FFmpeg or ffprobe child needs them, and a process's /proc/PID/environ is
    readable by its user and by root on the node. Nor the proxy variables (PROXY_ENV)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in CREDENTIAL_ENV and name.lower() not in PROXY_ENV
    }


async def probe_file(path: Path, *args: str) -> str:
    """What ffprobe prints on stdout about a local file (only file: may be opened); its errors are
    not kept: a caller reads an empty or partial answer as "not readable media"."""
    proc = await asyncio.create_subprocess_exec(
        FFPROBE, "-v", "error", "-protocol_whitelist", "file", *args, str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=child_environment(),
    )  # fmt: skip
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


@dataclass
class FfmpegProcess:
    """One FFmpeg run under asyncio: stderr redacted into the log (last lines kept for errors),
    progress blocks delivered to a callback, stop = SIGTERM (FFmpeg finalises its outputs) then
    SIGKILL."""

    name: str
    argv: list[str]
    redact: Redactor
    log: logging.Logger
    on_progress: Callable[[Progress], None] | None = None
    on_stderr: Callable[[str], None] | None = None
    stdout: int | None = asyncio.subprocess.DEVNULL
    stdin: int | None = asyncio.subprocess.DEVNULL  # PIPE for a child driven over its stdin (rtmp_front.py)
    pass_fds: tuple[int, ...] = ()  # write ends of extra output pipes: handed to FFmpeg, closed here
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    process: asyncio.subprocess.Process | None = None
    stopping: bool = False  # stop() was called: what it runs for is being taken down
    # Called right after SIGTERM: what lets a process blocked in a system call see it (session.py).
    on_stop: Callable[[], None] | None = None
    # Its stderr read at each -progress block once the first came, not line by line (PacedStderr):
    # a session's HLS muxers log each file they open (4 lines a segment), each line a wake.
    stderr_paced: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _paced: PacedStderr | None = None

    async def start(self) -> FfmpegProcess:
        read_fd, write_fd = os.pipe() if PROGRESS_PIPE in self.argv else (None, None)
        argv = [f"pipe:{write_fd}" if a == PROGRESS_PIPE else a for a in self.argv]
        self.log.debug("starting %s: %s", self.name, self.redact(" ".join(argv)))
        err_read, err_write = os.pipe() if self.stderr_paced else (None, None)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=self.stdin,
                stdout=self.stdout,
                stderr=err_write if err_write is not None else asyncio.subprocess.PIPE,
                pass_fds=((write_fd,) if write_fd is not None else ()) + self.pass_fds,
                start_new_session=True,  # our signals only, never the worker's terminal's
                env=child_environment(),
            )
        except BaseException:
            for fd in (read_fd, err_read):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            for fd in ((write_fd,) if write_fd is not None else ()) + self.pass_fds:
                os.close(fd)
            if err_write is not None:
                os.close(err_write)
        if err_read is not None:
            self._paced = PacedStderr(err_read, self._stderr_line)
            self._tasks.append(asyncio.create_task(self._paced_stderr_ended(self._paced)))
        else:
            self._tasks.append(asyncio.create_task(self._read_stderr()))
        if read_fd is not None:
            self._tasks.append(asyncio.create_task(self._read_progress(read_fd)))
        return self

    async def _read_stderr(self) -> None:
        assert self.process and self.process.stderr
        rest = b""
        while chunk := await self.process.stderr.read(STDERR_READ_BYTES):
            lines, rest = stderr_lines(rest, chunk)
            for raw in lines:
                self._stderr_line(raw)
        self._stderr_line(rest)

    @staticmethod
    async def _paced_stderr_ended(paced: PacedStderr) -> None:
        try:
            await asyncio.shield(paced.done)
        finally:
            paced.close()

    def _stderr_line(self, raw: bytes) -> None:
        line = self.redact(raw.decode(errors="replace").rstrip())
        if not line:
            return
        self.tail.append(line)
        if self.on_stderr:
            self.on_stderr(line)
        self.log.debug("%s: %s", self.name, line)

    async def _read_progress(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        fields: dict[str, str] = {}
        try:
            async for raw in reader:
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                fields[key] = value
                if key == "progress":
                    if self.on_progress is not None:
                        self.on_progress(Progress.parse(fields))
                    if self._paced is not None:
                        self._paced.pace()
                    fields = {}
        finally:
            transport.close()
            if self._paced is not None:  # no more blocks (it exits): the rest as it comes, to EOF
                self._paced.watch()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def last_error(self) -> str:
        """The most telling recent line (already redacted)."""
        for line in reversed(self.tail):
            if any(w in line.lower() for w in ("error", "failed", "refused", "timed out", "invalid", "not on")):
                return line
        return self.tail[-1] if self.tail else ""

    async def wait(self) -> int:
        assert self.process is not None
        rc = await self.process.wait()
        for task in self._tasks:  # drain what it printed before it went
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=2)
        return rc

    async def stop(self, grace: float = 5.0) -> int | None:
        self.stopping = True
        if self.process is None:
            return None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            if self.on_stop is not None:
                self.on_stop()
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
        return await self.wait()
