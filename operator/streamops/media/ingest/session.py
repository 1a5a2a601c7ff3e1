"""One publish/pull session: an FFmpeg process (commands.session_command) that writes HLS into a
directory of its own and reports through `SessionEvents` to whoever runs it (the worker, or on_air
for the backup's relay). Also `LiveMeter`: the live rates of the session on air, from the deltas of
FFmpeg's cumulative -progress values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamops.contract.ingest import IngestConfig
from streamops.media.ffmpeg import FfmpegProcess, Progress, SourceFacts, args_file_text
from streamops.media.ingest.closed_captions import carries_captions
from streamops.media.ingest.commands import (
    LL_VARIANT,
    front_hls,
    ll_renditions,
    packager_settings,
    renditions,
    session_command,
    session_dirs,
)
from streamops.media.ingest.llhls.packager import LlHlsPackager
from streamops.media.ingest.pipe_batches import PipeReader
from streamops.media.ingest.rtsp_pull import input_through_args_file
from streamops.media.overlay.reports import write_placeholders
from streamops.media.secret_fifo import hand_over, make_fifo
from streamops.redaction import Redactor

log = logging.getLogger("streamops.ingest")


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
        # Set at each sample: the on-air session's progress, a wake that comes anyway, paces what
        # reads its files (outputs.continuity_loop) instead of a timer of its own.
        self.added = asyncio.Event()

    def reset(self) -> None:
        self.samples.clear()

    def add(self, now: float, progress: Progress, feed_bytes: int) -> None:
        self.samples.append((now, progress.frame, progress.out_time_us, feed_bytes))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.WINDOW:
            self.samples.popleft()
        self.added.set()

    def reporting(self, now: float, within: float) -> bool:
        """A sample came in the last `within` seconds."""
        return bool(self.samples) and now - self.samples[-1][0] < within

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
    # Captions first seen in the source after it started (closed_captions.py): once per session.
    on_captions: Callable[[Session], None]


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
        audio_codec: str = "copy",
        fifo_input: Path | None = None,
        args_file: Path | None = None,
        hidden_options: Sequence[str] = (),
        front_hls: bool = False,
    ) -> None:
        """`audio_codec`: session_command's (a WHIP publisher's Opus becomes AAC); `fifo_input`: the
        FIFO FFmpeg reads its input from (made here; the RTMP front writes FLV into it); `args_file`:
        the FIFO that hands FFmpeg `-i url` (a URL with credentials: rtsp_pull.py), off its command line,
        after `hidden_options` (input options that carry a secret: the feed credential's `-headers`);
        `front_hls`: the RTMP front writes its HLS (commands.front_writes_hls), FFmpeg only the feed."""
        self.kind, self.config, self.events = kind, config, events
        self.front_hls = front_hls
        self.dir = sessions_dir / f"{int(time.time() * 1000)}-{kind}"
        self.facts = SourceFacts()
        self.started = False
        self.closed_captions = False  # the feed carried CEA-608/708 captions (closed_captions.py)
        self.accepted = False  # started and made the live session (not refused)
        self.key: bytes | None = None
        # (FIFO path, bytes): FFmpeg's input script (srt_listen_input) or its -args_file (args_file)
        self.secret_input = (secret_input[0], secret_input[1].encode()) if secret_input else None
        self.fifo_input = fifo_input
        self.args_file = args_file  # its input URL carries credentials (an RTSP camera's)
        self.front_id: int | None = None  # the RTMP front's id of the publisher admitted into it
        self.tls = False  # that publisher came over RTMPS
        self.ended = False  # run() returned
        self.feed_pipe = os.pipe()  # FFmpeg's stdout: the feed
        # With renditions, the first one also leaves FFmpeg on a pipe of its own: the transcoded feed.
        self.transcoded_pipe = os.pipe() if renditions(config) else None
        write_fd = self.transcoded_pipe[1] if self.transcoded_pipe else None
        # LL-HLS: each rendition's fragmented MP4 on a pipe to its packager.
        self.ll_pipes = {name: os.pipe() for name in ll_renditions(config)}
        settings = packager_settings(config)
        self.packagers = {name: LlHlsPackager(self.dir / LL_VARIANT / name, settings) for name in ll_renditions(config)}
        ll_write = {name: fds[1] for name, fds in self.ll_pipes.items()}
        argv = session_command(config, url, options, self.dir, write_fd, ll_write, audio_codec, hls=not front_hls)
        if args_file is not None:
            argv, hidden = input_through_args_file(argv, url, args_file)
            self.secret_input = (args_file, args_file_text([*hidden_options, *hidden]))
        self.process = FfmpegProcess(
            name=f"ingest-{kind}",
            argv=argv,
            redact=redact,
            log=log,
            on_progress=self._progress,
            on_stderr=self._stderr,
            stdout=self.feed_pipe[1],
            pass_fds=((write_fd,) if write_fd is not None else ()) + tuple(ll_write.values()),
            on_stop=self._unblock_fifo if fifo_input is not None else None,
            stderr_paced=True,  # its HLS muxers log every file they open: read once a second
        )

    def _unblock_fifo(self) -> None:
        """FFmpeg waiting to open its input FIFO only sees SIGTERM once the open returns: open the
        write end for a moment (it then reads EOF and exits at once instead of after the grace)."""
        assert self.fifo_input is not None
        with contextlib.suppress(OSError):  # ENXIO: it is not (or no longer) waiting on it
            os.close(os.open(self.fifo_input, os.O_WRONLY | os.O_NONBLOCK))

    def front_hls_request(self) -> dict[str, Any]:
        """`admit`'s `hls` for this session's publisher: its directories, made now (a standby's
        run() may not have started yet, and the front refuses a directory that is not there)."""
        assert self.front_hls
        for directory in session_dirs(self.config, self.dir):
            directory.mkdir(parents=True, exist_ok=True)
        return front_hls(self.config, self.dir.absolute(), int(time.time()))

    @property
    def takes_publisher(self) -> bool:
        """An idle FIFO session the RTMP front may hand a publisher to: none handed yet, not ended,
        not being stopped (an FFmpeg blocked opening its FIFO only sees SIGTERM once it opens)."""
        return self.fifo_input is not None and self.front_id is None and not self.ended and not self.process.stopping

    def _stderr(self, line: str) -> None:
        self.facts.read(line)

    def _progress(self, progress: Progress) -> None:
        if self.started:
            self.events.on_progress(progress)

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
        fd = self.ll_pipes[name][0]
        # On the reader's thread (pipe_batches.py) so FFmpeg never waits for a busy loop; each read
        # handed over at once: a part's latency is what LL-HLS is for.
        reader = PipeReader(fd, packager.feed, interval=0)
        try:
            await reader.ended
        except ValueError as e:  # FFmpeg's output is ours: a parse error is a bug, said once, not a crash loop
            log.error("LL-HLS packaging of %r stopped: %s", name or "the stream", e)
        finally:
            reader.stop()
            os.close(fd)
            packager.finish()

    async def run(self) -> bool:
        """Run to the end; True when media flowed (it was a session, not just a listener)."""
        for directory in session_dirs(self.config, self.dir):
            directory.mkdir(parents=True, exist_ok=True)
        write_placeholders(self.config)
        if self.secret_input is not None:
            make_fifo(self.secret_input[0])
        if self.fifo_input is not None:
            make_fifo(self.fifo_input)
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
        secret = None
        if self.secret_input is not None:
            fifo, data = self.secret_input
            secret = asyncio.create_task(hand_over(fifo, data, lambda: self.process.running))

        def media(chunk: bytes) -> None:
            # Looked for before on_started, which writes the multivariant playlist from it.
            captions_now = not self.closed_captions and carries_captions(chunk)
            self.closed_captions = self.closed_captions or captions_now
            if not self.started:
                self.started = True
                self.accepted = self.events.on_started(self)
                if not self.accepted:
                    feed.stop()  # refused: stop, publish nothing
                    return
            elif captions_now and self.accepted:
                self.events.on_captions(self)
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
            if self.fifo_input is not None:
                self.fifo_input.unlink(missing_ok=True)
            self.ended = True
            if self.started:
                self.events.on_ended(self, rc)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        return self.started
