"""The `Clipper`: reads the stream's DVR playlist from the ingest, waits (bounded) for an end that
is still to come, joins the segments the range needs, cuts them (commands.py), stores the video
like a recorder does (a claim: the MP4 and its JSON sidecar; a bucket: media/videos' `Uploader`)
and reports it; then it keeps serving `/status` until its Pod is deleted."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from streamops.api.recording import Video
from streamops.contract.clipper import ClipperConfig, ClipperStatus, Phase, Refusal
from streamops.contract.playback_token import CURRENT_KEY, PREVIOUS_KEY, TOKEN_SEGMENT, sign
from streamops.contract.worker import utc_seconds
from streamops.media.aes_cbc import aes_128_cbc
from streamops.media.clipper.commands import exact_cut, keyframe_cut, probe_keyframes
from streamops.media.clipper.playlist import (
    MediaPlaylist,
    PlaylistError,
    Segment,
    covering,
    holds_end,
    parse_media_playlist,
    start_outside_window,
)
from streamops.media.ffmpeg import FfmpegProcess
from streamops.media.videos.probe import probe_duration
from streamops.media.videos.sidecar import write_sidecar, write_vod_page
from streamops.media.videos.upload_state import UploadState
from streamops.media.worker_process import utc_now
from streamops.redaction import Redactor

log = logging.getLogger("streamops.clipper")

POLL_SECONDS = 1.0  # the playlist is read again this often while the end is still to come
HTTP_TIMEOUT_SECONDS = 10.0
PARALLEL_DOWNLOADS = 4  # segments fetched at once (≈1.5 MB each at 6 Mbit/s and 2 s segments)
# A playlist that cannot be read (the stream went offline: its DVR went with its session) is tried
# again this long before the clip fails.
UNREADABLE_PLAYLIST_SECONDS = 20.0
WORK_DIR = ".clip-work"


class ClipRefused(Exception):
    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


TOKEN_SECONDS = 3600  # the clipper's own playback token (a signed stream): longer than any clip takes to read


def signed(url: str, token: str) -> str:
    """`url` under the token path segment the ingest takes (`/t/<token>/…`, docs/design/playback.md):
    relative segment URIs resolved against it carry the token too."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{TOKEN_SEGMENT}/{token}{parts.path}"))


def playback_tokens(keys_dir: Path, stream: str, now: float) -> list[str]:
    """Tokens signed with the mounted `current` key, then `previous` (a key rotated moments ago may
    not have reached the ingest's copy yet: the playlist is read with the next one on a 403)."""
    tokens = []
    for name in (CURRENT_KEY, PREVIOUS_KEY):
        path = keys_dir / name
        if path.is_file() and path.read_bytes():
            tokens.append(sign(path.read_bytes(), stream, int(now) + TOKEN_SECONDS))
    return tokens


@dataclass
class ClipLedger:
    """The clip's one video and its uploads, as the Uploader reads and updates them (in memory: the
    clipper keeps no state file)."""

    videos: list[Video] = field(default_factory=list)
    uploads: list[UploadState] = field(default_factory=list)


def fetch(url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> bytes:
    """One GET inside the cluster (blocking: run it in a thread)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def fetch_clear(segment: Segment, keys: dict[str, bytes]) -> bytes:
    """A segment's bytes as the DVR has them: an encrypted stream's decrypted with its key, fetched
    through the playback gate like the segment (`keys`: the keys fetched so far, by URI). A clip is
    clear media, like a recording (docs/design/protection.md)."""
    data = fetch(segment.uri)
    if segment.key is None:
        return data
    key = keys.get(segment.key.uri)
    if key is None:
        key = keys[segment.key.uri] = fetch(segment.key.uri)
    iv = segment.key.iv or segment.sequence.to_bytes(16, "big")
    return aes_128_cbc(data, key, iv, decrypt=True)


class Clipper:
    def __init__(self, config: ClipperConfig, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
        self.out_dir = Path(config.recordings_root) / config.directory
        self.phase: Phase = "waiting"
        self.message: str | None = "reading the stream's DVR playlist"
        self.refusal: Refusal | None = None
        self.video: Video | None = None
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.cut_seconds: float | None = None
        self.redact = Redactor([])
        self.state = ClipLedger()
        self.uploader = None
        if config.upload is not None:
            from streamops.media.videos.bucket import Bucket
            from streamops.media.videos.upload import Uploader

            bucket = Bucket.from_environment(config.upload, self.redact)
            self.uploader = Uploader(config.upload, self.out_dir, bucket, lambda: self.state, lambda: None)
        self.done = asyncio.Event()
        self.exit_requested = asyncio.Event()

    # -- telemetry --

    def status(self) -> ClipperStatus:
        uploader = self.uploader
        video = self.state.videos[0] if self.state.videos else self.video
        return ClipperStatus(
            state=self.phase,
            video=video,
            started_at=self.started_at,
            ended_at=self.ended_at,
            refusal=self.refusal,
            message=self.message,
            cut_seconds=self.cut_seconds,
            storage_problem=uploader.problem if uploader else None,
            storage_error=uploader.error if uploader else None,
        )

    def routes(self) -> dict[tuple[str, str], object]:
        from streamops.media.small_http import registry_metrics, worker_routes

        return dict(worker_routes(self.status, lambda: True, registry_metrics(lambda: None)))

    # -- the one job --

    async def run(self) -> None:
        began = time.monotonic()
        try:
            playlist = await self._wait_for_range()
            self.phase, self.message = "cutting", "cutting the clip"
            final = await self._cut(playlist)
            self.cut_seconds = round(time.monotonic() - began, 3)
            self.phase, self.message = "storing", "storing the video"
            await self._store(final)
            self.phase, self.message = "succeeded", None
            log.info("clip stored in %.2f s: %s", time.monotonic() - began, self.video)
        except ClipRefused as e:
            self._fail(e.refusal, str(e))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug, or FFmpeg failed: the Clip says so
            log.exception("clip")
            self._fail("ClipFailed", self.redact(f"{type(e).__name__}: {e}")[:1024])
        finally:
            shutil.rmtree(self.out_dir / WORK_DIR, ignore_errors=True)
            self.done.set()

    def _fail(self, refusal: Refusal, message: str) -> None:
        self.phase, self.refusal, self.message = "failed", refusal, self.redact(message)
        log.warning("clip refused (%s): %s", refusal, self.message)

    def _playlist_urls(self) -> list[str]:
        """The playlist's URL, or for a signed stream the same under each token to try."""
        config = self.config
        if not config.playback_keys_dir:
            return [config.playlist_url]
        tokens = playback_tokens(Path(config.playback_keys_dir), config.playback_stream, time.time())
        for token in tokens:
            self.redact.add(token)  # a token works for an hour: it stays out of logs and status
        return [signed(config.playlist_url, t) for t in tokens] or [config.playlist_url]

    async def _read_playlist(self) -> MediaPlaylist:
        urls = self._playlist_urls()
        for i, url in enumerate(urls):
            try:
                text = (await asyncio.to_thread(fetch, url)).decode()
            except urllib.error.HTTPError as e:
                if e.code == 403 and i + 1 < len(urls):
                    continue
                raise OSError(self.redact(f"HTTP {e.code} {e.reason} from the ingest")) from None
            return parse_media_playlist(text, url)
        raise OSError("no playlist URL")

    async def _wait_for_range(self) -> MediaPlaylist:
        """The playlist once it holds [start, end], or once waiting longer makes no sense (the end
        is past by end_wait_seconds, the stream ended): then what it holds of the range."""
        config = self.config
        deadline = config.end + timedelta(seconds=config.end_wait_seconds)
        unreadable_since: float | None = None
        while True:
            try:
                playlist = await self._read_playlist()
                unreadable_since = None
            except (OSError, urllib.error.URLError, PlaylistError, UnicodeDecodeError) as e:
                unreadable_since = unreadable_since or time.monotonic()
                if time.monotonic() - unreadable_since > UNREADABLE_PLAYLIST_SECONDS:
                    raise ClipRefused(
                        "ClipFailed", f"the ingest's DVR playlist cannot be read (is the stream live?): {e}"
                    ) from None
                self.message = self.redact(f"the ingest's DVR playlist cannot be read yet: {e}")[:1024]
                await asyncio.sleep(POLL_SECONDS)
                continue
            if start_outside_window(playlist, config.start):
                first = playlist.window_start
                held = f"it holds media from {first.isoformat()}" if first else "it holds no media"
                raise ClipRefused(
                    "OutsideDvrWindow",
                    f"the clip starts at {config.start.isoformat()}, which the stream's DVR no longer (or never) held: "
                    f"{held}",
                )
            if holds_end(playlist, config.end):
                return playlist
            if playlist.ended or self.clock() > deadline:
                if not covering(playlist.segments, config.start, config.end):
                    raise ClipRefused("ClipFailed", "the DVR holds nothing of the clip's range")
                return playlist  # what there is: the stream ended before `end`
            last = playlist.window_end
            self.phase = "waiting"
            self.message = f"waiting for the DVR to hold the end ({config.end.isoformat()}; it holds up to {last})"
            await asyncio.sleep(POLL_SECONDS)

    async def _download(self, playlist: MediaPlaylist, work: Path) -> tuple[Path, datetime]:
        """The segments of the range joined into one local file, and the wall clock of its first one."""
        segments = covering(playlist.segments, self.config.start, self.config.end)
        if not segments:
            raise ClipRefused("ClipFailed", "the DVR holds nothing of the clip's range")
        if any(s.discontinuity for s in segments[1:]):
            # Another session's media (a reconnect, a switch to the backup): its timestamps start over.
            raise ClipRefused("ClipFailed", "the range spans a discontinuity (a publisher reconnect): cut it in two")
        init = segments[0].init_uri  # its session's (the ingest's playlist goes on across sessions)
        joined = work / ("joined.mp4" if init else "joined.ts")
        keys: dict[str, bytes] = {}  # an encrypted stream's keys, fetched once each (the key of a run of segments)
        fetches = ([lambda: fetch(init)] if init else []) + [lambda s=s: fetch_clear(s, keys) for s in segments]
        # MPEG-TS segments concatenate; so do an init segment and its fragments. In order, with at
        # most PARALLEL_DOWNLOADS in flight or waiting to be written: a 4 h clip never sits in memory.
        in_flight: deque[asyncio.Task[bytes]] = deque()
        try:
            with open(joined, "wb") as f:
                for get in fetches:
                    in_flight.append(asyncio.create_task(asyncio.to_thread(get)))
                    if len(in_flight) >= PARALLEL_DOWNLOADS:
                        f.write(await in_flight.popleft())
                while in_flight:
                    f.write(await in_flight.popleft())
        except urllib.error.HTTPError as e:
            if e.code in (404, 410):  # deleted from the window meanwhile: the range slid out while we read it
                message = "a segment of the range left the DVR while it was read"
                raise ClipRefused("OutsideDvrWindow", message) from None
            raise ClipRefused("ClipFailed", f"the ingest answered HTTP {e.code} for a segment") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise ClipRefused("ClipFailed", f"reading a segment from the ingest failed: {e}") from None
        finally:
            for task in in_flight:
                task.cancel()
        return joined, segments[0].start

    async def _cut(self, playlist: MediaPlaylist) -> Path:
        config = self.config
        work = self.out_dir / WORK_DIR
        work.mkdir(parents=True, exist_ok=True)
        joined, first_wall = await self._download(playlist, work)
        keyframes = await probe_keyframes(joined)
        media_zero = keyframes.times[0]  # the first segment's first frame: its PROGRAM-DATE-TIME

        def media_time(wall: datetime) -> float:
            return media_zero + (wall - first_wall).total_seconds()

        want_start, want_end = media_time(config.start), media_time(min(config.end, playlist.window_end or config.end))
        if config.mode == "keyframe":
            begin = keyframes.at_or_before(max(want_start, media_zero))
            argv = keyframe_cut(joined, work / "clip.mp4", begin - keyframes.start, want_end - begin)
        else:
            begin = max(want_start, media_zero)
            argv = exact_cut(joined, work / "clip.mp4", begin - keyframes.start, want_end - begin)
        await self._ffmpeg(argv)
        out = work / "clip.mp4"
        seconds = await probe_duration(out)
        if not seconds:
            raise ClipRefused("ClipFailed", "the cut holds no readable media")
        started = first_wall + timedelta(seconds=begin - media_zero)
        self.started_at, self.ended_at = started, started + timedelta(seconds=seconds)
        self.video = Video(
            title=config.title,
            stream=config.stream or None,
            path=f"{config.directory}/{config.file_name}",
            duration_seconds=round(seconds, 3),
            size_bytes=out.stat().st_size,
            started_at=utc_seconds(started),
            ended_at=utc_seconds(self.ended_at),
        )
        return out

    async def _ffmpeg(self, argv: list[str]) -> None:
        proc = await FfmpegProcess("cut", argv, self.redact, log).start()
        try:
            rc = await proc.wait()
        except asyncio.CancelledError:  # the worker is stopping: the cut does not outlive it
            await proc.stop()
            raise
        if rc != 0:
            said = "\n".join(proc.tail)[-800:] or f"exit status {rc}"  # redacted line by line
            raise ClipRefused("ClipFailed", f"FFmpeg failed: {said}")

    async def _store(self, cut: Path) -> None:
        """Next to where a recorder keeps its videos: the MP4 and its sidecar in the Clip's
        directory; with a bucket, the Uploader takes both there (and verifies them)."""
        video = self.video
        assert video is not None
        final = self.out_dir / self.config.file_name
        os.replace(cut, final)
        write_sidecar(final, video, self.config.client)  # as a recorder's
        self.state.videos = [video]
        if self.uploader is None:
            write_vod_page(final, video.title)  # on a claim: its page beside it, as in a bucket
            return
        self.uploader.enqueue(video, final.name)
        uploads = asyncio.get_running_loop().create_task(self.uploader.run())
        try:
            await self.uploader.drained()
        finally:
            uploads.cancel()

    def stop(self) -> None:
        self.exit_requested.set()
