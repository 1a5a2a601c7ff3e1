"""The ingest worker: takes one publisher (RTMP via the key-checking gate, or SRT with the key
as passphrase) or pulls from origins round-robin; writes HLS (fMP4 and MPEG-TS) with the DVR
window, a screenshot every N s, and offers the live feed to recorders and pushers.

    streamops worker ingest        (config: env STREAMOPS_INGEST_CONFIG or --config FILE, JSON)

Each publish session is one FFmpeg process (`-c copy` to every output); idle listeners for both
protocols wait, and the first one that gets a publisher makes the other stand down, so there is
one live publisher at a time. Sessions write HLS into a directory of their own; HTTP serves the
current one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import ffmpeg as ffmpeg_python
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from streamops.api.common import PULL_SOURCE_SCHEMES
from streamops.api.livestream import DVR, HLS, Failback, PushProtocol, Rendition
from streamops.contract.ingest import (
    BACKUP_UPLINK_PATH,
    CLOCK_PATH,
    CONFIG_ENV,
    DASH_MANIFEST,
    FEED_PATH,
    HLS_CMAF_PLAYLIST,
    HLS_MPEGTS_PLAYLIST,
    SCREENSHOT_PATH,
    TRANSCODED_FEED_PATH,
    IngestConfig,
    IngestStatus,
)
from streamops.contract.stream_key import srt_passphrase_problem
from streamops.media.backup_link import BackupOffer
from streamops.media.feed import FeedHub
from streamops.media.ffmpeg import FFMPEG, RW_TIMEOUT_US, FfmpegProcess, Progress, SourceFacts, command
from streamops.media.ffmpeg import protocol_whitelist as whitelist_for
from streamops.media.fmp4 import hvc1_init_segment
from streamops.media.llhls.packager import LlHlsPackager, PackagerSettings, PlaylistRequestError
from streamops.media.llhls.playlist import INIT_URI, part_number, segment_number
from streamops.media.on_air import RELAY_FEED_PATH, OnAir
from streamops.media.pipe_batches import PipeReader
from streamops.media.player.page import PlayerOptions, add_player_routes
from streamops.media.rtmp_gate import RtmpGate
from streamops.media.tls_reload import CertificateReloader
from streamops.media.worker_http import serve, worker_app
from streamops.media.worker_process import utc_now, worker_main
from streamops.redaction import Redactor

log = logging.getLogger("streamops.ingest")

NON_DVR_PLAYLIST_SEGMENTS = 6
STANDBY_LISTEN_SECONDS = 10  # a standby RTMP listener nobody connects to exits after this


# --- pure builders -------------------------------------------------------------------------------


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
        "hls_delete_threshold": 2,
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
    end (a pipe cannot seek), each fragment flushed as soon as it is complete."""
    return {
        "f": "mp4",
        "movflags": "empty_moov+default_base_moof+frag_keyframe+skip_trailer",
        "frag_duration": round(hls.part_seconds * 1_000_000),
        "flush_packets": 1,
    }


def dash_options(config: IngestConfig) -> dict[str, Any]:
    """FFmpeg's dash muxer: a live MPD with templated CMAF segments of the HLS segment length over
    the DVR window (same window as the playlists)."""
    return {
        "f": "dash",
        "seg_duration": config.hls.segment_seconds,
        "window_size": playlist_segments(config.dvr, config.hls),
        "extra_window_size": 2,
        "use_template": 1,
        "use_timeline": 1,
        "remove_at_exit": 0,
        "init_seg_name": "init-$RepresentationID$.m4s",
        "media_seg_name": "chunk-$RepresentationID$-$Number%06d$.m4s",
        "format_options": "movflags=cmaf",
    }


def packager_settings(config: IngestConfig) -> PackagerSettings:
    return PackagerSettings(
        segment_seconds=config.hls.segment_seconds,
        part_seconds=config.hls.part_seconds,
        window_segments=playlist_segments(config.dvr, config.hls),
        end_list_on_stop=config.hls.end_list_on_stop,
    )


def renditions(config: IngestConfig) -> list[Rendition]:
    """Highest first: the first one is also the transcoded feed."""
    return sorted(config.transcoding.renditions if config.transcoding else [], key=lambda r: -r.height)


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


def _tee_target(options: dict[str, Any], path: str) -> str:
    return "[" + ":".join(f"{k}={v}" for k, v in options.items()) + "]" + path


def session_command(
    config: IngestConfig,
    url: str,
    input_options: dict[str, Any],
    session_dir: Path,
    transcoded_fd: int | None = None,
    ll_fds: dict[str, int] | None = None,
) -> list[str]:
    """One session: the input copied to the feed (MPEG-TS on stdout) and, without renditions, to
    HLS (and DASH); with renditions each is encoded once and teed to its HLS variants (and the
    first one to the transcoded feed). `ll_fds`: the LL-HLS packagers' pipes, by rendition."""
    ll_fds = ll_fds or {}
    stream = ffmpeg_python.input(url, **input_options)
    # pes_payload_size 0: one PES per audio frame. The default packs ≈2.9 kB of AAC (≈180 ms) per PES,
    # and every consumer that interleaves (the pusher's FLV) then holds video back by as much.
    outputs = [ffmpeg_python.output(stream, "pipe:1", c="copy", f="mpegts", pes_payload_size=0)]
    ladder = renditions(config)
    raw_aac = {"bsf:a": "aac_adtstoasc"}  # SRT/TS carries ADTS AAC; fMP4 wants raw AAC
    if not ladder:
        for variant, segment_type in muxed_hls_variants(config):
            directory = session_dir / variant
            options = hls_options(config, segment_type, directory)
            if segment_type == "fmp4":
                options.update(raw_aac)
            outputs.append(ffmpeg_python.output(stream, str(directory / "index.m3u8"), c="copy", **options))
        if "" in ll_fds:
            ll = {**fragmented_mp4_options(config.hls), **raw_aac}
            outputs.append(ffmpeg_python.output(stream, f"pipe:{ll_fds['']}", c="copy", **ll))
        if config.dash:
            manifest = str(session_dir / "dash" / "manifest.mpd")
            outputs.append(ffmpeg_python.output(stream, manifest, c="copy", **dash_options(config), **raw_aac))
        return command(ffmpeg_python.merge_outputs(*outputs))
    split = stream.video.filter_multi_output("split", len(ladder))
    segment = config.hls.segment_seconds
    for i, r in enumerate(ladder):
        targets = [
            _tee_target(hls_options(config, t, session_dir / v / r.name), str(session_dir / v / r.name / "index.m3u8"))
            for v, t in muxed_hls_variants(config)
        ]
        if r.name in ll_fds:
            targets.append(_tee_target(fragmented_mp4_options(config.hls), f"pipe:{ll_fds[r.name]}"))
        if i == 0 and transcoded_fd is not None:
            targets.append(_tee_target({"f": "mpegts", "pes_payload_size": 0}, f"pipe:{transcoded_fd}"))
        encode = {
            "vcodec": "libx264",
            "preset": "veryfast",
            "pix_fmt": "yuv420p",
            "b:v": f"{r.video_bitrate_kbps}k",
            "maxrate": f"{r.video_bitrate_kbps}k",
            "bufsize": f"{2 * r.video_bitrate_kbps}k",
            "sc_threshold": 0,
            # Keyframes on segment boundaries, so every rendition's segments line up.
            "force_key_frames": f"expr:gte(t,n_forced*{segment})",
            "acodec": "aac",
            "b:a": f"{r.audio_bitrate_kbps}k",
            "f": "tee",
        }
        scaled = split[i].filter("scale", -2, r.height)
        outputs.append(ffmpeg_python.output(scaled, stream["a?"], "|".join(targets), **encode))
    return command(ffmpeg_python.merge_outputs(*outputs))


def master_playlist(config: IngestConfig, source_width: int | None, source_height: int | None) -> str:
    """The multivariant playlist of a transcoded stream (one per HLS flavour, same text)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions(config):
        attributes = [f"BANDWIDTH={(r.video_bitrate_kbps + r.audio_bitrate_kbps) * 1000}"]
        if source_width and source_height:
            width = round(source_width * r.height / source_height / 2) * 2
            attributes.append(f"RESOLUTION={width}x{r.height}")
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", f"{r.name}/index.m3u8"]
    return "\n".join(lines) + "\n"


# Probing only as long as needed: the live flag must follow the first packet within 2 s. Never
# `-fflags nobuffer`: it drops the packets read while probing, the first keyframe among them, so
# copy outputs wait a whole GOP for the next one (measured: live 2.3 s → 0.4 s after publish).
FAST_PROBE = {"analyzeduration": 100_000, "probesize": 1_000_000}


def rtmp_listen_input(port: int) -> tuple[str, dict[str, Any]]:
    return f"rtmp://127.0.0.1:{port}/live/feed", {"listen": 1, "protocol_whitelist": "rtmp,tcp", **FAST_PROBE}


def listener_protocols(protocols: Iterable[PushProtocol]) -> list[PushProtocol]:
    """The FFmpeg listeners the push protocols need: RTMPS reaches the same loopback RTMP listener
    as RTMP (the gate terminates TLS), so one rtmp listener serves both."""
    wanted = set(protocols)
    return [p for p in ("rtmp", "srt") if p in wanted or (p == "rtmp" and "rtmps" in wanted)]


def srt_listen_input(script: Path) -> tuple[str, dict[str, Any]]:
    """The SRT listener, opened by FFmpeg's concat demuxer from a script (`srt_listen_script`) that
    it reads from a FIFO: the passphrase is then neither on FFmpeg's command line, which any process
    of the Pod reads in /proc/<pid>/cmdline while the listener waits, nor on disk. FFmpeg 5.1 has no
    other way: `-passphrase` is a command line option too, and `-/opt file` only came with 7.0. The
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


def pull_input(url: str) -> tuple[str, dict[str, Any]]:
    return url, {
        "protocol_whitelist": whitelist_for(url, PULL_SOURCE_SCHEMES),
        "rw_timeout": RW_TIMEOUT_US,
        **FAST_PROBE,
    }


def relay_input(url: str) -> tuple[str, dict[str, Any]]:
    """The backup's feed as a primary receives it (on_air.py): served on loopback, from a keyframe on."""
    return url, {"protocol_whitelist": "http,tcp", "rw_timeout": RW_TIMEOUT_US, **FAST_PROBE}


# --- live telemetry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveRates:
    frame_rate: float | None = None
    transcoding_speed: float | None = None
    bitrate: int | None = None


class LiveMeter:
    """Live values from deltas over the last few seconds (FFmpeg only reports cumulative ones)."""

    WINDOW = 3.0
    MIN_SPAN = 1.5  # fewer seconds than this (a session's first progress reports) say nothing reliable

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int, int, int]] = deque()

    def reset(self) -> None:
        self.samples.clear()

    def add(self, now: float, progress: Progress, feed_bytes: int) -> None:
        self.samples.append((now, progress.frame, progress.out_time_us, feed_bytes))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.WINDOW:
            self.samples.popleft()

    def rates(self) -> LiveRates:
        if len(self.samples) < 2:
            return LiveRates()
        (t0, f0, o0, b0), (t1, f1, o1, b1) = self.samples[0], self.samples[-1]
        dt = t1 - t0
        if dt < self.MIN_SPAN:
            return LiveRates()
        return LiveRates(
            frame_rate=round((f1 - f0) / dt, 2),
            transcoding_speed=round((o1 - o0) / 1e6 / dt, 3),
            bitrate=round((b1 - b0) * 8 / dt),
        )


# --- the worker ----------------------------------------------------------------------------------


def free_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SessionEvents:
    """What a session reports, to whoever runs it. All but `on_started` come only once media
    flows (a listener that never gets a publisher reports nothing)."""

    # The first media byte. True: this is now the live session; False: refused (another one is
    # live), the session stops without publishing anything.
    on_started: Callable[[Session], bool]
    on_media: Callable[[bytes], None]  # the feed (MPEG-TS from FFmpeg's stdout)
    on_transcoded: Callable[[bytes], None]  # the transcoded feed (the top rendition)
    on_progress: Callable[[Progress], None]  # one -progress block
    on_ended: Callable[[Session, int | None], None]  # FFmpeg of a started session exited (its code)


class Session:
    """One FFmpeg process that is, or may become, a publish/pull session: writes HLS into a
    directory of its own under `sessions_dir` and reports through `events`."""

    def __init__(
        self,
        kind: str,
        url: str,
        options: dict[str, Any],
        *,
        config: IngestConfig,
        sessions_dir: Path,
        redact: Redactor,
        events: SessionEvents,
        secret_input: tuple[Path, str] | None = None,
    ) -> None:
        self.kind, self.config, self.events = kind, config, events
        self.dir = sessions_dir / f"{int(time.time() * 1000)}-{kind}"
        self.facts = SourceFacts()
        self.started = False
        self.accepted = False  # started and made the live session (not refused)
        self.key: bytes | None = None
        self.secret_input = secret_input  # (FIFO path, text): FFmpeg's input script (srt_listen_input)
        self.feed_pipe = os.pipe()  # FFmpeg's stdout: the feed
        # With renditions, the first one also leaves FFmpeg on a pipe of its own: the transcoded feed.
        self.transcoded_pipe = os.pipe() if renditions(config) else None
        write_fd = self.transcoded_pipe[1] if self.transcoded_pipe else None
        # LL-HLS: each rendition's fragmented MP4 on a pipe to its packager.
        self.ll_pipes = {name: os.pipe() for name in ll_renditions(config)}
        settings = packager_settings(config)
        self.packagers = {name: LlHlsPackager(self.dir / LL_VARIANT / name, settings) for name in ll_renditions(config)}
        ll_write = {name: fds[1] for name, fds in self.ll_pipes.items()}
        self.process = FfmpegProcess(
            name=f"ingest-{kind}",
            argv=session_command(config, url, options, self.dir, write_fd, ll_write),
            redact=redact,
            log=log,
            on_progress=self._progress,
            on_stderr=self._stderr,
            stdout=self.feed_pipe[1],
            pass_fds=((write_fd,) if write_fd is not None else ()) + tuple(ll_write.values()),
        )

    def _stderr(self, line: str) -> None:
        self.facts.read(line)

    def _progress(self, progress: Progress) -> None:
        if self.started:
            self.events.on_progress(progress)

    async def _read_pipe(self, fd: int, consume: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while chunk := await reader.read(1 << 18):
                consume(chunk)
        finally:
            transport.close()

    async def _read_transcoded(self, fd: int) -> None:
        def transcoded(chunk: bytes) -> None:
            if self.accepted:
                self.events.on_transcoded(chunk)

        reader = PipeReader(fd, transcoded)  # in 20 ms batches, as the feed
        try:
            await reader.ended
        finally:
            reader.stop()
            os.close(fd)

    async def _package(self, name: str) -> None:
        packager = self.packagers[name]
        try:
            await self._read_pipe(self.ll_pipes[name][0], packager.feed)
        except ValueError as e:  # FFmpeg's output is ours: a parse error is a bug, said once, not a crash loop
            log.error("LL-HLS packaging of %r stopped: %s", name or "the stream", e)
        finally:
            packager.finish()

    async def _write_secret_input(self, path: Path, text: str) -> None:
        """Hand FFmpeg its input script through the FIFO once it opens it, then remove the FIFO."""
        try:
            while self.process.running:
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:  # ENXIO: FFmpeg has not opened it for reading yet
                    await asyncio.sleep(0.02)
                    continue
                try:
                    os.write(fd, text.encode())  # a few hundred bytes: one write, into an empty pipe
                finally:
                    os.close(fd)
                return
        finally:
            path.unlink(missing_ok=True)

    async def run(self) -> bool:
        """Run to the end; True when media flowed (it was a session, not just a listener)."""
        for directory in session_dirs(self.config, self.dir):
            directory.mkdir(parents=True, exist_ok=True)
        if self.secret_input is not None:
            self.secret_input[0].unlink(missing_ok=True)
            os.mkfifo(self.secret_input[0], 0o600)
        try:
            await self.process.start()
        except BaseException:
            os.close(self.feed_pipe[0])
            raise
        finally:
            os.close(self.feed_pipe[1])  # FFmpeg's now (or nobody's): EOF comes when it exits
        transcoded = (
            asyncio.create_task(self._read_transcoded(self.transcoded_pipe[0])) if self.transcoded_pipe else None
        )
        packaging = [asyncio.create_task(self._package(name)) for name in self.packagers]
        secret = asyncio.create_task(self._write_secret_input(*self.secret_input)) if self.secret_input else None

        def media(chunk: bytes) -> None:
            if not self.started:
                self.started = True
                self.accepted = self.events.on_started(self)
                if not self.accepted:
                    feed.stop()  # refused: stop, publish nothing
                    return
            self.events.on_media(chunk)

        # Callbacks, not a task: one event-loop round per 20 ms batch, the feed readers' writes included.
        feed = PipeReader(self.feed_pipe[0], media)
        try:
            await feed.ended
        finally:
            feed.stop()
            rc = await self.process.stop()
            os.close(self.feed_pipe[0])  # after: FFmpeg's stdout stays open until it is stopped
            if secret is not None:
                secret.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await secret
            for reader in [t for t in (transcoded, *packaging) if t is not None]:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(reader, timeout=2)
            if self.started:
                self.events.on_ended(self, rc)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        return self.started


class IngestWorker:
    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.media_dir = Path(config.media_dir)
        self.sessions_dir = self.media_dir / "sessions"
        self.screenshot = self.media_dir / "screenshot.jpg"
        self.redact = Redactor()
        self.feed = FeedHub()  # the own session's feed
        self.transcoded_feed = FeedHub()
        # What /feed and /feed/transcoded serve: the hubs above, or a relay's of the backup's feed
        # (on_air.py decides, go_on_air switches).
        self.served_feed, self.served_transcoded_feed = self.feed, self.transcoded_feed
        self.on_air = OnAir(self, relays=config.role == "primary" and config.source.push is not None, log=log)
        self.meter = LiveMeter()
        self.current: Session | None = None
        self.served_dir: Path | None = None  # HLS of the current (or last) session
        self.served_packagers: dict[str, LlHlsPackager] = {}  # its LL-HLS playlists, by rendition
        self.facts = SourceFacts()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.last_media = 0.0
        self.active = True
        self.deactivated_reason: str | None = None
        self.pull_index = 0
        self.listeners: list[Session] = []
        self.stopping = asyncio.Event()
        self.internal_rtmp_port = free_loopback_port()
        self.gate: RtmpGate | None = None
        self.private_dir = self.media_dir / ".private"  # the SRT listener's FIFO (never served: a dot name)
        self.standby: Session | None = None  # an RTMP listener for the successor of a silent session
        self.standby_port = 0
        self._standby_tasks: set[asyncio.Task[None]] = set()
        self.listening = False  # the listeners (push) or the pull loop are up: see `accepting`
        self.session_events = SessionEvents(
            on_started=self.session_started,
            on_media=self.session_media,
            on_transcoded=self.transcoded_feed.publish,
            on_progress=self.session_progress,
            on_ended=self.session_ended,
        )
        self._metrics()

    # --- telemetry -------------------------------------------------------------------------------
    def _metrics(self) -> None:
        self.registry = CollectorRegistry()
        labels = {"stream": self.config.stream, "role": self.config.role}
        names = list(labels)
        self.m_live = Gauge("streamops_ingest_live", "1 while media flows", names, registry=self.registry)
        self.m_fps = Gauge("streamops_ingest_frame_rate", "frames per second (live)", names, registry=self.registry)
        self.m_bitrate = Gauge("streamops_ingest_bitrate_bps", "feed bitrate (live)", names, registry=self.registry)
        self.m_consumers = Gauge("streamops_ingest_feed_consumers", "feed readers", names, registry=self.registry)
        self.m_cache = Gauge(
            "streamops_ingest_feed_cache_bytes", "what a joining feed reader gets first", names, registry=self.registry
        )
        self.m_sessions = Counter("streamops_ingest_sessions", "publish/pull sessions", names, registry=self.registry)
        self.m_refused = Gauge(
            "streamops_ingest_refused_publishers", "publishers refused", names, registry=self.registry
        )
        self._labels = labels

    @property
    def live(self) -> bool:
        return self.feed.sending  # the feed's own session and its silence rule (feed.SILENCE_SECONDS)

    @property
    def accepting(self) -> bool:
        """Readiness: publishers are accepted (push) or the pull runs. Not `live`: the Service must
        route to an ingest before media flows, or no encoder outside could ever make it live."""
        return self.listening and self.active and not self.stopping.is_set()

    @property
    def on_air_live(self) -> bool:
        """What is served flows: the own session's media, or a relay's of the backup's."""
        return self.on_air.sending(time.monotonic())

    def status(self) -> IngestStatus:
        rates = self.meter.rates() if self.on_air_live else LiveRates()
        facts = self.facts
        status = IngestStatus(
            live=self.live,
            active=self.active,
            deactivated_reason=self.deactivated_reason,
            source=self.current.kind if self.current and self.live else None,
            active_ingest=self.on_air.active_ingest(self.config.role, time.monotonic()),
            backup_wanted=self.on_air.wanted,
            started_at=self.started_at,
            finished_at=self.finished_at,
            video_width=facts.width,
            video_height=facts.height,
            video_codec=facts.video_codec,
            video_profile=facts.video_profile,
            pixel_format=facts.pixel_format,
            bit_depth=facts.bit_depth,
            audio_codec=facts.audio_codec,
            frame_rate=rates.frame_rate,
            transcoding_speed=rates.transcoding_speed,
            bitrate=rates.bitrate,
            feed_consumers=self.served_feed.consumers,
            refused_publishers=self.gate.refused if self.gate else 0,
            tls_certificate_sha256=self.gate.tls.fingerprint if self.gate and self.gate.tls else None,
            tls_error=self.gate.tls.error if self.gate and self.gate.tls else None,
        )
        labels = self._labels
        self.m_live.labels(**labels).set(1 if self.live else 0)
        self.m_fps.labels(**labels).set(rates.frame_rate or 0)
        self.m_bitrate.labels(**labels).set(rates.bitrate or 0)
        self.m_consumers.labels(**labels).set(self.served_feed.consumers)
        self.m_cache.labels(**labels).set(self.served_feed.cache_bytes)
        self.m_refused.labels(**labels).set(status.refused_publishers)
        return status

    # --- sessions --------------------------------------------------------------------------------
    def session_started(self, session: Session) -> bool:
        previous = self.current
        if previous is not None and previous is not session and self.live:
            # It came back while the newcomer connected: a sending publisher is never displaced.
            log.info("%s publisher refused: the %s session is live again", session.kind, previous.kind)
            return False
        if previous is not None and previous is not session:
            log.info("%s publisher displaces the silent %s session", session.kind, previous.kind)
            asyncio.get_running_loop().create_task(previous.process.stop(grace=1))
        self.current = session
        self.feed.start_session()
        if renditions(self.config):
            self.transcoded_feed.start_session()
        self.started_at, self.finished_at = utc_now(), None
        self.m_sessions.labels(**self._labels).inc()
        log.info("%s session started", session.kind)
        for other in self.listeners:  # one publisher at a time: the other protocol stands down
            if other is not session:
                asyncio.get_running_loop().create_task(other.process.stop(grace=1))
        self.on_air.own_started(time.monotonic())  # on air at once, unless the backup's media holds the air
        return True

    def go_on_air(self, session: Session, feed: FeedHub, transcoded: FeedHub) -> None:
        """`session`'s media becomes what the feed, HLS and the screenshot serve (on_air.py decides)."""
        for old, new in ((self.served_feed, feed), (self.served_transcoded_feed, transcoded)):
            if old is not new and old.live:
                # Its consumers come back for the new source (EOF, as on a publisher's reconnect);
                # it goes on caching, for a switch back.
                old.end_session()
                old.start_session()
        self.served_feed, self.served_transcoded_feed = feed, transcoded
        if renditions(self.config):
            master = master_playlist(self.config, session.facts.width, session.facts.height)
            for variant, _ in hls_variants(self.config):
                (session.dir / variant / "index.m3u8").write_text(master)
        self.meter.reset()
        self.facts = session.facts
        self.served_dir = session.dir
        self.served_packagers = session.packagers
        running = (session, self.current, self.standby, self.on_air.relay, *self.listeners)
        in_use = {s.dir for s in running if s is not None}
        for directory in self.sessions_dir.iterdir():
            if directory not in in_use:
                shutil.rmtree(directory, ignore_errors=True)

    def relay_session(self) -> Session:
        """A session reading the backup's feed as this primary receives it (on_air.py runs it)."""
        url, options = relay_input(f"http://{self.loopback_host}:{self.http_port}{RELAY_FEED_PATH}")
        on_air = self.on_air
        events = SessionEvents(
            on_started=on_air.relay_started,
            on_media=on_air.relay_media,
            on_transcoded=on_air.relay_transcoded,
            on_progress=on_air.relay_progress,
            on_ended=on_air.relay_ended,
        )
        return Session(
            "backup",
            url,
            options,
            config=self.config,
            sessions_dir=self.sessions_dir,
            redact=self.redact,
            events=events,
        )

    @property
    def loopback_host(self) -> str:
        """Where this worker reaches its own HTTP face."""
        bind = self.config.bind_address
        return "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind

    def session_media(self, chunk: bytes) -> None:
        self.feed.publish(chunk)
        self.last_media = time.monotonic()
        self.on_air.own_media(self.last_media)

    def session_progress(self, progress: Progress) -> None:
        if self.on_air.serves(self.current):
            self.meter.add(time.monotonic(), progress, self.feed.bytes_in)

    def session_ended(self, session: Session, rc: int | None) -> None:
        if self.current is not session:  # refused, or displaced: the live session is another one
            log.info("%s publisher gone (ffmpeg exit %s)", session.kind, rc)
            return
        self.current = None
        self.feed.end_session()
        self.transcoded_feed.end_session()
        self.finished_at = utc_now()
        log.info("%s session ended (ffmpeg exit %s)", session.kind, rc)
        self.on_air.own_ended(time.monotonic())

    def new_session(
        self, kind: str, url: str, options: dict[str, Any], secret_input: tuple[Path, str] | None = None
    ) -> Session:
        return Session(
            kind,
            url,
            options,
            config=self.config,
            sessions_dir=self.sessions_dir,
            redact=self.redact,
            events=self.session_events,
            secret_input=secret_input,
        )

    def rtmp_upstream(self) -> int | None:
        """Where the RTMP gate relays a new publisher (the loopback port of an FFmpeg listener), or
        None to refuse it: only a live, sending session holds the stream. While the session is
        silent a standby listener takes the newcomer at once; its media, once it flows, displaces
        the silent session (`session_started`), and a wrong key leaves the silent one untouched."""
        if not self.active:
            return None
        if self.current is None:
            return self.internal_rtmp_port
        if self.live:
            return None
        if self.standby is None:
            port = free_loopback_port()
            url, options = rtmp_listen_input(port)
            # FFmpeg's RTMP listen timeout (s): a standby that nobody reaches does not wait forever.
            self.standby = self.new_session("rtmp", url, {**options, "timeout": STANDBY_LISTEN_SECONDS})
            self.standby_port = port
            task = asyncio.get_running_loop().create_task(self._run_standby(self.standby))
            self._standby_tasks.add(task)
            task.add_done_callback(self._standby_tasks.discard)
        return self.standby_port

    async def _run_standby(self, session: Session) -> None:
        try:
            await session.run()
        except Exception as e:  # a listener's failure is logged; the gate refuses the next publisher
            log.error("standby rtmp listener failed: %s", self.redact(str(e)))
        finally:
            if self.standby is session:
                self.standby = None

    async def silence_watch(self) -> None:
        """End a session that sends nothing for `publisher_timeout` s, whatever its protocol: the RTMP
        gate and SRT's read timeout cut a silent publisher's connection; this also catches one that
        sends bytes but no media."""
        timeout = self.config.publisher_timeout
        while not self.stopping.is_set():
            session = self.current
            if session is not None and time.monotonic() - self.last_media >= timeout:
                log.warning("%s session sent nothing for %g s: ending it", session.kind, timeout)
                await session.process.stop(grace=1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=0.5)

    def read_key(self) -> bytes | None:
        if not self.config.stream_key_file:
            return None
        try:
            key = Path(self.config.stream_key_file).read_bytes().strip()
        except OSError:
            return None
        if key:
            self.redact.add(key.decode(errors="replace"))
        return key or None

    def _listener(self, protocol: PushProtocol, key: bytes | None) -> Session | None:
        if protocol == "rtmp":
            url, options = rtmp_listen_input(self.internal_rtmp_port)
        elif key and srt_passphrase_problem(key) is None and key.decode(errors="replace").isprintable():
            push = self.config.source.push
            latency = push.srt.latency_ms if push and push.srt else None
            script = srt_listen_script(
                self.config.bind_address, self.config.ports.srt, key.decode(), latency, self.config.publisher_timeout
            )
            fifo = self.private_dir / f"srt-{time.monotonic_ns()}.ffconcat"
            url, options = srt_listen_input(fifo)
            session = self.new_session(protocol, url, options, secret_input=(fifo, script))
            session.key = key
            return session
        else:
            # No key, no SRT: the passphrase is the key. Nor one SRT refuses (not 10..79 bytes): FFmpeg would
            # exit at once and be started again every few ms; the LiveStream's status says why (operator).
            return None
        session = self.new_session(protocol, url, options)
        session.key = key
        return session

    async def push_loop(self) -> None:
        """Keep an idle listener per protocol while no one publishes; a listener that ends without
        a session (refused publisher, bad handshake) is replaced, one that ran a session too."""
        push = self.config.source.push
        assert push is not None
        running: dict[PushProtocol, tuple[Session, asyncio.Task[bool]]] = {}
        stop = asyncio.create_task(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                key = self.read_key()
                if self.current is None:
                    for protocol in listener_protocols(push.protocols):
                        if protocol not in running and (session := self._listener(protocol, key)) is not None:
                            running[protocol] = (session, asyncio.create_task(session.run()))
                    srt = running.get("srt")
                    if srt is not None and srt[0].key != key:  # rotated key: SRT needs a new passphrase
                        await srt[0].process.stop(grace=1)
                self.listeners = [session for session, _ in running.values()]
                tasks = [task for _, task in running.values()]
                await asyncio.wait([*tasks, stop], timeout=1, return_when=asyncio.FIRST_COMPLETED)
                for protocol, (_, task) in list(running.items()):
                    if task.done():
                        del running[protocol]
                        if task.exception() is not None:
                            log.error("%s listener failed: %s", protocol, self.redact(str(task.exception())))
                        if task.exception() is not None or not task.result():
                            await asyncio.sleep(0.05)  # a listener that failed at once must not spin
                            if protocol == "rtmp":
                                # Its port may have been taken between our probe and FFmpeg's bind
                                # (any connect() can get it as its source port): a CI run spun on
                                # "Address already in use" for 20 s. The gate asks for the port anew.
                                self.internal_rtmp_port = free_loopback_port()
        finally:
            stop.cancel()
            for session, task in running.values():
                await session.process.stop(grace=3)
                task.cancel()

    async def pull_loop(self) -> None:
        pull = self.config.source.pull
        assert pull is not None
        urls = pull.urls
        self.last_media = time.monotonic()
        failures_in_a_row = 0
        while not self.stopping.is_set():
            if time.monotonic() - self.last_media > pull.inactivity_timeout_seconds:
                self.active = False
                self.deactivated_reason = f"no data for {pull.inactivity_timeout_seconds} s from any pull URL"
                log.warning("stream deactivated: %s", self.deactivated_reason)
                return
            index = self.pull_index % len(urls)
            url, options = pull_input(urls[index])
            session = self.new_session(f"pull-{index}", url, options)
            self.listeners = [session]
            run = asyncio.create_task(session.run())
            stop = asyncio.create_task(self.stopping.wait())
            await asyncio.wait([run, stop], return_when=asyncio.FIRST_COMPLETED)
            if stop.done():
                await session.process.stop()
                run.cancel()
                return
            stop.cancel()
            flowed = run.result()
            if not flowed:
                log.info("pull URL #%d gave no media: %s", index, session.process.last_error())
            # Failed or stopped sending: the next URL becomes current (round-robin).
            self.pull_index += 1
            failures_in_a_row = 0 if flowed else failures_in_a_row + 1
            if failures_in_a_row and failures_in_a_row % len(urls) == 0:
                await asyncio.sleep(min(5.0, 0.5 * failures_in_a_row / len(urls)))

    async def screenshot_loop(self) -> None:
        interval = self.config.screenshots.interval_seconds
        feed = f"http://{self.loopback_host}:{self.http_port}{FEED_PATH}"
        while not self.stopping.is_set():
            if self.on_air_live:
                tmp = self.media_dir / "screenshot.tmp.jpg"
                # The feed starts on a keyframe (GOP cache): one decoded frame, small probe, no audio.
                argv = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-rw_timeout",
                        str(RW_TIMEOUT_US), "-protocol_whitelist", "http,tcp", "-analyzeduration", "500000",
                        "-probesize", "500000", "-i", feed, "-an", "-frames:v", "1", "-q:v", "4", "-f", "image2",
                        str(tmp)]  # fmt: skip
                shot = FfmpegProcess("screenshot", argv, self.redact, log)
                await shot.start()
                rc: int | None
                try:
                    rc = await asyncio.wait_for(shot.wait(), timeout=10)
                except TimeoutError:
                    rc = await shot.stop()
                if rc == 0 and tmp.exists():
                    tmp.replace(self.screenshot)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=interval if self.on_air_live else 0.5)

    # --- HTTP --------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = worker_app(self.status, lambda: self.accepting, self.registry, cors=True)

        async def feed(request: web.Request) -> web.StreamResponse:
            served = self.served_feed
            hub = self.served_transcoded_feed if request.path == TRANSCODED_FEED_PATH else served
            # Not while silent either: what is cached was sent before the silence, and a consumer
            # rejoining then (a recorder whose FFmpeg timed out) would record it a second time.
            if not hub.live or not served.sending:
                return web.Response(status=503, text="stream is not live")
            return await stream(hub, request)

        async def relay_feed(request: web.Request) -> web.StreamResponse:
            # The backup's feed as it arrives, for this worker's relay session only.
            if request.remote not in (self.loopback_host, "127.0.0.1", "::1"):
                raise web.HTTPForbidden()
            if not self.on_air.uplink.live:
                return web.Response(status=503, text="no backup feed")
            return await stream(self.on_air.uplink, request)

        async def stream(hub: FeedHub, request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "video/mp2t", "Cache-Control": "no-cache"})
            if request.version >= (1, 1) and request.transport is not None:
                # The hub writes each batch to the transport itself (ChunkedSink): no task wake-up and
                # no aiohttp write per chunk and reader.
                response.enable_chunked_encoding()
                await response.prepare(request)  # the headers go at once (a StreamResponse's)
                sink = ChunkedSink(request.transport)
                hub.attach(sink)
                try:
                    await sink.done
                finally:
                    hub.detach(sink)
                return response  # aiohttp ends the chunked body
            await response.prepare(request)
            with contextlib.suppress(ConnectionError):
                async for chunk in hub.subscribe():
                    await response.write(chunk)
            return response

        content_types = {
            ".m3u8": "application/vnd.apple.mpegurl",
            ".mpd": "application/dash+xml",
            ".m4s": "video/iso.segment",
            ".mp4": "video/mp4",
            ".ts": "video/mp2t",
        }

        def media_headers(path: Path) -> dict[str, str]:
            headers = {"Content-Type": content_types.get(path.suffix, "application/octet-stream")}
            if path.suffix in (".m3u8", ".mpd"):  # manifests change under the same name
                headers["Cache-Control"] = "no-cache"
            return headers

        def media_file(path: Path) -> web.FileResponse:
            # FileResponse sends Last-Modified too: the player page judges a manifest's freshness by it.
            return web.FileResponse(path, headers=media_headers(path))

        allowed_renditions = {r.name for r in renditions(self.config)}
        ll_names = set(ll_renditions(self.config))

        async def hls(request: web.Request) -> web.StreamResponse:
            variant, name = request.match_info["variant"], request.match_info["name"]
            rendition = request.match_info.get("rendition")
            if self.served_dir is None or variant not in ("cmaf", "ts") or "/" in name or name.startswith("."):
                raise web.HTTPNotFound()
            if rendition is not None and rendition not in allowed_renditions:
                raise web.HTTPNotFound()
            if variant == LL_VARIANT and (rendition or "") in ll_names:
                packager = self.served_packagers.get(rendition or "")
                if packager is not None:
                    return await ll_hls(request, packager, name)
            path = self.served_dir / variant / (rendition or "") / name
            if not path.is_file():
                raise web.HTTPNotFound()
            if variant == "cmaf" and name == "init.mp4":  # HEVC as hvc1, for Apple's players (fmp4.py)
                return web.Response(body=hvc1_init_segment(path.read_bytes()), headers=media_headers(path))
            return media_file(path)

        async def ll_hls(request: web.Request, packager: LlHlsPackager, name: str) -> web.StreamResponse:
            """LL-HLS: the playlist (blocking reload: _HLS_msn, _HLS_part; delta: _HLS_skip), parts from
            memory (the preload-hinted one once written), segments and the init segment from disk."""
            if name == "index.m3u8":
                try:
                    msn, part = (_query_int(request, key) for key in ("_HLS_msn", "_HLS_part"))
                    if part is not None and msn is None:
                        raise PlaylistRequestError("_HLS_part without _HLS_msn")
                    text = await packager.playlist(msn, part, skip=request.query.get("_HLS_skip") in ("YES", "v2"))
                except PlaylistRequestError as e:
                    raise web.HTTPBadRequest(text=str(e)) from None
                if text is None:
                    return web.Response(status=503 if msn is not None else 404, text="no such playlist yet")
                response = web.Response(
                    text=text, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-cache"}
                )
                response.last_modified = packager.updated_at  # as FileResponse gives the standard playlists
                return response
            if name == INIT_URI:
                if packager.init is None:
                    raise web.HTTPNotFound()
                return web.Response(body=hvc1_init_segment(packager.init.data), content_type="video/mp4")
            if (number := part_number(name)) is not None:
                body = await packager.part(number)
                if body is None:
                    raise web.HTTPNotFound()
                return web.Response(body=body, content_type="video/iso.segment")
            path = packager.dir / name
            if segment_number(name) is None or not path.is_file():
                raise web.HTTPNotFound()
            return media_file(path)

        async def dash(request: web.Request) -> web.StreamResponse:
            name = request.match_info["name"]
            if self.served_dir is None or not self.config.dash or name.startswith(".") or "/" in name:
                raise web.HTTPNotFound()
            path = self.served_dir / "dash" / name
            if not path.is_file():
                raise web.HTTPNotFound()
            return media_file(path)

        async def clock(_: web.Request) -> web.Response:
            # The players' time source (dash.js's UTCTiming, http-xsdate): never a public time server.
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return web.Response(text=now, headers={"Cache-Control": "no-store"})

        async def screenshot(_: web.Request) -> web.StreamResponse:
            if not self.screenshot.is_file():
                raise web.HTTPNotFound()
            return web.FileResponse(self.screenshot, headers={"Content-Type": "image/jpeg"})

        app.router.add_get(FEED_PATH, feed)
        app.router.add_get(TRANSCODED_FEED_PATH, feed)
        if self.on_air.relays:
            app.router.add_post(BACKUP_UPLINK_PATH, self.on_air.receive_uplink)
            app.router.add_get(RELAY_FEED_PATH, relay_feed)
        # At / and under the path prefix an Ingress or HTTPRoute routes with (no rewrite needed).
        for prefix in dict.fromkeys(("", self.config.path_prefix)):
            app.router.add_get(prefix + "/hls/{variant}/{name}", hls)
            app.router.add_get(prefix + "/hls/{variant}/{rendition}/{name}", hls)
            app.router.add_get(prefix + SCREENSHOT_PATH, screenshot)
            app.router.add_get(prefix + "/dash/{name}", dash)
            app.router.add_get(prefix + CLOCK_PATH, clock)
            add_player_routes(app, prefix, self.player_options())
        return app

    def player_options(self) -> PlayerOptions:
        """What the player page plays: paths relative to the page (at the prefix, like the media)."""
        hls = self.config.hls
        playlist = HLS_CMAF_PLAYLIST if hls.cmaf else HLS_MPEGTS_PLAYLIST
        return PlayerOptions(
            stream=self.config.stream,
            hls_path=playlist.lstrip("/"),
            dash_path=DASH_MANIFEST.lstrip("/") if self.config.dash else None,
            low_latency=hls.low_latency,
            poster_path=SCREENSHOT_PATH.lstrip("/") if self.config.screenshots.enabled else None,
        )

    def stop(self) -> None:
        """SIGTERM/SIGINT: stop every session and the HTTP face."""
        self.stopping.set()

    def _rtmps(self) -> dict[str, Any]:
        """The gate's TLS listener, with rtmps (the certificate files are mounted from the Secret)."""
        push, config = self.config.source.push, self.config
        if push is None or "rtmps" not in push.protocols:
            return {}
        assert config.ports.rtmps is not None and config.tls_cert_file and config.tls_key_file  # IngestConfig checks
        reloader = CertificateReloader(config.tls_cert_file, config.tls_key_file, log)
        return {"tls_port": config.ports.rtmps, "tls": reloader}

    async def run(self) -> None:
        shutil.rmtree(self.sessions_dir, ignore_errors=True)
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.private_dir, ignore_errors=True)
        self.private_dir.mkdir(mode=0o700, parents=True)
        runner = await serve(self.app(), self.config.bind_address, self.config.ports.http)
        self.http_port = runner.addresses[0][1] if self.config.ports.http == 0 else self.config.ports.http
        push = self.config.source.push
        if push is not None and {"rtmp", "rtmps"} & set(push.protocols):
            self.gate = RtmpGate(
                host=self.config.bind_address,
                port=self.config.ports.rtmp if "rtmp" in push.protocols else None,
                read_key=self.read_key,
                admit=self.rtmp_upstream,
                idle_timeout=self.config.publisher_timeout,
                log=log,
                **self._rtmps(),
            )
            await self.gate.start()
        loops = [self.push_loop() if push is not None else self.pull_loop(), self.silence_watch()]
        loops.append(self.on_air.run(self.stopping))
        if self.config.primary_url and push is not None:  # a backup: its feed goes to the primary when asked
            stable = (push.failback or Failback()).stable_seconds
            offer = BackupOffer(self.config.primary_url, self.config.stream, stable, self.read_key, log)
            loops.append(offer.run(self.stopping, lambda: self.feed, lambda: self.live))
        if self.config.screenshots.enabled:
            loops.append(self.screenshot_loop())
        tasks = [asyncio.create_task(c) for c in loops]
        self.listening = True
        try:
            await self.stopping.wait()
        finally:
            for s in [*self.listeners, *(s for s in (self.standby, self.current) if s is not None)]:
                await s.process.stop()
            await self.on_air.stop()
            for t in tasks:
                t.cancel()
            if self.gate:
                await self.gate.close()
            self.feed.end_session()
            await runner.cleanup()


class ChunkedSink:
    """A feed reader's HTTP/1.1 response body, written by the FeedHub straight to its transport in
    chunked encoding (the response's headers said so and went out already)."""

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def send(self, chunk: bytes) -> None:
        self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))

    def backlog(self) -> int:
        return self.transport.get_write_buffer_size()

    def closed(self) -> bool:
        return self.transport.is_closing()

    def end(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _query_int(request: web.Request, key: str) -> int | None:
    value = request.query.get(key)
    if value is None:
        return None
    if not value.isdigit():
        raise PlaylistRequestError(f"{key} must be a non-negative integer")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    what = "Take one publisher or pull a source; serve HLS, a screenshot and the live feed."
    return worker_main(argv, "ingest", CONFIG_ENV, IngestConfig.model_validate_json, IngestWorker, what)
