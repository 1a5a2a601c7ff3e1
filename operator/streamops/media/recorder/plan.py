"""The recorder's decisions (pure): reconnect or new video, splits, discards, names and titles,
and when the disk is too full to go on."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from streamops.api.recording import Video
from streamops.contract.recorder import ORIGIN_SUFFIX
from streamops.media.recorder.state import VideoState

SPLIT_TOLERANCE_SECONDS = 0.5  # a part this close to its `-t` ended because it was full, not dropped
# A part read again from the feed's GOP cache after its recorder or FFmpeg was killed starts at most
# a GOP before where the killed part ended (encoders send a keyframe every 1-10 s), and the feed's
# clock ran on with the wall clock in between: see part_outpoints.
MAX_REPLAY_SECONDS = 10.0
MIN_REPLAY_OFFSET_SECONDS = 1.0
# A wall-clock gap between two parts shorter than this is the measure's own noise (progress reports
# come every 0.5 s; the least of their lags is kept), not time the broadcast went on without us.
MIN_GAP_SECONDS = 0.1
JOIN_HEADROOM_BYTES = 1024 * 1024  # a join writes a copy of the parts, plus its moov and the state file
# What a part's FFmpeg still writes once the disk is found short: the fragment it holds (≤ 1 s,
# commands.FRAGMENT_US), what came since the file was looked at (a -stats_period, 0.5 s) and its stop.
# Seen at load 18: 1.2 s of a 14 Mbit/s feed, which overran a 4 MiB reserve (docs/design/recorder.md).
IN_FLIGHT_SECONDS = 2.0
NO_SPACE_MESSAGE = "no space left on the recordings volume: the video was closed"

PartOutcome = Literal["stopped", "split", "drop", "no_space"]


def after_gap(gap_seconds: float, window_seconds: float) -> Literal["continue", "new"]:
    """A source gap shorter than the reconnect window continues the video; longer starts a new one."""
    return "continue" if gap_seconds < window_seconds else "new"


def reconnect_deadline(last_data_at: datetime, window_seconds: float) -> datetime:
    return last_data_at + timedelta(seconds=window_seconds)


def part_time_limit(video_seconds: float, max_segment_seconds: float) -> float:
    """How long the next part of a video may record (its `-t`)."""
    return max(0.0, max_segment_seconds - video_seconds)


def video_is_full(video_seconds: float, max_segment_seconds: float) -> bool:
    return part_time_limit(video_seconds, max_segment_seconds) < SPLIT_TOLERANCE_SECONDS


def part_outcome(part_seconds: float, time_limit: float, stop_requested: bool, no_space: bool = False) -> PartOutcome:
    """Why a part ended. FFmpeg exits 0 on input EOF too, so only a part that reached its time
    limit is a split; anything else that was not our stop or a full disk is a source drop."""
    if stop_requested:
        return "stopped"
    if no_space:
        return "no_space"
    if part_seconds >= time_limit - SPLIT_TOLERANCE_SECONDS:
        return "split"
    return "drop"


def discard_reason(duration_seconds: float, min_duration_seconds: float) -> str | None:
    if duration_seconds < min_duration_seconds:
        return f"recorded {duration_seconds:.1f} s, shorter than minDurationSeconds ({min_duration_seconds:g} s)"
    return None


def video_title(stream_title: str, ended_at: datetime) -> str:
    """The hosted API's pattern: Stream Record: {title}, {recording end time UTC}."""
    return f"Stream Record: {stream_title}, {ended_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def video_name(started_at: datetime, taken: Iterable[str]) -> str:
    """A file name stem for a video starting at `started_at`, unique among `taken`."""
    stem = f"record-{started_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    used = set(taken)
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}-{n}"
    return name


def origin_name(video: str) -> str:
    """The file name stem of a video's original (keepOrigin). Never a video's own: those end in the
    start time or `-<n>`; never a rendition's: those are `<video>.<rendition>.mp4`."""
    return f"{video}{ORIGIN_SUFFIX}"


def part_name(video: str, existing: Sequence[str]) -> str:
    """The next part's file name: numbered after the highest existing one (removed parts leave gaps)."""
    numbers = [int(p.rsplit(".", 2)[-2]) for p in existing if p.rsplit(".", 2)[-2].isdigit()]
    return f"{video}.{max(numbers, default=0) + 1:03d}.mp4"


@dataclass(frozen=True)
class PartTimeline:
    """Where a part lies on the feed's clock and on the wall clock."""

    source_start: float | None  # the feed timestamp of its time zero (None: not known)
    seconds: float
    closed: bool  # its FFmpeg ended by itself or on SIGTERM: the feed's session ended, or we stopped
    read_at: float | None = None  # wall clock (epoch s) when its FFmpeg read that first timestamp
    wall_start: float | None = None  # wall clock (epoch s) where its time zero was live (PartState.wall_start)


def part_outpoints(parts: Sequence[PartTimeline]) -> list[float | None]:
    """Where each part of a video must end so that no second of the feed is in it twice.

    A recorder or FFmpeg killed while the publisher went on reads the feed again from its GOP cache
    when it starts again: the new part begins up to a GOP before the killed one ended. That part is
    cut where the new one begins (None: kept whole). A replay is told from a new publisher session,
    whose timestamps may fall anywhere, by all of: the part before was killed (not closed: a session
    that ends closes its part); the new part begins inside it, at least `MIN_REPLAY_OFFSET_SECONDS`
    after its start and at most `MAX_REPLAY_SECONDS` before its end; and between the two starts the
    feed's clock moved as the wall clock did, give or take a GOP."""
    cuts: list[float | None] = [None] * len(parts)
    for k in range(len(parts) - 1):
        part, after = parts[k], parts[k + 1]
        if part.closed or part.source_start is None or after.source_start is None:
            continue
        if part.read_at is None or after.read_at is None:
            continue
        offset = after.source_start - part.source_start
        drift = offset - (after.read_at - part.read_at)
        overlap = part.seconds - offset
        inside = offset >= MIN_REPLAY_OFFSET_SECONDS and 0 < overlap <= MAX_REPLAY_SECONDS
        if inside and abs(drift) <= MAX_REPLAY_SECONDS:
            cuts[k] = round(offset, 6)
    return cuts


def live_start(known: float | None, now: float, written_seconds: float) -> float:
    """Where a part's time zero was live on the wall clock (epoch s), from a progress report at `now`
    that says `written_seconds` of media are written: the report that lags least says it best (the
    GOP cache's burst and a live frame say the same; a late report says it later)."""
    seen = round(now - written_seconds, 3)
    return seen if known is None else min(known, seen)


@dataclass(frozen=True)
class JoinCuts:
    """How the parts of one video are joined: where each is cut (part_outpoints), and how long each
    spans before the next one starts (its seconds and the gap after it: part_gaps; None: its own)."""

    outpoints: list[float | None]
    spans: list[float | None]


def part_gaps(parts: Sequence[PartTimeline], outpoints: Sequence[float | None]) -> list[float]:
    """How long the broadcast went on, by the wall clock, between the end of each part and the start
    of the next (0: none, or not known): a reconnect's gap (the publisher's, an ingest's handover),
    which the video keeps as a freeze of that length so that its timeline is the broadcast's.

    Each part's start is where its time zero was live on the wall clock (`wall_start`), its end that
    plus its seconds; both carry the same delivery delay, which cancels. A part cut at an outpoint
    (its successor replays it) has no gap after it; nor has the last."""
    gaps = [0.0] * len(parts)
    for k in range(len(parts) - 1):
        part, after = parts[k], parts[k + 1]
        if (k < len(outpoints) and outpoints[k] is not None) or part.wall_start is None or after.wall_start is None:
            continue
        gap = after.wall_start - (part.wall_start + part.seconds)
        if gap >= MIN_GAP_SECONDS:
            gaps[k] = round(gap, 6)
    return gaps


# A frame rate outside this is no frame grid to keep (a time base taken for a rate, a still image).
MIN_GRID_FPS, MAX_GRID_FPS = 1.0, 240.0


@dataclass(frozen=True)
class FrameGrid:
    """A part's video frames on the part's own clock (seconds from its start, where the concat
    demuxer places it): the frame interval, its first and last frames, and a frame on its grid."""

    frame: float  # 1 / its frame rate
    first: float
    on_grid: float  # its second frame: FFmpeg's fragmented MP4 moves the first back to the part's start
    last: float


def frame_grid(probe: dict[str, Any]) -> FrameGrid | None:
    """The FrameGrid of an ffprobe JSON answer (`format=start_time`, the first video stream's
    `r_frame_rate`, its packets' `pts_time`: the part's first three, then its last seconds'); None
    without two frames or a frame rate."""
    streams = probe.get("streams") or []
    packets = [float(p["pts_time"]) for p in probe.get("packets") or [] if _is_number(p.get("pts_time"))]
    rate = str(streams[0].get("r_frame_rate", "")) if streams else ""
    num, _, den = rate.partition("/")
    if len(packets) < 2 or not (num.isdigit() and den.isdigit() and int(den)):
        return None
    fps = int(num) / int(den)
    if not MIN_GRID_FPS <= fps <= MAX_GRID_FPS:
        return None
    fmt = probe.get("format") or {}
    start = float(fmt["start_time"]) if _is_number(fmt.get("start_time")) else 0.0
    head, tail = packets[:3], packets[3:] or packets
    return FrameGrid(1 / fps, min(head) - start, packets[1] - start, max(tail) - start)


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def grid_spans(
    wanted: Sequence[float], grids: Sequence[FrameGrid | None], seconds: Sequence[float]
) -> list[float | None]:
    """How long each part spans before the next starts (None: as `wanted` says, the last part's
    too), so that the next part's video goes on the frame grid of the one before.

    `wanted` is where the next part would start (a part's seconds, and a reconnect's gap after it).
    Its video's frames sit anywhere within a frame of that: half a frame off the grid (a chance of
    ≈3 in 100 at each join of an RTMP feed, whose millisecond timestamps are 33 and 34 ms apart at
    30 fps), two frames fall on one tick of a 1/fps time base, and FFmpeg decoding the video says
    "non monotonically increasing dts" (tests/media/test_ingest_robustness.py's encoder restart).
    The start moves to the nearest whole number of frames from a frame of the part before, never
    before the part's own end (its audio would overlap) nor onto its last frame."""
    spans: list[float | None] = [None] * len(wanted)
    for k in range(len(wanted) - 1):
        part, after = grids[k], grids[k + 1]
        if part is None or after is None or abs(part.frame - after.frame) > 1e-6:
            continue  # no video, or another frame rate: no grid to go on
        offset = part.on_grid - after.on_grid  # a span of `offset` puts the two reference frames together
        span = offset + round((wanted[k] - offset) / part.frame) * part.frame
        while span < seconds[k] or span + after.first < part.last + part.frame / 2:
            span += part.frame
        spans[k] = round(span, 6)
    return spans


def concat_list(
    part_files: Sequence[str], outpoints: Sequence[float | None] = (), spans: Sequence[float | None] = ()
) -> str:
    """An ffconcat script for part files in the script's own directory (safe names only), each cut
    at its outpoint when it has one, and given a `duration` when it has a span: the next part then
    starts that long after this one's start (a part's seconds and the gap after it: a freeze)."""
    lines = ["ffconcat version 1.0"]
    for n, f in enumerate(part_files):
        if not f or f.startswith(".") or not all(c.isalnum() or c in "._-" for c in f):
            raise ValueError(f"unsafe part file name {f!r}")
        lines.append(f"file '{f}'")
        if n < len(outpoints) and (cut := outpoints[n]) is not None:
            lines.append(f"outpoint {cut:.6f}")
        elif n < len(spans) and (span := spans[n]) is not None:
            lines.append(f"duration {span:.6f}")
    return "\n".join(lines) + "\n"


def recorded_seconds(videos: Sequence[Video], open_videos: Sequence[VideoState]) -> float:
    """Seconds recorded so far: finished videos, and the parts of videos in progress or being finalised."""
    done = sum(v.duration_seconds for v in videos)
    pending = sum(p.seconds for v in open_videos for p in v.parts)
    return round(done + pending, 3)


# --- disk space ---


def space_short(free_bytes: int, unjoined_bytes: int, min_free_bytes: int, bytes_per_second: float = 0.0) -> bool:
    """Must the open video be closed now? Finalising copies the parts of every video not joined yet
    (`unjoined_bytes`), and `min_free_bytes` stay free beyond that. What the part's FFmpeg writes after
    this answer, at `bytes_per_second` (IN_FLIGHT_SECONDS), counts twice: it grows the part the join
    copies and takes the room the copy needs."""
    in_flight = 2 * int(bytes_per_second * IN_FLIGHT_SECONDS)
    return free_bytes < unjoined_bytes + in_flight + min_free_bytes


def room_to_record(free_bytes: int, unjoined_bytes: int, min_free_bytes: int, last_full_bytes: int) -> bool:
    """May a new video start? Room for the joins still to do, the reserve, and to record and join a
    video ¾ the size of the last one the disk stopped (at least another reserve's worth). A video
    stopped for lack of space was about half of what was free when it began, so on a disk that
    stays full (the joined video now takes that space) recording waits, instead of making ever
    shorter videos; once the video is uploaded or deleted, the room is back."""
    wanted = max(min_free_bytes, last_full_bytes * 3 // 2)
    return free_bytes >= unjoined_bytes + min_free_bytes + wanted


def room_to_join(free_bytes: int, parts_bytes: int) -> bool:
    """Can a video whose join failed for lack of space be joined now?"""
    return free_bytes >= parts_bytes + JOIN_HEADROOM_BYTES


def says_no_space(error: str) -> bool:
    """FFmpeg's (and the OS's) words for ENOSPC."""
    return "No space left on device" in error


def stored_bytes(videos: Sequence[Video], part_bytes: int) -> int:
    """What the recording holds: its videos (local or uploaded, not expired) and the parts on disk."""
    return sum(v.stored_size() for v in videos if v.expired_at is None) + part_bytes
