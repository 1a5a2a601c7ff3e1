"""Finalisation: a closed video's parts joined into `<name>.mp4` (cut where a part replays the one
before, repaired when a killed FFmpeg left them damaged), its renditions derived, its sidecar
written, handed to the uploader, then forgotten with its parts; or discarded when too short. One
join at a time, in order, in the background while recording goes on."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple, Protocol

from streamops.api.recording import DiscardedFragment, Video, VideoOrigin, VideoRendition
from streamops.contract.recorder import RecorderConfig
from streamops.contract.worker import utc_seconds
from streamops.media.ffmpeg import FfmpegProcess, probe_file
from streamops.media.metrics_text import Count
from streamops.media.recorder.commands import join_command, repair_command
from streamops.media.recorder.disk import OutOfSpace, file_size
from streamops.media.recorder.plan import (
    FrameGrid,
    JoinCuts,
    PartTimeline,
    concat_list,
    discard_reason,
    frame_grid,
    grid_spans,
    origin_name,
    part_gaps,
    part_outpoints,
    says_no_space,
    video_title,
)
from streamops.media.recorder.renditions import derive_command, derived, hidden, rendition_file
from streamops.media.recorder.state import PartState, RecorderState, VideoState
from streamops.media.videos.probe import probe_codecs, probe_duration
from streamops.media.videos.sidecar import write_sidecar, write_vod_page
from streamops.redaction import Redactor

log = logging.getLogger("streamops.recorder")

JOIN_TOLERANCE_SECONDS = 1.0  # a joined video this much shorter than its parts lost some: repair


def children_cpu_seconds() -> float:
    """CPU (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class FinaliseOwner(Protocol):
    """What finalising asks of the recorder: its state (replaced when it is loaded), saving it, and
    /status's error."""

    @property
    def state(self) -> RecorderState: ...

    def save(self) -> None: ...

    def error(self, message: str) -> None: ...


class JoinSpace(Protocol):
    """What finalising asks of the disk."""

    no_space: bool

    def cut_partial_box(self, part: PartState) -> None: ...

    async def wait_for_join_room(self, video: VideoState) -> bool: ...


class VideoUploads(Protocol):
    """What finalising asks of the uploader: the files of a finished video, to take to the bucket."""

    def enqueue(self, video: Video, file: str) -> None: ...

    def enqueue_rendition(self, video: Video, rendition: VideoRendition, file: str) -> None: ...


class FinaliseCounters(NamedTuple):
    """The recorder's metrics finalising counts in."""

    videos: Count
    discarded: Count
    errors: Count


class Finaliser:
    """Finalises the videos the recorder closes."""

    def __init__(
        self,
        config: RecorderConfig,
        out_dir: Path,
        parts_dir: Path,
        owner: FinaliseOwner,
        disk: JoinSpace,
        uploads: VideoUploads | None,
        redact: Redactor,
        clock: Callable[[], datetime],
        counters: FinaliseCounters,
    ) -> None:
        self.config = config
        self.out_dir = out_dir
        self.parts_dir = parts_dir
        self.owner = owner
        self.disk = disk
        self.uploads = uploads
        self.redact = redact
        self.clock = clock
        self.m_videos, self.m_discarded, self.m_errors = counters
        self._lock = asyncio.Lock()
        self._finalising: set[asyncio.Task[None]] = set()

    def close_video(self) -> None:
        """The video in progress is closed: finalise it in the background."""
        state = self.owner.state
        video = state.current
        if video is None:
            return
        state.current = None
        state.closing.append(video)
        self.owner.save()
        self.finalise_later(video)

    def finalise_later(self, video: VideoState) -> None:
        task = asyncio.create_task(self._finalise(video))
        self._finalising.add(task)
        task.add_done_callback(self._finalising.discard)

    async def finished(self) -> None:
        """Until every video being finalised is done (finishing a video may not be cut short by the stop)."""
        while self._finalising:
            await asyncio.gather(*list(self._finalising), return_exceptions=True)

    async def _finalise(self, video: VideoState) -> None:
        async with self._lock:  # one join at a time, in order
            while True:
                try:
                    try:
                        await self.finalise_video(video)
                    except OSError as e:  # the concat list, the sidecar: written by us, not FFmpeg
                        if e.errno == errno.ENOSPC:
                            raise OutOfSpace(str(e)) from e
                        raise
                except OutOfSpace:  # never lose parts to a full disk: join them once there is room
                    self.m_errors.inc()
                    self.disk.no_space = True
                    self.owner.error(f"finalising {video.name}: no space left on the recordings volume; parts kept")
                    if await self.disk.wait_for_join_room(video):
                        continue
                except Exception as e:  # keep recording; the parts stay for the next start to retry
                    self.m_errors.inc()
                    self.owner.error(f"finalising {video.name} failed: {e}")
                    log.exception("finalising %s", video.name)
                return

    async def _readable_parts(
        self, recorded: list[PartState], name: str
    ) -> tuple[list[PartState], list[float], set[str]]:
        """The parts (of the video `name`, or of its original) that hold media (cut back, repaired),
        their durations, and the killed ones' files."""
        parts = [p for p in recorded if file_size(self.parts_dir / p.file) > 0]
        killed = {p.file for p in parts if not p.closed}  # (before a repair marks them closed)
        for part in parts:
            self.disk.cut_partial_box(part)
            if not part.closed:
                await self.repair(part)
        durations: list[float] = []
        for part in list(parts):
            seconds = await probe_duration(self.parts_dir / part.file)
            if seconds is None and part.closed:  # closed but unreadable after all: try a remux
                await self.repair(part)
                seconds = await probe_duration(self.parts_dir / part.file)
            if not seconds:
                self.owner.error(f"{part.file} holds no readable media: left out of {name}")
                parts.remove(part)
                continue
            part.seconds = seconds
            durations.append(seconds)
        return parts, durations, killed

    async def finalise_video(self, video: VideoState) -> None:
        parts, cuts, total = await self._timeline(video.parts, video.name)
        ended_at = video.last_data_at or self.clock()

        reason = discard_reason(total, self.config.min_duration_seconds) if parts else "no readable media recorded"
        if reason is not None:
            log.warning("%s: %s", video.name, reason)
            self.owner.state.discarded.append(
                DiscardedFragment(reason=reason[:1024], duration_seconds=round(total, 3), at=utc_seconds(ended_at))
            )
            self.m_discarded.inc()
            self._forget(video)
            return

        final, seconds = await self._joined(video.name, parts, cuts, total)
        # The original before the renditions: a full disk while joining it retries the whole video
        # later (its parts are kept), which must not derive the renditions twice.
        origin = await self._origin(video, ended_at)
        renditions = await self._renditions(final)
        info = Video(
            title=video_title(self.config.title, ended_at)[:512],
            stream=self.config.stream or None,
            path=f"{self.config.directory}/{final.name}",  # relative to the recordings root, as status shows it
            duration_seconds=round(seconds, 3),
            size_bytes=file_size(final),
            started_at=utc_seconds(video.started_at),
            ended_at=utc_seconds(ended_at),
            renditions=renditions,
            origin=origin,
        )
        if self.uploads is not None:
            self.uploads.enqueue(info, final.name)  # saved with the state below, in one write
            if renditions:
                renditions[0].url, renditions[0].upload = info.url, info.upload  # the video's own file
            for r in renditions[1:]:
                self.uploads.enqueue_rendition(info, r, Path(r.path or "").name)
            if origin is not None:  # last: the video and its renditions are what viewers wait for
                self.uploads.enqueue_rendition(info, origin, Path(origin.path or "").name)
        write_sidecar(final, info, self.config.client)
        if self.uploads is None:  # on a claim: its VOD page beside it, as in a bucket (claim-videos.md)
            write_vod_page(final, info.title)
        self.owner.state.videos.append(info)
        self.m_videos.inc()
        log.info("video %s: %.1f s, %d bytes, from %d part(s)", final.name, seconds, info.size_bytes, len(parts))
        self._forget(video)

    async def _timeline(self, recorded: list[PartState], name: str) -> tuple[list[PartState], JoinCuts, float]:
        """The readable parts of `name` (the video, or its original), where each is cut so that no
        second is in it twice and how long each spans (a reconnect's gap kept), and the seconds of
        media they hold together."""
        parts, durations, killed = await self._readable_parts(recorded, name)
        # A part read again from the GOP cache after a restart holds the previous part's last seconds.
        timeline = [
            PartTimeline(p.source_start, p.seconds, p.file not in killed, p.source_read_at, p.wall_start) for p in parts
        ]
        outpoints = part_outpoints(timeline)
        gaps = part_gaps(timeline, outpoints)
        for part, cut, gap in zip(parts, outpoints, gaps, strict=True):
            if cut is not None:
                log.info("%s: its next part replays its last %.2f s: cut at %.2f s", part.file, part.seconds - cut, cut)
            if gap:
                log.info("%s: the broadcast went on %.2f s before the next part: kept as a freeze", part.file, gap)
        total = sum(cut if cut is not None else d for cut, d in zip(outpoints, durations, strict=True))
        spans: list[float | None] = [p.seconds + g if g else None for p, g in zip(parts, gaps, strict=True)]
        if len(parts) > 1:  # each part's video on the frame grid of the one before (plan.grid_spans)
            grids = [await self._frame_grid(p) for p in parts]
            wanted = [p.seconds + g for p, g in zip(parts, gaps, strict=True)]
            aligned = grid_spans(wanted, grids, [p.seconds for p in parts])
            spans = [a if a is not None else s for a, s in zip(aligned, spans, strict=True)]
        return parts, JoinCuts(outpoints, spans), total

    async def _frame_grid(self, part: PartState) -> FrameGrid | None:
        """Where the part's video frames lie (its first three packets, then its last two seconds:
        a seek there starts at the keyframe before); None without video."""
        tail_from = max(0.0, part.seconds - 2.0)
        out = await probe_file(
            self.parts_dir / part.file,
            *("-select_streams", "v:0", "-read_intervals", f"%+#3,{tail_from:.3f}%"),
            *("-show_entries", "format=start_time:stream=r_frame_rate:packet=pts_time", "-of", "json"),
        )
        try:
            found = json.loads(out)
        except ValueError:
            return None
        return frame_grid(found) if isinstance(found, dict) else None

    async def _joined(self, name: str, parts: list[PartState], cuts: JoinCuts, total: float) -> tuple[Path, float]:
        """The parts joined into `<name>.mp4` (repaired and joined again when the join lost some), and its seconds."""
        final = self.out_dir / f"{name}.mp4"
        joined = await self.join(name, parts, cuts)
        seconds = await probe_duration(joined)
        if seconds is None or seconds < total - JOIN_TOLERANCE_SECONDS:
            # The concat demuxer stops at a damaged sample and still exits 0: remux every part, join again.
            log.warning("%s: joined %.1f s of %.1f s, repairing parts", name, seconds or 0, total)
            for part in parts:
                await self.repair(part)
            joined = await self.join(name, parts, cuts)
            seconds = await probe_duration(joined)
            if seconds is None:
                raise RuntimeError("joined file is not readable")
        os.replace(joined, final)
        return final, seconds

    async def _origin(self, video: VideoState, ended_at: datetime) -> VideoOrigin | None:
        """keepOrigin: the original's parts joined into `<name>-origin.mp4` beside the video, as the
        video's are (cut, repaired), kept until `origin_keep_seconds` after the video's end. A full
        disk raises OutOfSpace (the parts are kept and the video is finalised again once there is
        room); any other failure keeps the video without its original, and says why."""
        keep = self.config.origin_keep_seconds
        if self.config.origin_feed_url is None or keep is None:
            return None
        name = origin_name(video.name)
        try:
            parts, cuts, total = await self._timeline(video.origin_parts, name)
            if not parts:
                self.owner.error(f"{video.name}: no original was recorded (the origin feed gave no media)")
                return None
            final, seconds = await self._joined(name, parts, cuts, total)
        except OutOfSpace:
            raise
        except Exception as e:
            self.m_errors.inc()
            self.owner.error(f"{video.name}: its original could not be made: {e}")
            log.exception("original of %s", video.name)
            return None
        found = (await probe_codecs(final)).get("video") or {}
        log.info("original %s: %.1f s, %d bytes, from %d part(s)", final.name, seconds, file_size(final), len(parts))
        return VideoOrigin(
            width=int(found.get("width") or 0),
            height=int(found.get("height") or 0),
            path=f"{self.config.directory}/{final.name}",
            size_bytes=file_size(final),
            delete_at=utc_seconds(ended_at + timedelta(seconds=keep)),
        )

    async def _renditions(self, final: Path) -> list[VideoRendition]:
        """A transcoded recording's renditions (config.renditions, tallest first: `final` is the
        tallest): the others derived from `final` into MP4s next to it. A failed derivation, a full
        disk included, keeps the video with the renditions it has (an error in /status): the video
        comes first, and retrying on a volume that stays full would re-encode it again and again."""
        ladder = self.config.renditions
        if not ladder:
            return []
        outputs = [(r, self.out_dir / rendition_file(final.name, r.name)) for r in derived(ladder)]
        made = [(ladder[0], final)]
        if outputs:
            # (CPU of the children reaped meanwhile: the derivation's FFmpeg, and a part's if one ended)
            began, cpu = time.monotonic(), children_cpu_seconds()
            argv = derive_command(str(final), [(r, str(hidden(p))) for r, p in outputs], self.config.segment_seconds)
            try:
                rc = await self._ffmpeg("renditions", argv)
            except OutOfSpace:
                self.owner.error(f"{final.name}: no space left on the recordings volume for its other renditions")
                rc = -1
            for r, path in outputs:
                if rc == 0 and file_size(hidden(path)) > 0:
                    os.replace(hidden(path), path)
                    made.append((r, path))
                else:
                    hidden(path).unlink(missing_ok=True)
            log.info(
                "%s: %d rendition(s) derived in %.1f s, %.1f s of CPU",
                final.name,
                len(made) - 1,
                time.monotonic() - began,
                children_cpu_seconds() - cpu,
            )
        found = []
        for r, path in made:
            video = (await probe_codecs(path)).get("video") or {}
            found.append(
                VideoRendition(
                    name=r.name,
                    width=int(video.get("width") or 0),
                    height=int(video.get("height") or r.height),
                    path=f"{self.config.directory}/{path.name}",
                    size_bytes=file_size(path),
                )
            )
        return found

    def _forget(self, video: VideoState) -> None:
        """The video is done with (finalised or discarded): drop it from the state, then its parts."""
        state = self.owner.state
        state.closing = [v for v in state.closing if v is not video]
        self.owner.save()
        for part in video.all_parts():
            (self.parts_dir / part.file).unlink(missing_ok=True)
        for name in (video.name, origin_name(video.name)):
            (self.parts_dir / f"{name}.ffconcat").unlink(missing_ok=True)

    async def join(self, name: str, parts: Sequence[PartState], cuts: JoinCuts) -> Path:
        list_path = self.parts_dir / f"{name}.ffconcat"
        list_path.write_text(concat_list([p.file for p in parts], cuts.outpoints, cuts.spans))
        joined = self.out_dir / f".{name}.joining.mp4"  # hidden until complete
        try:
            await self._ffmpeg("join", join_command(str(list_path), str(joined)))
        except OutOfSpace:
            joined.unlink(missing_ok=True)  # give the space back; the parts are untouched
            raise
        return joined

    async def repair(self, part: PartState) -> None:
        path = self.parts_dir / part.file
        fixed = path.with_name(f"{path.stem}.fixed.mp4")
        log.info("repairing %s (its FFmpeg did not finish it)", part.file)
        try:
            rc = await self._ffmpeg("repair", repair_command(str(path), str(fixed)))
        except OutOfSpace:
            fixed.unlink(missing_ok=True)
            raise
        # Only a remux that reads back as media replaces the part: a truncated one must never stand
        # in for what was recorded (seen in CI: a repair cut short by a full disk exited 0).
        repaired = await probe_duration(fixed) if rc == 0 and file_size(fixed) > 0 else None
        original = await probe_duration(path) if repaired is not None else None
        if repaired is not None and repaired >= (original or 0) - JOIN_TOLERANCE_SECONDS:
            os.replace(fixed, path)
            part.closed = True
            self.owner.save()
        else:
            fixed.unlink(missing_ok=True)

    async def _ffmpeg(self, name: str, argv: list[str]) -> int:
        proc = await FfmpegProcess(name, argv, self.redact, log).start()
        rc = await proc.wait()
        # FFmpeg 5.1 exits 0 when ENOSPC hits its last writes ("Error closing file ...: No space left
        # on device", measured here): its words decide, not only its exit code.
        no_space = says_no_space("\n".join(proc.tail))
        if rc != 0 or no_space:
            self.owner.error(f"{name}: {proc.last_error() or f'ffmpeg exited {rc}'}")
            if no_space:
                raise OutOfSpace(proc.last_error())
        return rc
